"""Blind-spot masking for Noise2Void and its variants (numpy, one patch at a time).

N2V learns to predict a pixel from its surroundings only: a few pixels per patch are
*masked* (their input value replaced), and the loss compares the prediction at those pixels
with their original noisy value. Since pixel-independent noise cannot be predicted from the
neighbours, the network learns the signal.

* **N2V** (Krull et al. 2019): each masked pixel takes the value of a uniformly drawn
  neighbour in its ``(2r+1)²`` window, never its own.
* **N2V2** (Höck et al. 2022): the median of the window without the centre, which removes
  the checkerboard artefacts of uniform replacement (the network side, blur pooling and no
  top skip connection, is ``n2v2=True`` of the CAREamics UNet).
* **StructN2V** (Broaddus et al. 2020): noise correlated along one axis (scan lines, camera
  read-out) leaks the centre's noise into its neighbours on that axis; those neighbours are
  overwritten with random values too, and are never the source of the centre's replacement.

Masked pixels are drawn on a jittered grid (one per cell) and kept more than ``r`` (and
the struct half-span) apart, so that no masked pixel ever sees another masked pixel's
original value in its input: the blind spot is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from zoo.errors import ImageError, TrainConfigError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["Masking", "mask_positions", "masked_mse", "struct_mask_rows"]

Strategy = Literal["uniform", "median"]
Axis = Literal["x", "y"]


@dataclass(frozen=True)
class Masking:
    """How to mask a patch: which pixels, what replaces them, which neighbours are hidden."""

    fraction: float = 0.015
    """Fraction of pixels masked per patch (N2V's paper uses 64 of 64 × 64 ≈ 1.6 %)."""
    radius: int = 2
    """Neighbourhood radius r: replacements come from the (2r+1)² window around a pixel."""
    strategy: Strategy = "uniform"
    """"uniform" (N2V) or "median" (N2V2)."""
    struct_axis: Axis | None = None
    """StructN2V: the axis along which the noise is correlated (None = plain N2V)."""
    struct_span: int = 5
    """StructN2V: length (odd) of the line of pixels hidden around each masked pixel."""

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 0.25:
            raise TrainConfigError(f"masked fraction must be in (0, 0.25), got {self.fraction}")
        if self.radius < 1:
            raise TrainConfigError(f"neighbourhood radius must be >= 1, got {self.radius}")
        if self.strategy not in ("uniform", "median"):
            raise TrainConfigError(f"strategy must be 'uniform' or 'median', got {self.strategy!r}")
        if self.struct_axis not in (None, "x", "y"):
            raise TrainConfigError(
                f"struct_axis must be 'x', 'y' or None, got {self.struct_axis!r}"
            )
        if self.struct_span < 3 or self.struct_span % 2 == 0:
            raise TrainConfigError(f"struct_span must be odd and >= 3, got {self.struct_span}")

    @property
    def half_span(self) -> int:
        """Pixels hidden on each side of the centre along the struct axis (0 for N2V)."""
        return self.struct_span // 2 if self.struct_axis else 0

    @property
    def min_distance(self) -> int:
        """Smallest Chebyshev distance between two masked pixels."""
        return max(self.radius, self.half_span) + 1

    def apply(self, patch: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Mask one 2D patch: ``(input for the network, boolean mask of the blind spots)``.

        The loss is computed at the blind spots against the *original* ``patch``.
        """
        patch = np.asarray(patch, dtype=np.float32)
        if patch.ndim != 2:
            raise ImageError(f"expected a 2D patch, got shape {patch.shape}")
        mask = mask_positions(patch.shape, self.fraction, self.min_distance, rng)
        ys, xs = np.nonzero(mask)
        out = patch.copy()
        offsets = _window_offsets(self.radius, self.struct_axis, self.half_span)
        ny, nx = ys[:, None] + offsets[None, :, 0], xs[:, None] + offsets[None, :, 1]
        valid = (ny >= 0) & (ny < patch.shape[0]) & (nx >= 0) & (nx < patch.shape[1])
        values = patch[np.clip(ny, 0, patch.shape[0] - 1), np.clip(nx, 0, patch.shape[1] - 1)]
        if self.strategy == "uniform":
            scores = np.where(valid, rng.random(valid.shape), -1.0)
            out[ys, xs] = values[np.arange(len(ys)), scores.argmax(axis=1)]
        else:
            out[ys, xs] = np.nanmedian(np.where(valid, values, np.nan), axis=1)
        if self.struct_axis:
            _hide_struct_lines(out, patch, ys, xs, self.struct_axis, self.half_span, rng)
        return out, mask


def mask_positions(
    shape: tuple[int, int], fraction: float, min_distance: int, rng: np.random.Generator
) -> np.ndarray:
    """A boolean mask with about ``fraction`` of the pixels set, pairwise ≥ ``min_distance``.

    One pixel per cell of a grid of side ``max(1/sqrt(fraction), 2 · min_distance)``, at a
    random place in the first ``side − min_distance + 1`` rows and columns of its cell, so that
    pixels in neighbouring cells are at least ``min_distance`` apart (Chebyshev).
    """
    side = max(round(1 / np.sqrt(fraction)), 2 * min_distance)
    free = side - min_distance + 1
    gy, gx = np.meshgrid(np.arange(0, shape[0], side), np.arange(0, shape[1], side), indexing="ij")
    ys = gy + rng.integers(0, free, gy.shape)
    xs = gx + rng.integers(0, free, gx.shape)
    inside = (ys < shape[0]) & (xs < shape[1])
    mask = np.zeros(shape, dtype=bool)
    mask[ys[inside], xs[inside]] = True
    return mask


def struct_mask_rows(axis: Axis, span: int) -> list[list[int]]:
    """The StructN2V mask as the card records it (``noise.structn2v_mask``): rows of 0/1."""
    line = [1] * span
    return [line] if axis == "x" else [[1] for _ in line]


def masked_mse(prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the masked pixels only (torch tensors, any shape)."""
    weight = mask.to(prediction.dtype)
    return ((prediction - target) ** 2 * weight).sum() / weight.sum().clamp(min=1)


def _window_offsets(radius: int, struct_axis: Axis | None, half_span: int) -> np.ndarray:
    """(dy, dx) of the allowed replacement sources: the window without the centre and,
    for StructN2V, without the hidden line."""
    r = np.arange(-radius, radius + 1)
    dy, dx = (a.ravel() for a in np.meshgrid(r, r, indexing="ij"))
    keep = (dy != 0) | (dx != 0)
    if struct_axis == "x":
        keep &= ~((dy == 0) & (np.abs(dx) <= half_span))
    elif struct_axis == "y":
        keep &= ~((dx == 0) & (np.abs(dy) <= half_span))
    return np.stack([dy[keep], dx[keep]], axis=1)


def _hide_struct_lines(
    out: np.ndarray,
    patch: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    axis: Axis,
    half_span: int,
    rng: np.random.Generator,
) -> None:
    """Overwrite the pixels on the struct line around each masked pixel with random values
    drawn uniformly from the patch's range (as StructN2V does)."""
    steps = np.array([d for d in range(-half_span, half_span + 1) if d != 0])
    if axis == "x":
        ly, lx = np.repeat(ys, len(steps)), (xs[:, None] + steps).ravel()
    else:
        ly, lx = (ys[:, None] + steps).ravel(), np.repeat(xs, len(steps))
    inside = (ly >= 0) & (ly < out.shape[0]) & (lx >= 0) & (lx < out.shape[1])
    ly, lx = ly[inside], lx[inside]
    out[ly, lx] = rng.uniform(patch.min(), patch.max(), size=len(ly)).astype(out.dtype)
