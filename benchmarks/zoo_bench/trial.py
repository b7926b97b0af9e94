"""How well the no-reference trial (:mod:`zoo.trial`) tells, without a target, whether a model
beats the best-sigma Gaussian filter: every published model on its family's held-out pairs of
../shared/data/SPLITS.md, the truth from docs/models-heldout.json (SPLITS.md scoring) and the
baselines cache of :mod:`zoo_bench.heldout`.

Next to SURE, the J-invariant loss (Noise2Self) as the issue first proposed it: the model on
its input with a grid of pixels replaced by their 4-neighbours' mean, scored at those pixels,
against the J-invariant ("donut") Gaussian with the lowest such loss.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo.inference import Predictor
from zoo.package import load_package
from zoo.train.evaluate import best_donut_loss
from zoo.trial import run_trial
from zoo_bench.heldout import BASELINES_CACHE, RUNS, _key, family_of, heldout_sets, published

REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / "docs" / "trial.json"
GRID = 4
"""J-invariant loss: one pixel in GRID × GRID masked per pass, two passes."""


def jinvariant_loss(predictor: Predictor, image: np.ndarray) -> float:
    """Noise2Self's loss of the model: masked pixels (their 4-neighbours' mean in their
    place) predicted from the rest, compared with their noisy values."""
    from zoo.tiling import predict_tiled

    y = image.astype(np.float64)
    padded = np.pad(y, 1, mode="reflect")
    neighbours = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
    errors = []
    for phase in ((0, 0), (2, 2)):
        mask = np.zeros(y.shape, bool)
        mask[phase[0] :: GRID, phase[1] :: GRID] = True
        masked = np.where(mask, neighbours, y).astype(np.float32)
        out = predict_tiled(
            predictor, masked[np.newaxis], stats_from=y[np.newaxis].astype(np.float32)
        )[0]
        errors.append((out[mask] - y[mask]) ** 2)
    return float(np.mean(np.concatenate(errors)))


def _centre(a: np.ndarray, side: int = 512) -> np.ndarray:
    y0, x0 = (max(0, (s - side) // 2) for s in a.shape)
    return a[y0 : y0 + side, x0 : x0 + side]


def measure(models: dict[str, Path] | None = None) -> dict[str, Any]:
    """Every (model, held-out pair) of the published models: truth and both estimates."""
    base = json.loads(BASELINES_CACHE.read_text())
    truth = json.loads(RUNS.read_text())["models"]
    sets = list(heldout_sets())
    rows = []
    for ref, path in (models or published()).items():
        package = load_package(path)
        family = family_of(package)
        if ref not in truth or family is None:
            continue
        predictor = Predictor(package, weight_format="onnx")
        for hs in (s for s in sets if s.family == family):
            for pair in hs.pairs:
                gauss = max(v["psnr"] for k, v in base[_key(pair)].items()
                            if k.startswith("Gaussian, best"))  # fmt: skip
                t = run_trial(predictor, pair.noisy)
                start = time.perf_counter()
                crop = _centre(pair.noisy)
                jinv = jinvariant_loss(predictor, crop)
                jinv_gauss = best_donut_loss(crop.astype(np.float64))[0]
                rows.append({
                    "model": ref, "set": hs.name, "kind": hs.kind, "image": pair.name,
                    "method": str(package.card.method.name) if package.card else "",
                    "true_gain_db": truth[ref][hs.name][pair.name]["psnr"] - gauss,
                    "sure": t.to_dict(),
                    "jinvariant": {"model": jinv, "gaussian": jinv_gauss,
                                   "model_wins": jinv < jinv_gauss,
                                   "seconds": time.perf_counter() - start},
                })  # fmt: skip
        print(f"{ref}: {len(rows)} pairs so far", flush=True)
    return {"pairs": rows, "counts": counts(rows)}


def counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """True wins and losses found by each estimator, overall and for CARE models."""
    out: dict[str, Any] = {}
    for name, rows_ in (("all", rows), ("care", [r for r in rows if r["method"] == "care"])):
        wins = [r for r in rows_ if r["true_gain_db"] > 0]
        losses = [r for r in rows_ if r["true_gain_db"] <= 0]
        out[name] = {"true wins": len(wins), "true losses": len(losses)}
        for est in ("sure", "jinvariant"):
            out[name][est] = {
                "wins found": sum(r[est]["model_wins"] for r in wins),
                "losses found": sum(not r[est]["model_wins"] for r in losses),
            }
    seconds = [r["sure"]["seconds"] for r in rows]
    out["sure seconds"] = {"median": float(np.median(seconds)), "max": float(np.max(seconds))}
    return out


def main() -> Path:
    report = measure()
    REPORT.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["counts"], indent=1))
    return REPORT
