"""``zoo adapt`` on the held-out fluorescence pairs of ../shared/data/SPLITS.md: the model
``zoo match`` ranks first for the noisy image is adapted to it (the clean target never enters
adaptation) and scored as SPLITS.md says, next to its parent and the two Gaussians.

Budget: the default one (:func:`zoo.adapt.default_minutes`) turned into steps at this
machine's idle speed for the depth-3 UNet (:data:`SECONDS_PER_STEP`), so the numbers do not
depend on what else the machine was doing. Results are appended pair by pair to
docs/adapt.json (a rerun skips the pairs already there).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo.adapt import AdaptConfig, Network, adapt, default_minutes
from zoo.imageio import Image
from zoo.match import rank_models
from zoo.registry import Registry
from zoo.runner import open_model
from zoo_bench.heldout import BASELINES_CACHE, RUNS, _key, heldout_sets
from zoo_bench.splits import score

REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / "docs" / "adapt.json"
SECONDS_PER_STEP = 0.2
"""Idle speed of a fine-tuning step of the depth-3 UNet (16 × 64², 2 threads, with the
held-out evaluations), measured on this 2-core machine."""
SETS = ("FMD R_1", "GigaDB membrane", "nucleus tracking rows 768-1023",
        "GigaDB actin_60x rows 1536-2047", "GigaDB mito_20x rows 1536-2047",
        "W2S fields 036-045")  # fmt: skip
W2S_FIELDS = ("W2S 036_0", "W2S 040_1", "W2S 044_2")
"""The W2S held-out images adapted to (one per channel; the 30 would take 5 hours)."""


def run(sets: tuple[str, ...] = SETS) -> Path:
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {"pairs": {}}
    base = json.loads(BASELINES_CACHE.read_text())
    truth = json.loads(RUNS.read_text())["models"]
    registry = Registry()
    for hs in heldout_sets(sets):
        for pair in hs.pairs:
            if pair.name in report["pairs"] or (
                hs.name.startswith("W2S") and pair.name not in W2S_FIELDS
            ):
                continue
            noisy = pair.noisy
            ranked = rank_models(Image(noisy, "yx", {}), registry, modality=None)
            first = ranked[0]
            ref = open_model(f"{first.id}@{first.version}")
            steps = round(default_minutes(noisy.size) * 60 / SECONDS_PER_STEP)
            start = time.perf_counter()
            adapted = adapt(ref, [noisy], AdaptConfig(steps=steps))
            import torch

            out = Network(ref, adapted.module, torch).function(noisy.astype(np.float64))(
                noisy.astype(np.float64)
            )
            b = base[_key(pair)]

            def best(prefix: str, b: dict[str, Any] = b) -> float:
                return max(v["psnr"] for k, v in b.items() if k.startswith(prefix))

            row: dict[str, Any] = {
                "set": hs.name, "kind": hs.kind, "parent": f"{first.id}@{first.version}",
                "match verdict": first.verdict, "steps": steps, "best step": adapted.best_step,
                "seconds": time.perf_counter() - start,
                "adapted": score(out, pair.target).psnr,
                "parent psnr": truth[f"{first.id}@{first.version}"][hs.name][pair.name]["psnr"],
                "gaussian best": best("Gaussian, best"),
                "gaussian blind": best("Gaussian, sigma without"),
                "heldout estimates": adapted.heldout,
            }  # fmt: skip
            report["pairs"][pair.name] = row
            REPORT.write_text(json.dumps(report, indent=1) + "\n")
            print(pair.name, json.dumps(row), flush=True)
    return REPORT
