"""Training data: normalisation, target alignment, validation split and patch sampling.

Images are 2D (YX) arrays of any real dtype; everything here is numpy and seeded by the
``numpy.random.Generator`` it is given, so a training run is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zoo.errors import ImageError, TrainConfigError

__all__ = [
    "PatchSampler",
    "Split",
    "align_target",
    "check_images",
    "normalisation",
    "split_rows",
]


def check_images(
    images: Sequence[np.ndarray], targets: Sequence[np.ndarray] | None, patch: int
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Images (and targets) as float32 2D arrays, or :class:`ImageError` saying what is wrong.

    Targets must match their images one to one, shape for shape.
    """
    if not images:
        raise ImageError("training needs at least one image, got none")
    out = []
    for i, image in enumerate(images):
        a = np.asarray(image)
        if a.ndim != 2:
            raise ImageError(
                f"training image {i} has shape {a.shape}: expected a 2D (YX) image; "
                "pass the planes of a stack (or the channels) as separate images"
            )
        if min(a.shape) < patch:
            raise ImageError(f"training image {i} is {a.shape}, smaller than the patch ({patch})")
        if a.dtype.kind not in "uif" or not np.all(np.isfinite(a)):
            raise ImageError(f"training image {i} is not finite real numbers ({a.dtype})")
        out.append(a.astype(np.float32))
    if targets is None:
        return out, None
    if len(targets) != len(images):
        raise ImageError(f"got {len(images)} images but {len(targets)} targets: pair them 1:1")
    aligned = []
    for i, (image, target) in enumerate(zip(out, targets, strict=True)):
        t = np.asarray(target)
        if t.shape != image.shape:
            raise ImageError(
                f"target {i} has shape {t.shape}, its image {image.shape}: pairs must be "
                "registered images of the same field"
            )
        if t.dtype.kind not in "uif" or not np.all(np.isfinite(t)):
            raise ImageError(f"target {i} is not finite real numbers ({t.dtype})")
        aligned.append(t.astype(np.float32))
    return out, aligned


def normalisation(images: Sequence[np.ndarray]) -> tuple[float, float]:
    """Mean and standard deviation over every pixel of ``images`` (float64 accumulation)."""
    total = sum(float(np.sum(a, dtype=np.float64)) for a in images)
    count = sum(a.size for a in images)
    mean = total / count
    var = sum(float(np.sum((a.astype(np.float64) - mean) ** 2)) for a in images) / count
    std = float(np.sqrt(var))
    if std == 0:
        raise ImageError("the training images are constant: nothing to learn")
    return mean, std


def align_target(
    noisy: np.ndarray, clean: np.ndarray, *, valid: np.ndarray | None = None
) -> np.ndarray:
    """``clean`` mapped linearly onto the grey values of ``noisy`` (least squares of
    ``noisy ≈ a · clean + b``).

    Noisy/clean pairs are often scaled separately (W2S rescales every image; a 5-frame
    average is a sum or a mean); the noise is in ``noisy``, so regressing it on the nearly
    noise-free ``clean`` gives an unbiased map. Pixels outside ``valid`` (e.g. saturated
    ones) are left out of the fit.
    """
    x = clean.astype(np.float64).ravel()
    y = noisy.astype(np.float64).ravel()
    if valid is not None:
        keep = np.asarray(valid, dtype=bool).ravel()
        x, y = x[keep], y[keep]
    a, b = np.polyfit(x, y, 1)
    return (a * clean.astype(np.float64) + b).astype(np.float32)


@dataclass(frozen=True)
class Split:
    """Training and validation regions of the same images (validation = bottom rows)."""

    train: list[np.ndarray]
    val: list[np.ndarray]
    train_targets: list[np.ndarray] | None
    val_targets: list[np.ndarray] | None


def split_rows(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray] | None,
    *,
    fraction: float,
    patch: int,
) -> Split:
    """Hold out the bottom ``fraction`` of rows of every image for validation.

    The validation region is at least one patch high; an image too small to give both a
    training and a validation region is used for training only. At least one image must
    give a validation region.
    """
    if not 0 < fraction < 1:
        raise TrainConfigError(f"validation fraction must be in (0, 1), got {fraction}")
    train, val, train_t, val_t = [], [], [], []
    for i, image in enumerate(images):
        rows = max(patch, round(image.shape[0] * fraction))
        if image.shape[0] - rows < patch:
            train.append(image)
            train_t.append(targets[i] if targets is not None else image)
            continue
        cut = image.shape[0] - rows
        train.append(image[:cut])
        val.append(image[cut:])
        if targets is not None:
            train_t.append(targets[i][:cut])
            val_t.append(targets[i][cut:])
    if not val:
        raise ImageError(
            f"no image is tall enough to hold out a validation region of {patch} rows "
            f"({fraction:.0%} of the rows) next to a training region of {patch} rows"
        )
    has_targets = targets is not None
    return Split(train, val, train_t if has_targets else None, val_t if has_targets else None)


class PatchSampler:
    """Random square patches from a list of images (and their targets), with augmentation.

    Each patch picks an image with probability proportional to its area, then a uniformly
    random position. ``augment="dihedral"`` applies a random rotation by a multiple of 90°
    and a random flip; ``"flips"`` only flips (keeps the x and y axes: StructN2V); ``None``
    nothing.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        targets: Sequence[np.ndarray] | None = None,
        *,
        patch: int,
        augment: str | None = "dihedral",
    ) -> None:
        if augment not in (None, "dihedral", "flips"):
            raise TrainConfigError(f"augment must be 'dihedral', 'flips' or None, got {augment!r}")
        self.images = list(images)
        self.targets = None if targets is None else list(targets)
        self.patch = patch
        self.augment = augment
        areas = np.array(
            [(a.shape[0] - patch + 1) * (a.shape[1] - patch + 1) for a in self.images], float
        )
        if np.any(areas <= 0):
            raise ImageError(f"every image must be at least {patch} × {patch} pixels")
        self.weights = areas / areas.sum()

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """``n`` patches, shape (n, patch, patch) float32, and their targets (or None)."""
        p = self.patch
        xs = np.empty((n, p, p), np.float32)
        ys = None if self.targets is None else np.empty((n, p, p), np.float32)
        for k in range(n):
            i = int(rng.choice(len(self.images), p=self.weights))
            image = self.images[i]
            y0 = int(rng.integers(0, image.shape[0] - p + 1))
            x0 = int(rng.integers(0, image.shape[1] - p + 1))
            rot = int(rng.integers(0, 4)) if self.augment == "dihedral" else 0
            flip = (
                int(rng.integers(0, 3)) if self.augment in ("dihedral", "flips") else 0
            )  # 0: none, 1: flip y, 2: flip x
            xs[k] = _augment(image[y0 : y0 + p, x0 : x0 + p], rot, flip)
            if ys is not None and self.targets is not None:
                ys[k] = _augment(self.targets[i][y0 : y0 + p, x0 : x0 + p], rot, flip)
        return xs, ys


def _augment(patch: np.ndarray, rot: int, flip: int) -> np.ndarray:
    out = np.rot90(patch, rot)
    if flip == 1:
        out = out[::-1]
    elif flip == 2:
        out = out[:, ::-1]
    return out
