"""The consistency map: does the model agree with itself on two noisy views of one scene?

Two diagonal sub-samplings of an image (the same scene, independent noise) are denoised and
their local disagreement is divided by the noise of the raw views: 0 means the outputs agree,
1 that they differ as much as the noisy views do. The method: docs/domain-check.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from zoo.errors import ImageError

__all__ = ["Consistency", "consistency"]

MIN_VIEW = 16
"""Smallest side, in pixels, of a sub-sampled view."""


@dataclass(frozen=True)
class Consistency:
    """The consistency map of one 2D plane and its summary score."""

    map: np.ndarray
    """Local disagreement / (σ√2), float32, the plane's shape."""
    score: float
    """RMS disagreement over the whole plane / (σ√2)."""
    noise_sigma: float
    """The noise standard deviation σ of the sub-sampled views, in grey values."""

    def to_dict(self) -> dict[str, float]:
        return {
            "score": round(self.score, 4),
            "noise_sigma": round(self.noise_sigma, 6),
            "map_p95": round(float(np.percentile(self.map, 95)), 4),
        }


def consistency(denoise, plane: np.ndarray, *, window: int = 8) -> Consistency:  # type: ignore[no-untyped-def]
    """The consistency map of ``plane`` (2D, YX) under ``denoise`` (2D array → 2D array)."""
    from zoo.fingerprint import image_statistics

    plane = np.asarray(plane, dtype=np.float32)
    if plane.ndim != 2:
        raise ImageError(f"the consistency map needs a 2D plane, got shape {plane.shape}")
    h, w = (plane.shape[0] // 2) * 2, (plane.shape[1] // 2) * 2
    if min(h, w) // 2 < MIN_VIEW:
        raise ImageError(
            f"the consistency map needs an image of at least {2 * MIN_VIEW} × {2 * MIN_VIEW} "
            f"pixels, got {plane.shape[0]} × {plane.shape[1]}"
        )
    a, b = plane[0:h:2, 0:w:2], plane[1:h:2, 1:w:2]
    sigma = float(
        np.sqrt(
            (
                image_statistics(a)["noise_sigma"].value ** 2
                + image_statistics(b)["noise_sigma"].value ** 2
            )
            / 2
        )
    )
    if sigma <= 0:
        raise ImageError("the image has no measurable noise: the consistency map is undefined")
    d = np.asarray(denoise(a), np.float64) - np.asarray(denoise(b), np.float64)
    scale = sigma * np.sqrt(2.0)
    local = np.sqrt(ndimage.uniform_filter(d * d, size=window, mode="reflect")) / scale
    full = np.repeat(np.repeat(local, 2, axis=0), 2, axis=1)
    full = np.pad(full, ((0, plane.shape[0] - h), (0, plane.shape[1] - w)), mode="edge")
    score = float(np.sqrt(np.mean(d * d)) / scale)
    return Consistency(full.astype(np.float32), score, sigma)
