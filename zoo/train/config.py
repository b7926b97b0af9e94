"""A training run's settings: :class:`TrainConfig` (recorded in the card's method
hyper-parameters)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from zoo.errors import TrainConfigError
from zoo.train.masking import Masking

__all__ = ["METHODS", "MethodName", "TrainConfig"]

METHODS = ("n2v", "n2v2", "structn2v", "care")
MethodName = Literal["n2v", "n2v2", "structn2v", "care"]


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (recorded in the card's method hyper-parameters).

    Settings that are invalid or contradict each other raise
    :class:`~zoo.errors.TrainConfigError` (a ``ValueError``)."""

    method: MethodName
    """n2v, n2v2, structn2v (self-supervised, noisy images only) or care (noisy/clean pairs)."""
    steps: int = 2000
    """Optimiser steps (batches)."""
    batch_size: int = 16
    """Patches per batch."""
    patch_size: int = 64
    """Side of the square training patches (a multiple of 2 ** depth)."""
    learning_rate: float = 4e-4
    """Initial Adam learning rate (cosine decay to 1 % of it)."""
    masked_fraction: float = 0.015
    """N2V: fraction of pixels masked per patch."""
    neighbourhood_radius: int = 2
    """N2V: replacement window radius (5 × 5 for 2)."""
    struct_axis: Literal["x", "y"] | None = None
    """StructN2V: axis of the correlated noise (x = along rows, e.g. scan lines)."""
    struct_span: int = 5
    """StructN2V: length of the hidden line (odd)."""
    depth: int = 2
    """UNet depth."""
    filters: int = 32
    """UNet filters at the top level."""
    batch_norm: bool = True
    """Batch normalisation in the UNet's blocks."""
    residual: bool = False
    """CARE: add the input to the network's output. Off by default (docs/models.md says why)."""
    val_fraction: float = 0.1
    """Bottom fraction of each image's rows held out for validation."""
    val_patches: int = 64
    """Number of fixed validation patches."""
    val_every: int = 100
    """Evaluate (and maybe keep a checkpoint) every this many steps."""
    normalisation: Literal["dataset", "percentile"] = "dataset"
    """dataset: the training images' mean and std, fixed in the package; percentile: each
    image by its own ``percentiles`` (bioimage.io ``scale_range``, computed once per image),
    and the output mapped back to the input's units (the card's ``output_units: input``), so
    the package takes any offset, gain or bit depth of the same signal."""
    percentiles: tuple[float, float] = (1.0, 99.8)
    """Low and high percentile of ``normalisation="percentile"``."""
    augment: bool = True
    """Random flips and 90° rotations (StructN2V: flips only, the noise axis stays)."""
    seed: int = 0
    """Seed of every random choice (patches, masks, weight init)."""
    threads: int = 2
    """torch intra-op threads (results are reproducible for a fixed thread count)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise TrainConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method == "structn2v" and self.struct_axis is None:
            raise TrainConfigError("structn2v needs struct_axis ('x' or 'y'): the noise's axis")
        if self.residual and self.method != "care":
            raise TrainConfigError(
                "residual is a CARE setting: a blind-spot network must not see its input pixel"
            )
        if self.normalisation not in ("dataset", "percentile"):
            raise TrainConfigError(
                f"normalisation must be 'dataset' or 'percentile', got {self.normalisation!r}"
            )
        lo, hi = self.percentiles
        if not 0 <= lo < hi <= 100:
            raise TrainConfigError(f"percentiles must be 0 <= low < high <= 100, got {lo}, {hi}")
        if self.method != "structn2v" and self.struct_axis is not None:
            raise TrainConfigError(f"struct_axis is a StructN2V setting; method is {self.method}")
        if self.patch_size % 2**self.depth or self.patch_size < 2 ** (self.depth + 1):
            raise TrainConfigError(
                f"patch_size {self.patch_size} must be a multiple of 2 ** depth = "
                f"{2**self.depth} and at least twice that"
            )
        for name in ("steps", "batch_size", "val_patches", "val_every", "threads", "filters"):
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def self_supervised(self) -> bool:
        """True for the N2V family (no targets)."""
        return self.method != "care"

    def masking(self) -> Masking:
        """The blind-spot masking of this N2V variant."""
        return Masking(
            fraction=self.masked_fraction,
            radius=self.neighbourhood_radius,
            strategy="median" if self.method == "n2v2" else "uniform",
            struct_axis=self.struct_axis,
            struct_span=self.struct_span,
        )

    def preprocessing(self) -> list[dict[str, Any]]:
        """The per-image normalisation as bioimage.io steps (``normalisation="percentile"``)."""
        from zoo.export.importers import percentile_processing

        return percentile_processing(*self.percentiles)

    def arch_kwargs(self) -> dict[str, Any]:
        """Constructor keyword arguments of the CAREamics UNet for this run."""
        return {
            "conv_dims": 2,
            "num_classes": 1,
            "in_channels": 1,
            "depth": self.depth,
            "num_channels_init": self.filters,
            "use_batch_norm": self.batch_norm,
            "residual": self.residual and self.method == "care",
            "final_activation": "None",
            "n2v2": self.method == "n2v2",
            "independent_channels": True,
        }

    def hyperparameters(self) -> dict[str, Any]:
        """The settings that matter to a reader of the card (no None values)."""
        skip = {"threads"} | ({"percentiles"} if self.normalisation == "dataset" else set())
        keep = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(self).items()
            if v is not None and k not in skip
        }
        if self.self_supervised:
            return keep
        return {k: v for k, v in keep.items() if not k.startswith(("masked", "neighbourhood"))}
