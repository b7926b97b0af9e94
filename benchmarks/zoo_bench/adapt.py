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


def run(sets: tuple[str, ...] = SETS) -> Path:
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {"pairs": {}}
    base = json.loads(BASELINES_CACHE.read_text())
    truth = json.loads(RUNS.read_text())["models"]
    registry = Registry()
    for hs in heldout_sets(sets):
        for pair in hs.pairs:
            if pair.name in report["pairs"]:
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
            trial = _trial(adapted, noisy)

            def best(prefix: str, b: dict[str, Any] = b) -> float:
                return max(v["psnr"] for k, v in b.items() if k.startswith(prefix))

            row: dict[str, Any] = {
                "set": hs.name, "kind": hs.kind, "parent": f"{first.id}@{first.version}",
                "match verdict": first.verdict, "loss": adapted.loss_description, "steps": steps,
                "best step": adapted.best_step,
                "stopped at": adapted.stopped_at, "kept": _kept(adapted),
                "seconds": time.perf_counter() - start,
                "adapted": score(out, pair.target).psnr,
                "parent psnr": truth[f"{first.id}@{first.version}"][hs.name][pair.name]["psnr"],
                "gaussian best": best("Gaussian, best"),
                "gaussian blind": best("Gaussian, sigma without"),
                "heldout estimates": adapted.heldout, "trial": trial,
            }  # fmt: skip
            report["pairs"][pair.name] = row
            REPORT.write_text(json.dumps(report, indent=1) + "\n")
            print(pair.name, json.dumps(row), flush=True)
    return REPORT


def _kept(adapted: Any) -> dict[str, float] | None:
    """The kept checkpoint's estimated gain over the parent and its standard error."""
    kept = [h for h in adapted.history if h["step"] == adapted.best_step and "gain" in h]
    return {"gain": kept[0]["gain"], "se": kept[0]["gain_se"]} if kept else None


def _trial(adapted: Any, noisy: np.ndarray) -> dict[str, Any]:
    """The trial of the adapted package on the image, as ``zoo check --trial`` runs it."""
    import tempfile

    from zoo.adapt import package_adapted
    from zoo.inference import Predictor
    from zoo.package import load_package
    from zoo.trial import run_trial

    with tempfile.TemporaryDirectory() as tmp:
        built = package_adapted(adapted, Path(tmp) / "adapted.zip")
        return run_trial(Predictor(load_package(built.path)), noisy).to_dict()


def step_cost(steps: int = 12) -> dict[str, Any]:
    """One fine-tuning step of care-widefield-w2s's UNet (depth 3, 32 filters, no batch norm;
    16 patches of 64²) against this machine's arithmetic: FLOPs of forward + backward
    (torch's FlopCounterMode) and the measured time, for the variants tried."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from zoo.adapt.network import parent_module

    ref = open_model("care-widefield-w2s")
    module, *_ = parent_module(ref, torch)
    module.train()
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-5)

    def one(x: Any) -> None:
        loss = ((module(x) - x) ** 2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    results: dict[str, Any] = {}
    variants = {
        "2 threads, batch 16": (2, 16, torch.contiguous_format),
        "1 thread, batch 16": (1, 16, torch.contiguous_format),
        "2 threads, batch 32": (2, 32, torch.contiguous_format),
        "2 threads, batch 16, channels_last": (2, 16, torch.channels_last),
    }
    for name, (threads, batch, fmt) in variants.items():
        torch.set_num_threads(threads)
        module.to(memory_format=fmt)
        x = torch.randn(batch, 1, 64, 64).to(memory_format=fmt)
        with FlopCounterMode(display=False) as counter:
            one(x)
        flops = counter.get_total_flops()
        one(x)  # warm-up
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            one(x)
            times.append(time.perf_counter() - start)
        per_patch = float(np.median(times)) / batch * 16
        results[name] = {
            "gflop_per_step": flops / 1e9,
            "seconds_per_step": float(np.median(times)),
            "seconds_per_16_patches": per_patch,
            "gflop_per_second": flops / 1e9 / float(np.median(times)),
        }
    torch.set_num_threads(2)
    return results


DOC = REPO / "docs" / "adapt.md"
STEP_COST = REPO / "docs" / "adapt-step.json"


def write_doc() -> Path:
    """The measured tables of docs/adapt.md, between its ``<!-- NAME:begin/end -->`` marks,
    from docs/trial.json, docs/adapt.json and docs/adapt-step.json."""
    text = DOC.read_text()
    for name, table in (("trial", _trial_table()), ("adapt", _adapt_table()),
                        ("step", _step_table())):  # fmt: skip
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        head, rest = text.split(begin)
        _old, tail = rest.split(end)
        text = f"{head}{begin}\n{table}\n{end}{tail}"
    DOC.write_text(text)
    return DOC


def _trial_table() -> str:
    pairs = json.loads((REPO / "docs" / "trial.json").read_text())["pairs"]
    rows = [
        "| model | true wins | found (SURE) | found (J-invariant) | true losses | "
        "found (SURE) | found (J-invariant) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    groups = [*sorted({p["model"] for p in pairs}), "all"]
    for model in groups:
        mine = [p for p in pairs if model in ("all", p["model"])]
        wins = [p for p in mine if p["true_gain_db"] > 0]
        losses = [p for p in mine if p["true_gain_db"] <= 0]

        def found(rows_: list[dict[str, Any]], est: str, win: bool) -> int:
            return sum(p[est]["model_wins"] is win for p in rows_)

        name = "**all**" if model == "all" else model
        rows.append(
            f"| {name} | {len(wins)} | {found(wins, 'sure', True)} | "
            f"{found(wins, 'jinvariant', True)} | {len(losses)} | {found(losses, 'sure', False)} | "
            f"{found(losses, 'jinvariant', False)} |"
        )
    if REPORT.exists():  # the adapted models on the images they were adapted to
        adapted = [r for r in json.loads(REPORT.read_text())["pairs"].values() if "trial" in r]
        wins = [r for r in adapted if r["adapted"] > r["gaussian best"]]
        losses = [r for r in adapted if r["adapted"] <= r["gaussian best"]]
        sure_w = sum(r["trial"]["model_wins"] for r in wins)
        sure_l = sum(not r["trial"]["model_wins"] for r in losses)
        rows.append(f"| adapted models (docs/adapt.json) | {len(wins)} | {sure_w} | — | "
                    f"{len(losses)} | {sure_l} | — |")  # fmt: skip
        all_w = sum(p["true_gain_db"] > 0 for p in pairs) + len(wins)
        all_l = sum(p["true_gain_db"] <= 0 for p in pairs) + len(losses)
        found_w = sum(p["sure"]["model_wins"] for p in pairs if p["true_gain_db"] > 0) + sure_w
        found_l = sum(not p["sure"]["model_wins"] for p in pairs if p["true_gain_db"] <= 0)
        rows.append(f"| **all, adapted included** | {all_w} | {found_w} | — | {all_l} | "
                    f"{found_l + sure_l} | — |")  # fmt: skip
    seconds = [p["sure"]["seconds"] for p in pairs]
    rows.append(f"\nTrial time per (model, image): median {np.median(seconds):.2f} s, "
                f"at most {np.max(seconds):.2f} s (2 cores, ONNX Runtime).")  # fmt: skip
    return "\n".join(rows)


def _adapt_table() -> str:
    if not REPORT.exists():
        return "_Not run yet._"
    pairs = json.loads(REPORT.read_text())["pairs"]
    rows = ["| image | kind | parent (zoo match's first) | loss | steps run / planned | "
            "kept step | time | parent | adapted | Gaussian, best sigma | "
            "Gaussian, sigma without target |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    order = {name: i for i, name in enumerate(SETS)}
    for name, r in sorted(pairs.items(), key=lambda kv: (order.get(kv[1]["set"], 99), kv[0])):
        ran = r.get("stopped at") or r["steps"]
        rows.append(
            f"| {name} | {r['kind']} | {r['parent']} ({r['match verdict']}) | {r['loss']} | "
            f"{ran} / {r['steps']} | {r['best step']} | {r['seconds'] / 60:.1f} min | "
            f"{r['parent psnr']:.2f} | **{r['adapted']:.2f}** | {r['gaussian best']:.2f} | "
            f"{r['gaussian blind']:.2f} |"
        )
    return "\n".join([*rows, "", _adapt_summary(pairs)])


def _adapt_summary(pairs: dict[str, Any]) -> str:
    """The issue's three targets, counted, held-out fields and held-out sources apart."""
    lines = ["| pairs | n | never worse than the parent | ≥ 1 dB over the parent where it "
             "is > 1 dB below the best Gaussian | above the Gaussian without target | "
             "mean gain over the parent |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    kinds = sorted({r["kind"] for r in pairs.values()})
    for kind in [*kinds, "all"]:
        mine = [r for r in pairs.values() if kind in ("all", r["kind"])]
        gain = [r["adapted"] - r["parent psnr"] for r in mine]
        low = [r for r in mine if r["parent psnr"] < r["gaussian best"] - 1]
        big = sum(r["adapted"] - r["parent psnr"] >= 1 for r in low)
        blind = sum(r["adapted"] > r["gaussian blind"] for r in mine)
        lines.append(
            f"| {'**all**' if kind == 'all' else kind} | {len(mine)} | "
            f"{sum(g >= -0.005 for g in gain)} | {big} of {len(low)} | {blind} | "
            f"{np.mean(gain):+.2f} dB |"
        )
    return "\n".join(lines)


def _step_table() -> str:
    if not STEP_COST.exists():
        return "_Not measured yet._"
    cost = json.loads(STEP_COST.read_text())
    rows = ["| variant | GFLOP a step | s a step | s per 16 patches | GFLOP/s |",
            "|---|---:|---:|---:|---:|"]  # fmt: skip
    for name, c in cost.items():
        rows.append(
            f"| {name} | {c['gflop_per_step']:.1f} | {c['seconds_per_step']:.3f} | "
            f"{c['seconds_per_16_patches']:.3f} | {c['gflop_per_second']:.0f} |"
        )
    return "\n".join(rows)
