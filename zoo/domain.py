"""The domain check: does this image match the data the model was trained on? With numbers.

Three kinds of check (:mod:`zoo.checks`), each reported as ok / warn / fail with the measured
value, the expected range and a sentence a biologist understands: hard compatibility
(dimensionality, channels, minimum size) fails; metadata (modality, pixel size, microscope,
data type) warns; statistics of the image against the training fingerprint warn or fail by
the model's thresholds (:mod:`zoo.thresholds`). A package without a fingerprint is compared
against a fingerprint of its own test input. The statistics, the thresholds and their
calibration are described in docs/domain-check.md.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from zoo.checks import (
    CHECK_TILES,
    Check,
    check_compatibility,
    check_metadata,
    check_polarity,
    check_statistics,
    image_polarity,
    plane_statistics,
    representative_plane,
)
from zoo.families import Polarity
from zoo.imageio import Image
from zoo.learned import learned_check

if TYPE_CHECKING:
    from zoo.trial import Trial
from zoo.package import Package
from zoo.spec import Fingerprint, Stat
from zoo.thresholds import (
    CALIBRATION,
    DEFAULT_THRESHOLDS,
    RATIO_KINDS,
    THRESHOLDS,
    Thresholds,
    thresholds_for,
)

__all__ = [
    "CALIBRATION",
    "CHECK_TILES",
    "DEFAULT_THRESHOLDS",
    "LEARNED_MEANING",
    "RATIO_KINDS",
    "SCORE_MEANING",
    "THRESHOLDS",
    "Check",
    "DomainReport",
    "Thresholds",
    "check_image",
    "format_expected",
    "format_value",
    "model_fingerprint",
    "plane_statistics",
    "representative_plane",
    "summarise",
    "thresholds_for",
]

Verdict = Literal["match", "caution", "mismatch"]

SCORE_MEANING = (
    "lower is better: 0 = every check inside the training data's range; each check adds its "
    "distance (1 at its warning threshold, 2 at its failing one) as a root-sum-square, so "
    "below 1 nothing warns; 10 or more = the model cannot take the image"
)
"""What a :attr:`DomainReport.score` means, for people (printed beside it)."""

LEARNED_MEANING = (
    "lower is better: how strongly the image's departures from the training data, weighed by "
    "a rule fitted on the zoo's benchmark (docs/domain-check.md), predict that the model does "
    "worse here than a Gaussian filter or another zoo model; caution from 1, mismatch from 2; "
    "it decides the verdict"
)
"""What a :attr:`DomainReport.learned` score means, for people."""


class DomainReport(BaseModel):
    """The verdict on one image for one model."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    """``mismatch`` when any check fails, ``caution`` when any warns, else ``match``."""
    score: float
    """Root-sum-square of the checks' distances: 0 is typical of the training data."""
    checks: list[Check]
    """Every check, in the order they ran."""
    reference: str
    """What the statistics were compared with: the card's fingerprint or the test input."""
    notes: list[str] = Field(default_factory=list)
    """What the reader should know about the comparison (e.g. a weaker reference)."""
    learned: float | None = None
    """The learned score (:mod:`zoo.learned`): 1 at its caution cut, 2 at its mismatch cut;
    None when not computed."""

    def failed(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if c.status == "fail"]

    def incompatible(self) -> list[Check]:
        """The failed compatibility checks: the model cannot take the image at all (not even
        forced)."""
        return [c for c in self.failed() if c.kind == "compatibility"]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (score rounded to 4 decimals)."""
        return {
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "reference": self.reference,
            "notes": self.notes,
            "learned": self.learned,
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON (numpy scalars as Python numbers)."""
        return json.dumps(self.to_dict(), indent=2, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def model_fingerprint(package: Package) -> tuple[Fingerprint, str]:
    """The package's fingerprint, or one computed from its test input, and which it is."""
    from zoo.fingerprint import fingerprint

    if package.card is not None and package.card.fingerprint is not None:
        return package.card.fingerprint, "card fingerprint (training data)"
    raw = package.descr.inputs[0].test_tensor.get_reader().read()
    x = np.load(io.BytesIO(raw), allow_pickle=False)
    from zoo.inference import tensor_axes

    axes = tensor_axes(package.descr.inputs[0]).replace("b", "t")
    plane = representative_plane(Image(x, axes))
    return fingerprint([plane]), "package test input (the card has no fingerprint)"


def check_image(
    package: Package,
    image: Image,
    *,
    modality: str | None = None,
    thresholds: Thresholds | None = None,
    statistics: Mapping[str, Stat] | None = None,
    polarity: Polarity | None = None,
    learned: bool = True,
) -> DomainReport:
    """Check ``image`` against ``package``'s domain, before any inference.

    ``thresholds`` replaces :func:`thresholds_for` the package (statistics missing from it
    are not checked); ``statistics`` and ``polarity`` are the image's
    :func:`plane_statistics` and :func:`image_polarity` when already known (``zoo match`` and
    the domain benchmark check one image against many models). With ``learned`` (and
    zoo/learned.json present) the learned score (:mod:`zoo.learned`) decides the verdict:
    the other checks keep their measurements, and their warnings stand only when it warns.
    """
    thresholds = thresholds_for(package) if thresholds is None else thresholds
    checks = check_compatibility(package, image)
    notes = []
    score_check = None
    if any(c.status == "fail" for c in checks):
        reference = "not compared (incompatible image)"
    else:
        known = modality or getattr(image, "modality", None)
        checks += check_metadata(package, image, known)
        if not known:
            value = image_polarity(image) if polarity is None else polarity
            checks += check_polarity(package, value)
        fixed = list(checks)
        statistics = _measured(image) if statistics is None else statistics
        fp, reference = model_fingerprint(package)
        stats = check_statistics(package, image, fp, thresholds, statistics)
        closest = _closest_source(package, image, thresholds, statistics)
        if closest is not None:
            stats, reference = closest
        checks += stats
        if learned:
            departures = [c.name for c in checks if c.status in ("warn", "fail")]
            score_check = learned_check(package, image, fp, fixed, statistics, departures)
        if package.card is None:
            notes.append(
                "The package has no zoo card (a plain bioimage.io package): modality, pixel "
                "size and data type were not compared; `zoo card init` writes one to fill in."
            )
        if package.card is None or package.card.fingerprint is None:
            notes.append(
                "No training fingerprint in the card: statistics are compared with the "
                "package's test input, a weaker reference."
            )
    if score_check is not None:
        checks = [*_bounded(checks, score_check.status), score_check]
    verdict, score = summarise(checks)
    return DomainReport(
        verdict=verdict, score=score, checks=checks, reference=reference, notes=notes,
        learned=None if score_check is None else score_check.measured,
    )  # fmt: skip


def _measured(image: Image) -> Mapping[str, Stat] | None:
    """The image's :func:`plane_statistics`, once for every check; None when they cannot be
    computed (the statistics check then says why)."""
    from zoo.errors import ImageError

    try:
        return plane_statistics(image)
    except ImageError:
        return None


def _bounded(checks: list[Check], learned: str) -> list[Check]:
    """``checks`` with their warnings (and the statistics' failures) no stronger than the
    learned score's status: a departure the score tolerates is reported, measured, as ok.
    A failed compatibility or modality check stands whatever the score."""
    order = {"ok": 0, "warn": 1, "fail": 2}
    out = []
    for c in checks:
        fixed_fail = c.status == "fail" and c.kind != "statistics"
        if c.status in order and not fixed_fail and order[c.status] > order[learned]:
            c = c.model_copy(update={"status": learned})
        out.append(c)
    return out


def with_trial(report: DomainReport, trial: Trial) -> DomainReport:
    """``report`` with the no-reference trial (:mod:`zoo.trial`) as its last stage: a check
    that warns (verdict at least ``caution``) when the model is estimated not to beat the
    best Gaussian filter on the image and the report's learned score is at or above the
    fitted trial cut (:func:`zoo.learned.trial_warns`); a lost trial below that cut is
    reported as ok, and a won one passes. It never refuses by itself (docs/domain-loso.md
    measures why)."""
    from zoo.learned import LEARNED, trial_level, trial_warns

    gain = trial.gain_db
    size = "" if gain is None else f" ({gain:+.1f} dB)"
    cut = trial_level()
    learned = math.inf if report.learned is None else report.learned
    if trial.model_wins:
        status, message = "ok", f"Estimated to beat a Gaussian filter on this image{size}."
    else:
        lost = (f"Estimated not to beat a Gaussian filter (sigma {trial.gaussian_sigma:g} px) "
                f"on this image{size}")  # fmt: skip
        inside = not bool(trial_warns(np.array([learned]), np.array([False]), LEARNED)[0])
        status = "ok" if inside else "warn"
        message = (
            f"{lost}; the image sits well inside what the model was measured to handle "
            f"(learned score {report.learned:.3f}, below {cut:.3f}), where a lost trial was "
            "mostly the estimate's own error: not a warning."
            if inside
            else f"{lost}: a plain filter may do better; compare before trusting the output."
        )
    check = Check(
        name="trial", kind="trial", status=status,
        measured=None if gain is None else round(gain, 2), expected=[0.0, None],
        message=message, distance={"ok": 0.0, "warn": 1.0}[status],
    )  # fmt: skip
    checks = [*report.checks, check]
    verdict, score = summarise(checks)
    return report.model_copy(update={"checks": checks, "verdict": verdict, "score": score})


def _closest_source(
    package: Package,
    image: Image,
    thresholds: Thresholds,
    statistics: Mapping[str, Stat] | None,
) -> tuple[list[Check], str] | None:
    """For a model trained on several sources (the card's ``sources``), the statistics
    checks against the source the image is closest to (lowest score) and that reference;
    None for a model of one source."""
    from zoo.errors import ImageError

    sources = [s for s in (package.card.sources or []) if s.fingerprint] if package.card else []
    if not sources:
        return None
    try:
        measured = plane_statistics(image) if statistics is None else statistics
    except ImageError:
        return None  # check_statistics already says why the statistics cannot be compared
    scored = []
    for source in sources:
        assert source.fingerprint is not None
        checks = check_statistics(package, image, source.fingerprint, thresholds, measured)
        scored.append((summarise(checks)[1], source.name, checks))
    _score, name, checks = min(scored, key=lambda s: s[0])
    return checks, (
        f"card fingerprint of training source {name} (the closest of {len(sources)} sources)"
    )


def summarise(checks: list[Check]) -> tuple[Verdict, float]:
    """The verdict and score of a list of checks: ``mismatch`` when any fails, ``caution``
    when any warns, else ``match``; the score is the root-sum-square of their distances
    (at least 10 when the image is incompatible)."""
    verdict: Verdict = (
        "mismatch"
        if any(c.status == "fail" for c in checks)
        else "caution"
        if any(c.status == "warn" for c in checks)
        else "match"
    )
    score = math.sqrt(sum(c.distance**2 for c in checks))
    if any(c.status == "fail" and c.kind == "compatibility" for c in checks):
        score = max(score, 10.0)
    return verdict, score


def format_value(value: Any) -> str:
    """A measured value for people: 3 significant digits, sizes as "h × w"."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return " × ".join(format_value(v) for v in value.values())
    return "–" if value is None else str(value)


def format_expected(value: Any) -> str:
    """A range [low, high] as "low – high", "≤ high" or "≥ low"; anything else as is."""
    if isinstance(value, list) and len(value) == 2:
        low, high = value
        if low is None:
            return f"≤ {format_value(high)}"
        if high is None:
            return f"≥ {format_value(low)}"
        return f"{format_value(low)} – {format_value(high)}"
    return format_value(value)
