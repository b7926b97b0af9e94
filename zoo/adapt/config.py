"""``zoo adapt``'s settings, its result, and how the user's images are identified."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from zoo.errors import SpecError
from zoo.nextstep import MAX_MINUTES, MINUTES_512, default_minutes

if TYPE_CHECKING:
    from zoo.runner import ModelRef
    from zoo.spec import AdaptedImage

__all__ = [
    "MAX_MINUTES",
    "MINUTES_512",
    "SELECTION",
    "AdaptConfig",
    "Adapted",
    "Loss",
    "Progress",
    "default_id",
    "default_minutes",
    "image_sha256",
    "planes_of",
]

Loss = Literal["n2v", "n2v2", "structn2v"]
Progress = Callable[[int, int, float, float | None], None]
"""Called after every step with (step, steps, training loss, last held-out estimate or None)."""

SELECTION = (
    "lowest SURE estimate of the error on the held-out rows (zoo.trial) among the "
    "checkpoints estimated better than the parent by more than z standard errors, z the "
    "one-sided 5 % bound over the run's planned evaluations (Bonferroni); the parent "
    "otherwise"
)


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of one adaptation (recorded in the card's method hyper-parameters)."""

    steps: int | None = None
    """Optimiser steps; None: as many as ``minutes`` allow."""
    minutes: float | None = None
    """Wall-clock budget when ``steps`` is None; None: :func:`default_minutes`."""
    loss: Loss | None = None
    """Blind-spot variant; None: the parent's StructN2V, else StructN2V along the axis where
    the images' noise is correlated, else the parent's N2V or N2V2, else N2V2
    (:func:`zoo.adapt.network.loss_of`)."""
    batch_size: int = 16
    patch_size: int = 64
    learning_rate: float = 1e-4
    """Adam's initial rate (cosine decay to 1 % of it): lower than training from scratch."""
    masked_fraction: float = 0.015
    val_fraction: float = 0.1
    """Bottom fraction of each image's rows held out for the stopping rule."""
    val_every: int = 100
    patience: int = 10
    """Evaluations without a new lowest held-out estimate after which the run stops."""
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 0:
            raise SpecError(f"steps must be >= 0, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise SpecError(f"minutes must be > 0, got {self.minutes}")
        if self.loss not in (None, "n2v", "n2v2", "structn2v"):
            raise SpecError(f"loss must be n2v, n2v2 or structn2v, got {self.loss!r}")
        if not 0 < self.val_fraction < 0.5:
            raise SpecError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        for name in ("batch_size", "patch_size", "val_every", "patience", "threads"):
            if getattr(self, name) < 1:
                raise SpecError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class Adapted:
    """The fine-tuned network and everything its card records."""

    parent: ModelRef
    module: Any
    architecture: Path
    callable: str
    kwargs: dict[str, Any]
    config: AdaptConfig
    loss: str
    steps: int
    """The planned steps (the budget in steps: ``--steps`` with the seed reproduces the run)."""
    best_step: int
    seconds: float
    images: list[AdaptedImage]
    fingerprint: Any
    """The images' joint fingerprint (:class:`~zoo.spec.Fingerprint`): the model's domain."""
    example: np.ndarray
    masking: Any = None
    """The blind spot trained with (:class:`zoo.train.masking.Masking`): StructN2V's axis and
    span are recorded in the card."""
    stopped_at: int | None = None
    """The step at which the stopping rule ended the run; None: it ran every planned step."""
    history: list[dict[str, float]] = field(default_factory=list)
    """One entry per evaluation: step, train_loss, heldout (SURE estimate, input units²)."""
    heldout: dict[str, float] = field(default_factory=dict)
    """Estimated error on the held-out rows: parent, adapted, gaussian (best sigma)."""

    @property
    def loss_description(self) -> str:
        """The loss trained with, and StructN2V's hidden line: ``structn2v (a line of 5 px
        along x)``."""
        axis = self.masking.struct_axis if self.masking is not None else None
        if not axis:
            return self.loss
        return f"{self.loss} (a line of {self.masking.struct_span} px along {axis})"


def image_sha256(image: np.ndarray) -> str:
    """sha256 of an image's pixels: dtype, shape and C-order bytes."""
    a = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    digest.update(a.tobytes())
    return digest.hexdigest()


def default_id(parent_id: str, images: Sequence[AdaptedImage]) -> str:
    """``<parent>-adapted-<first 8 hex of the images' hash>`` (the hash of their sha256s)."""
    joined = "".join(i.sha256 for i in images)
    return f"{parent_id}-adapted-{hashlib.sha256(joined.encode()).hexdigest()[:8]}"


def planes_of(image: Any) -> list[np.ndarray]:
    """The 2D (YX) planes of an image read by :func:`zoo.imageio.read_image` (every z, t…
    plane), or :class:`~zoo.errors.ImageError` when it still has several channels."""
    from zoo.errors import ImageError

    axes, data = image.axes, np.asarray(image.data)
    if "c" in axes and data.shape[axes.index("c")] > 1:
        raise ImageError(
            f"the image has {data.shape[axes.index('c')]} channels: zoo adapt takes one "
            "(pick it with --channel N)"
        )
    order = [i for i, a in enumerate(axes) if a not in "yx"] + [axes.index("y"), axes.index("x")]
    planes = np.transpose(data, order).reshape(
        -1, data.shape[axes.index("y")], data.shape[axes.index("x")]
    )
    return list(planes)
