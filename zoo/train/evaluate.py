"""Held-out evaluation: PSNR / SSIM against a clean target, the baselines a denoiser must
beat (Gaussian filter with the best sigma, BM3D), and the self-supervised comparison used
where no clean target exists.

All comparisons are in the grey values of the noisy input (targets are aligned to it with
:func:`zoo.train.data.align_target` first); the PSNR's peak is the target's range.

Without ground truth, Noise2Self's observation ranks denoisers honestly: for a
*J-invariant* denoiser ``f`` (one whose output at a pixel ignores that pixel) and
pixel-independent zero-mean noise, ``E‖f(x) − x‖² = E‖f(x) − clean‖² + E‖noise‖²``. The
self-supervised loss of two J-invariant denoisers therefore differs exactly as their true
MSEs do. A blind-spot network evaluated at its masked pixels is J-invariant; so is a
Gaussian filter whose centre weight is set to zero (:func:`donut_gaussian`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from zoo.errors import require
from zoo.train.masking import Masking

__all__ = [
    "Baseline",
    "best_bm3d",
    "best_gaussian",
    "blind_spot_loss",
    "donut_gaussian",
    "predict",
    "psnr",
    "ssim",
]

GAUSSIAN_SIGMAS = tuple(float(s) for s in np.round(np.geomspace(0.25, 16.0, 31), 3))
"""Sigmas (pixels) searched for the best Gaussian filter."""

BM3D_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
"""Multiples of the estimated noise sigma tried as BM3D's sigma."""


def psnr(image: np.ndarray, reference: np.ndarray, *, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range² / MSE)``."""
    mse = float(np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def ssim(image: np.ndarray, reference: np.ndarray, *, data_range: float) -> float:
    """Mean structural similarity (Wang et al. 2004): Gaussian window σ = 1.5, K1 = 0.01,
    K2 = 0.03, population (co)variances — scikit-image's ``gaussian_weights=True``
    settings, with the border (3σ) left out of the mean."""
    x, y = image.astype(np.float64), reference.astype(np.float64)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    pad = 5
    return float(s[pad:-pad, pad:-pad].mean())


@dataclass(frozen=True)
class Baseline:
    """A baseline's best output on one image and the parameter that gave it."""

    output: np.ndarray
    parameter: float


def best_gaussian(
    noisy: np.ndarray, target: np.ndarray, *, sigmas: Sequence[float] = GAUSSIAN_SIGMAS
) -> Baseline:
    """The Gaussian filter with the sigma that maximises PSNR against ``target`` (an oracle
    choice, which favours the baseline)."""
    best: Baseline | None = None
    best_err = np.inf
    for sigma in sigmas:
        out = ndimage.gaussian_filter(noisy.astype(np.float64), sigma, mode="reflect")
        err = float(np.mean((out - target) ** 2))
        if err < best_err:
            best, best_err = Baseline(out.astype(np.float32), sigma), err
    assert best is not None
    return best


def best_bm3d(noisy: np.ndarray, target: np.ndarray, *, sigma_guess: float) -> Baseline:
    """BM3D (the ``bm3d`` package) with the noise sigma, searched around ``sigma_guess``
    (grey values), that maximises PSNR against ``target`` (again an oracle choice)."""
    bm3d = require("bm3d", "test")
    scale = float(np.std(noisy)) or 1.0
    z = noisy.astype(np.float64) / scale
    best: Baseline | None = None
    best_err = np.inf
    for factor in BM3D_FACTORS:
        sigma = sigma_guess * factor
        out = np.asarray(bm3d.bm3d(z, sigma_psd=sigma / scale)) * scale
        err = float(np.mean((out - target) ** 2))
        if err < best_err:
            best, best_err = Baseline(out.astype(np.float32), sigma), err
    assert best is not None
    return best


def predict(module: object, image: np.ndarray, *, mean: float, std: float, step: int) -> np.ndarray:
    """Run a trained torch module on a whole 2D image (reflect-padded to a multiple of
    ``step``), with the package's normalisation; the result is in input grey values."""
    torch = require("torch", "export")
    h, w = image.shape
    ph, pw = (-h) % step, (-w) % step
    x = (np.pad(image.astype(np.float32), ((0, ph), (0, pw)), mode="reflect") - mean) / std
    with torch.inference_mode():
        y = module(torch.from_numpy(x[None, None].astype(np.float32))).numpy()[0, 0]  # type: ignore[operator]
    return (y[:h, :w] * std + mean).astype(np.float32)


def donut_gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """A J-invariant Gaussian filter: the centre weight is removed and the rest renormalised."""
    x = image.astype(np.float64)
    radius = max(1, int(4 * sigma + 0.5))
    r = np.arange(-radius, radius + 1)
    k1 = np.exp(-(r**2) / (2 * sigma**2))
    k1 /= k1.sum()
    centre = k1[radius] ** 2
    blurred = ndimage.gaussian_filter(x, sigma, mode="reflect", truncate=radius / sigma)
    return ((blurred - centre * x) / (1 - centre)).astype(np.float32)


def blind_spot_loss(
    denoise: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    *,
    masking: Masking,
    repeats: int = 4,
    seed: int = 0,
) -> float:
    """Self-supervised MSE of a blind-spot model: mask ``image`` (``repeats`` times), denoise,
    and compare with the original values at the masked pixels only."""
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(repeats):
        masked, mask = masking.apply(image, rng)
        out = denoise(masked)
        errors.append((out[mask].astype(np.float64) - image[mask]) ** 2)
    return float(np.mean(np.concatenate(errors)))


def best_donut_loss(
    image: np.ndarray, *, sigmas: Sequence[float] = GAUSSIAN_SIGMAS
) -> tuple[float, float]:
    """(lowest self-supervised MSE of a J-invariant Gaussian, its sigma) on ``image``."""
    losses = [
        (float(np.mean((donut_gaussian(image, s) - image.astype(np.float64)) ** 2)), s)
        for s in sigmas
    ]
    return min(losses)
