"""Scoring as ../shared/data/SPLITS.md says, on held-out images only.

PSNR after a least-squares affine fit of the result to the target (the 8-bit sources were
rescaled per image), peak = target max − target min; SSIM on the same fitted result. Both are
unchanged by any affine map of the target, so targets aligned to the noisy grey values score
as the raw ones do. Baselines on the same images: the noisy input, the Gaussian filter with
the best sigma chosen with the target (an upper bound for that filter), the Gaussian with
sigma chosen without it (the lowest J-invariant loss, Batson & Royer 2019), and BM3D after
the generalised Anscombe transform with the noise parameters estimated from the image itself
(Mäkitalo & Foi 2013); for W2S also the dataset authors' VST+BM3D images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from zoo.errors import require
from zoo.train.evaluate import GAUSSIAN_SIGMAS, best_donut_loss, psnr, ssim

__all__ = [
    "Score",
    "bm3d_gat",
    "fitted",
    "gaussian_blind",
    "gaussian_oracle",
    "misregistration",
    "score",
    "shifted",
]


@dataclass(frozen=True)
class Score:
    """Fitted PSNR (dB) and SSIM of one result against its target."""

    psnr: float
    ssim: float


def fitted(result: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``a · result + b`` with the least-squares ``a``, ``b`` against ``target``."""
    x = result.astype(np.float64).ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, target.astype(np.float64).ravel(), rcond=None)
    return (a * result.astype(np.float64) + b).reshape(target.shape)


def score(result: np.ndarray, target: np.ndarray) -> Score:
    """SPLITS.md's score of ``result`` against ``target``."""
    peak = float(np.ptp(target))
    fit = fitted(result, target)
    return Score(psnr(fit, target, data_range=peak), ssim(fit, target, data_range=peak))


def gaussian_oracle(noisy: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """(the Gaussian filter with the highest fitted PSNR, its sigma in pixels)."""
    best = max((score(_gauss(noisy, s), target).psnr, s) for s in GAUSSIAN_SIGMAS if s <= 8)
    return _gauss(noisy, best[1]), best[1]


def gaussian_blind(noisy: np.ndarray) -> tuple[np.ndarray, float]:
    """(the Gaussian filter whose sigma has the lowest J-invariant loss, that sigma): a
    choice without the target."""
    _loss, sigma = best_donut_loss(noisy.astype(np.float64))
    return _gauss(noisy, sigma), sigma


def bm3d_gat(noisy: np.ndarray) -> np.ndarray:
    """BM3D after the generalised Anscombe transform, with the Poisson-Gaussian noise
    parameters (variance = slope · grey value + offset) that zoo's fingerprint estimates
    from the image; back through the closed-form unbiased inverse."""
    from zoo.fingerprint import image_statistics

    bm3d = require("bm3d", "test")
    stats = image_statistics(noisy.astype(np.float32))
    slope = float(stats["poisson_slope"].value)
    offset = float(stats["poisson_offset"].value)
    z = noisy.astype(np.float64)
    if slope <= 1e-6 * max(float(np.ptp(z)), 1.0):
        sigma = float(np.sqrt(max(offset, 1e-12)))
        return np.asarray(bm3d.bm3d(z, sigma_psd=sigma))
    shift = offset / slope**2  # the Gaussian part in counts
    counts = z / slope + shift
    d = np.asarray(bm3d.bm3d(2 * np.sqrt(np.maximum(counts + 3 / 8, 0)), sigma_psd=1.0))
    d = np.maximum(d, 0.8)
    inverse = 0.25 * d**2 + 0.25 * np.sqrt(1.5) / d - 11 / 8 / d**2 + 0.625 * np.sqrt(1.5) / d**3
    return slope * (inverse - 1 / 8 - shift)


def shifted(image: np.ndarray, offset: tuple[float, float]) -> np.ndarray:
    """``image`` moved by ``offset`` (rows, columns; sub-pixel) through the Fourier shift
    theorem (periodic at the borders: crop them)."""
    return _shifted_spectrum(np.fft.fftn(image.astype(np.float64)), offset)


def _shifted_spectrum(spectrum: np.ndarray, offset: tuple[float, float]) -> np.ndarray:
    """The image of ``spectrum`` (its FFT) moved by ``offset``."""
    return np.real(np.fft.ifftn(ndimage.fourier_shift(spectrum, offset)))


def misregistration(noisy: np.ndarray, target: np.ndarray, margin: int = 8) -> tuple[float, float]:
    """The sub-pixel shift (rows, columns) of ``target`` that best explains ``noisy``: the
    least-squares affine fit of the shifted target to the noisy frame, minimised over the
    shift (the noise is zero-mean, so the minimum is the true offset). (0, 0) for a pair that
    registers; a target averaged over drifting frames does not, and then a score against it
    rewards blur (a filter that blurs partly undoes the offset)."""
    from scipy import optimize

    inner = (slice(margin, -margin), slice(margin, -margin))
    frame = noisy.astype(np.float64)[inner].ravel()
    spectrum = np.fft.fftn(target.astype(np.float64))

    def residual(offset: np.ndarray) -> float:
        moved = _shifted_spectrum(spectrum, (offset[0], offset[1]))[inner].ravel()
        design = np.stack([moved, np.ones_like(moved)], axis=1)
        coef, *_ = np.linalg.lstsq(design, frame, rcond=None)
        return float(np.mean((design @ coef - frame) ** 2))

    found = optimize.minimize(residual, np.zeros(2), method="Nelder-Mead",
                              options={"xatol": 1e-3, "fatol": 1e-12})  # fmt: skip
    return float(found.x[0]), float(found.x[1])


def _gauss(image: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(image.astype(np.float64), sigma, mode="reflect")
