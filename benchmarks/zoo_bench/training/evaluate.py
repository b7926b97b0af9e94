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
    """Metrics of the model and the baselines on the held-out images (averaged, and per
    image): with clean targets scored as SPLITS.md says (:mod:`zoo_bench.splits`), else by
    the self-supervised MSEs of J-invariant denoisers."""
    if all(p.target is not None for p in held):
        return _supervised(result, held)
    from zoo.train.evaluate import best_donut_loss, blind_spot_loss

    rows: dict[str, dict[str, list[float]]] = {}
    sigmas = []
    for pair in held:
        noisy = _centre(pair.noisy).astype(np.float32)
        loss = blind_spot_loss(result.denoise, noisy, masking=result.config.masking())
        donut, sigma = best_donut_loss(noisy)
        sigmas.append(sigma)
        for method, value in (("model", loss), ("gaussian", donut)):
            rows.setdefault(method, {}).setdefault("self_supervised_mse", []).append(value)
        rows.setdefault("noisy input", {}).setdefault("variance", []).append(float(np.var(noisy)))
    return {
        "supervised": False,
        "summary": _means(rows),
        "per_image": {p.name: None for p in held},
        "gaussian_sigma": sigmas,
        "bm3d_sigma": [],
    }


def _supervised(result: Any, held: list[Pair]) -> dict[str, Any]:
    import json

    from zoo_bench.heldout import BASELINES_CACHE, baselines
    from zoo_bench.splits import score

    cache = json.loads(BASELINES_CACHE.read_text()) if BASELINES_CACHE.exists() else {}
    per_image: dict[str, dict[str, dict[str, float]]] = {}
    for pair in held:
        pair = Pair(pair.name, _centre(pair.noisy), _centre(pair.target), pair.baselines)
        rows = dict(baselines(pair, cache))
        s = score(result.denoise(pair.noisy.astype(np.float32)), pair.target)
        per_image[pair.name] = rows | {"model": {"psnr": s.psnr, "ssim": s.ssim}}
    BASELINES_CACHE.parent.mkdir(parents=True, exist_ok=True)
    BASELINES_CACHE.write_text(json.dumps(cache, indent=1))
    # a baseline's label names its sigma per image: averaged under the label's stem
    by_method: dict[str, dict[str, list[float]]] = {}
    for rows in per_image.values():
        for label, values in rows.items():
            stem = label.split(" (")[0] if label.startswith("Gaussian") else label
            for metric, value in values.items():
                by_method.setdefault(stem, {}).setdefault(metric, []).append(value)
    return {
        "supervised": True,
        "summary": _means(by_method),
        "per_image": per_image,
        "gaussian_sigma": [],
        "bm3d_sigma": [],
    }


def _means(rows: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    return {m: {k: float(np.mean(v)) for k, v in metrics.items()} for m, metrics in rows.items()}


SPLITS_NAMES = {
    "noisy input": "noisy input",
    "Gaussian, best sigma": "gaussian with the best sigma",
    "Gaussian, sigma without target": "gaussian-blind, sigma chosen without the target",
    "BM3D (generalised Anscombe)": "bm3d after the generalised Anscombe transform",
    "VST+BM3D (W2S authors)": "vst+bm3d of the W2S authors",
}
"""The card's name of each SPLITS.md method (its first word names the method)."""


def card_metrics(spec: ModelSpec, ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation numbers as card metrics (averages over the held-out images)."""
    names = {method: method for method in ev["summary"]}
    if not ev["supervised"]:
        names["gaussian"] = (
            "gaussian without its centre weight (J-invariant; best sigma "
            + ", ".join(f"{s:g}" for s in ev["gaussian_sigma"])
            + " px)"
        )
        names["model"] = "model at its blind spots (J-invariant)"
    else:  # every output, the model's included, scored against the clean target
        names = {m: f"{SPLITS_NAMES.get(m, m)} (SPLITS.md scoring)" for m in names}
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
