"""The consistency map: does the model agree with itself on two noisy views of one scene?

An image is split into two diagonal sub-samplings, ``A = I[0::2, 0::2]`` and
``B = I[1::2, 1::2]``: the same scene (shifted by one pixel diagonally) with independent
noise when the noise is pixel-independent. Both are denoised. A denoiser that recovers the
signal returns nearly the same image twice; one that turns noise into structure — invents
it — returns two different images, because the noise it was fed differs.

The disagreement ``D = f(A) − f(B)`` is compared with the noise of the raw views:
``A − B`` has noise standard deviation ``σ√2`` (σ the pixel noise, Immerkær's estimate on
``A`` and ``B``). The map is the local RMS of ``D`` (a ``window`` × ``window`` box) divided
by ``σ√2``, upsampled back to the image's size; the score is the same ratio over the
whole image. 0 means the two outputs agree exactly; 1 means they differ as much as the raw
noisy views do, i.e. the model removed none of the noise or replaced it with invented
detail. Edges add a little disagreement (the views are one pixel apart), so a faithful
model reads above 0 on sharp structures; the benchmark (docs/domain-benchmark.md)
says which values flag real hallucinations.

The outputs are assumed to be in the input's grey values, as for every N2V package and
CARE packages built from CAREamics; a CARE package whose output stays normalised (Keras
csbdeep imports) reads on another scale.
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
