"""The runner's rule on a check, shared by ``zoo run``, its Dask path and ``zoo report``:
an image the model cannot take is refused even when forced, a ``mismatch`` unless forced
(nothing is written either way), and a refused mismatch ends with the next step. With the
no-reference trial asked for, its result is the check's last stage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from zoo.domain import DomainReport, check_image, with_trial
from zoo.errors import DomainMismatchError, IncompatibleImageError
from zoo.imageio import Image

if TYPE_CHECKING:
    from zoo.package import Package
    from zoo.trial import Trial


class ModelRef(Protocol):
    """What the rule needs of a model (:class:`zoo.runner.ModelRef` has it)."""

    package: Package
    id: str
    version: str


__all__ = ["check_or_refuse", "refuse"]


def check_or_refuse(
    model: ModelRef,
    image: Image,
    in_path: Path,
    *,
    modality: str | None,
    force: bool,
    channel: int | None = None,
    trial: Callable[[], Trial] | None = None,
) -> DomainReport:
    """The domain check (with ``trial``'s result as its last stage when given and the image
    is compatible), then :func:`refuse`'s rule; a refused mismatch says the next step."""
    from zoo.nextstep import refusal_hint

    report = check_image(model.package, image, modality=modality)
    if trial is not None and not report.incompatible():
        report = with_trial(report, trial())
    hint = refusal_hint(report, f"{model.id}@{model.version}", in_path, image, channel, force)
    refuse(report, model, in_path, force=force, hint=hint)
    return report


def refuse(
    report: DomainReport, model: ModelRef, in_path: Path, *, force: bool, hint: str = ""
) -> None:
    """The runner's rule on a check (``zoo run`` and ``zoo report`` alike): raise
    :class:`IncompatibleImageError` when the model cannot take the image (channels,
    dimensionality, size), whatever ``force``; :class:`DomainMismatchError` on any other
    mismatch unless ``force``."""
    what = f"{in_path} does not match {model.id}@{model.version}"
    incompatible = report.incompatible()
    if incompatible:
        reasons = "; ".join(f"{c.name}: {c.message}" for c in incompatible)
        raise IncompatibleImageError(
            f"{what} and cannot run, not even with --force ({reasons}); nothing was written."
        )
    if report.verdict == "mismatch" and not force:
        reasons = "; ".join(f"{c.name}: {c.message}" for c in report.failed())
        raise DomainMismatchError(
            f"{what} ({reasons}); nothing was written. Use --force to run anyway (the "
            f"mismatch is recorded in the provenance).{hint}"
        )
