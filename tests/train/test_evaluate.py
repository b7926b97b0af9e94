"""Held-out metrics and baselines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from zoo.train.evaluate import (
    best_bm3d,
    best_donut_loss,
    best_gaussian,
    blind_spot_loss,
    donut_gaussian,
    psnr,
    ssim,
)
from zoo.train.masking import Masking


def smooth_pair(seed: int = 0, sigma: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = ndimage.gaussian_filter(rng.uniform(0, 1, (96, 96)), 3)
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    return (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32), clean


def test_psnr_and_ssim_known_values() -> None:
    ref = np.zeros((32, 32))
    assert psnr(ref + 0.1, ref, data_range=1.0) == pytest.approx(20.0)
    noisy, clean = smooth_pair()
    assert ssim(clean, clean, data_range=1.0) == pytest.approx(1.0)
    worse, _ = smooth_pair(sigma=0.3)
    assert ssim(worse, clean, data_range=1.0) < ssim(noisy, clean, data_range=1.0) < 1


def test_best_gaussian_beats_the_noisy_input() -> None:
    noisy, clean = smooth_pair()
    gauss = best_gaussian(noisy, clean)
    assert gauss.parameter > 0.5
    assert psnr(gauss.output, clean, data_range=1) > psnr(noisy, clean, data_range=1) + 3


def test_bm3d_baseline_runs_and_denoises() -> None:
    noisy, clean = smooth_pair()
    bm = best_bm3d(noisy, clean, sigma_guess=0.1)
    assert psnr(bm.output, clean, data_range=1) > psnr(noisy, clean, data_range=1) + 3


def test_donut_gaussian_ignores_the_centre_pixel() -> None:
    noisy, _ = smooth_pair()
    spiked = noisy.copy()
    spiked[40, 40] += 100
    assert donut_gaussian(spiked, 1.5)[40, 40] == pytest.approx(donut_gaussian(noisy, 1.5)[40, 40])
    flat = np.full((32, 32), 7.0)
    np.testing.assert_allclose(donut_gaussian(flat, 2.0), 7.0, rtol=1e-6)


def test_self_supervised_loss_ranks_like_the_true_mse() -> None:
    """Noise2Self: blind-spot loss = true MSE + noise variance (pixel-independent noise)."""
    noisy, clean = smooth_pair(sigma=0.2)
    loss, sigma = best_donut_loss(noisy)
    true_mse = float(np.mean((donut_gaussian(noisy, sigma) - clean) ** 2))
    assert loss == pytest.approx(true_mse + 0.2**2, rel=0.1)
    # an oracle blind-spot "model" (returns the clean image) scores the noise variance
    oracle = blind_spot_loss(lambda _x: clean, noisy, masking=Masking(fraction=0.05))
    assert oracle == pytest.approx(0.2**2, rel=0.2)
    assert oracle < loss
