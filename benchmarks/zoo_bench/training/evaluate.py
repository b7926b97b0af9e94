"""Validation of a trained model on its held-out images, against the noisy input, the
best-sigma Gaussian filter and BM3D (or, without a clean target, J-invariant denoisers
compared by their self-supervised MSE), and those numbers as card metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo_bench.training.data import Pair
from zoo_bench.training.specs import ModelSpec

EVAL_SIDE = 1024
"""Held-out images are evaluated on their central crop of at most this side."""


def _centre(a: np.ndarray, side: int = EVAL_SIDE) -> np.ndarray:
    sl = tuple(
        slice((s - min(s, side)) // 2, (s - min(s, side)) // 2 + min(s, side)) for s in a.shape
    )
    return a[sl]


def evaluate(spec: ModelSpec, result: Any, held: list[Pair]) -> dict[str, Any]:
    """Metrics of the model and the baselines on the held-out images (averaged)."""
    from zoo.fingerprint import image_statistics
    from zoo.train.evaluate import (
        best_bm3d,
        best_donut_loss,
        best_gaussian,
        blind_spot_loss,
        predict,
        psnr,
        ssim,
    )

    module = result.module()
    step = 2**result.config.depth

    def denoise(image: np.ndarray) -> np.ndarray:
        return predict(module, image, mean=result.mean, std=result.std, step=step)

    rows: dict[str, dict[str, list[float]]] = {}
    params: dict[str, list[float]] = {"gaussian": [], "bm3d": []}

    def add(method: str, metric: str, value: float) -> None:
        rows.setdefault(method, {}).setdefault(metric, []).append(value)

    supervised = all(p.target is not None for p in held)
    for pair in held:
        noisy = _centre(pair.noisy).astype(np.float32)
        if pair.target is not None:
            target = _centre(pair.target)
            rng_ = float(target.max() - target.min())
            sigma = image_statistics(noisy)["noise_sigma"].value
            gauss = best_gaussian(noisy, target)
            bm = best_bm3d(noisy, target, sigma_guess=sigma)
            params["gaussian"].append(gauss.parameter)
            params["bm3d"].append(bm.parameter)
            for method, out in (
                ("noisy input", noisy),
                ("gaussian", gauss.output),
                ("bm3d", bm.output),
                ("model", denoise(noisy)),
            ):
                add(method, "psnr", psnr(out, target, data_range=rng_))
                add(method, "ssim", ssim(out, target, data_range=rng_))
        else:
            masking = result.config.masking()
            loss = blind_spot_loss(denoise, noisy, masking=masking)
            donut, sigma = best_donut_loss(noisy)
            params["gaussian"].append(sigma)
            add("model", "self_supervised_mse", loss)
            add("gaussian", "self_supervised_mse", donut)
            add("noisy input", "variance", float(np.var(noisy)))
    summary = {
        method: {metric: float(np.mean(v)) for metric, v in metrics.items()}
        for method, metrics in rows.items()
    }
    return {
        "supervised": supervised,
        "summary": summary,
        "per_image": {p.name: None for p in held},
        "gaussian_sigma": params["gaussian"],
        "bm3d_sigma": params["bm3d"],
    }


def card_metrics(spec: ModelSpec, ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation numbers as card metrics (averages over the held-out images)."""
    names = {
        "model": "model",
        "noisy input": "noisy input",
        "gaussian": "gaussian (best sigma "
        + ", ".join(f"{s:g}" for s in ev["gaussian_sigma"])
        + " px)",
        "bm3d": "bm3d (best sigma "
        + ", ".join(f"{s:.3g}" for s in ev["bm3d_sigma"])
        + " grey values)",
    }
    if not ev["supervised"]:
        names["gaussian"] = (
            "gaussian without its centre weight (J-invariant; best sigma "
            + ", ".join(f"{s:g}" for s in ev["gaussian_sigma"])
            + " px)"
        )
        names["model"] = "model at its blind spots (J-invariant)"
    out = []
    for method, metrics in ev["summary"].items():
        for metric, value in metrics.items():
            out.append(
                {
                    "name": metric,
                    "value": value,
                    "method": names[method],
                    "dataset": spec.heldout_label,
                }
            )
    return out
