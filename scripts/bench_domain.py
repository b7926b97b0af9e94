"""Domain-check benchmark: how often is a warning right? Measures and calibrates the check.

    python scripts/bench_domain.py [--quick] [--no-calibrate] [--write] [--json FILE]

For every (model, image) pair of the zoo's own models and a set of real images with a clean
target, the benchmark measures two things independently:

- the **outcome**: the model's PSNR against the clean target, next to the in-domain model's
  PSNR on the same image (the model trained on the image's domain, where there is one) and
  the best classic baseline (Gaussian filter or median filter, each with the parameter that
  is best against the target: an oracle choice that favours the baseline). A pair is
  **degraded** when the model is more than 1 dB below the in-domain model or the best
  classic baseline (whichever is higher), on average over the fields of its acquisition and
  variant in its split;
- the **check**: the verdict and score ``zoo check`` gives before any inference.

Images: the held-out part of the zoo-trained domain that has a clean target (nucleus
tracking low/high SNR; the zoo's other published model, FIB-SEM, has none), each field as
it is and changed the way a user's data differs from the training data: Poisson-Gaussian
noise of the domain's own noise model at 0.5×, 2× and 4× its level,
read-noise-like Gaussian noise, noise correlated along x, column stripes (noise correlated
along y), 5 % saturated pixels, pixel size changed by rescaling (0.5×, 2×, 4×), 8-bit
conversion and a 4× gain; plus real pairs of other modalities (two-photon FLIM single frame
/ average, W2S and FMD widefield, GigaDB widefield; ssTEM, the DSB 2018 nuclei and the IHC
image with synthetic noise) that no zoo model was trained on. Images are split by their
source field into a calibration half
and a held-out half.

Reported (held-out split): AUROC of the pre-inference score for "degraded", recall at ≤ 5 %
false warnings (the best point of the score's ROC, and the shipped verdict's own point), a
confusion table of verdicts against outcomes, an ablation (each check removed in turn), and
the consistency map's score against the same outcomes. ``--write`` writes
docs/domain-benchmark.md (+ SVG plots) and the calibrated thresholds with their provenance
to zoo/calibration.json.

The parts, in the order they run: scripts/_domain_cases.py (the images and their split),
_domain_outcomes.py (the models' outcomes), _domain_numbers.py (the numbers, the
calibration, the ablation) and _domain_report.py (the document and its plots).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from _domain_cases import CALIBRATED_MODELS, DOMAINS, MODELS, build_cases, quick_cases  # noqa: E402
from _domain_numbers import (  # noqa: E402
    Numbers,
    ablation,
    calibrate,
    consistency_numbers,
    numbers,
)
from _domain_outcomes import Pair, best_classic, load_models, measure  # noqa: E402
from _domain_report import DOC, write_doc  # noqa: E402

from zoo.domain import DEFAULT_THRESHOLDS  # noqa: E402

__all__ = ["DOMAINS", "MODELS", "run"]

BENCHMARK_VERSION = "2"
"""2: outcomes labelled per acquisition and variant (:func:`pool_outcomes`), one-sided ratio
thresholds in the calibration grid, checks that change nothing removed; 1: per-field labels."""
CALIBRATION = REPO / "zoo" / "calibration.json"


def run(
    *,
    quick: bool,
    calibrate_: bool,
    models: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], list[Pair], dict]:
    t0 = time.perf_counter()
    ids = models or (MODELS[:2] if quick else MODELS)
    models = load_models(ids)
    cases = build_cases()
    if quick:  # baselines still chosen over every field of the kept acquisitions
        groups = {cases[i].group for i in quick_cases(cases)}
        cases = [c for c in cases if c.group in groups]
        classic = best_classic(cases)
        keep = quick_cases(cases)
        cases, classic = [cases[i] for i in keep], [classic[i] for i in keep]
    else:
        classic = best_classic(cases)
    log(f"{len(models)} models × {len(cases)} images")
    pairs = measure(models, cases, classic, log=log)
    cal = [p for p in pairs if p.split == "calibration"]
    held = [p for p in pairs if p.split == "heldout"]
    if calibrate_ and cal:
        log("calibrating on the calibration split")
        thresholds, multipliers = calibrate(cal, log=log)
    else:
        from zoo.domain import THRESHOLDS

        thresholds, multipliers = dict(THRESHOLDS), {}  # the shipped calibration
    result: dict[str, Any] = {
        "benchmark": f"scripts/bench_domain.py v{BENCHMARK_VERSION}",
        "version": BENCHMARK_VERSION,
        "date": datetime.date.today().isoformat(),
        "cpus": __import__("os").cpu_count(),
        "models": list(ids),
        "images": len(cases),
        "multipliers": multipliers,
        "calibration": numbers(cal, thresholds) if cal else None,
        "heldout": numbers(held, thresholds),
        "heldout_default": numbers(held, DEFAULT_THRESHOLDS),
        "heldout_field": numbers(held, thresholds, per_field=True),
        "ablation": ablation(held, thresholds),
        "consistency": consistency_numbers(held),
    }
    result["seconds"] = time.perf_counter() - t0
    return result, pairs, thresholds


def _jsonable(value: Any) -> Any:
    if isinstance(value, Numbers):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two models, a few images")
    parser.add_argument("--no-calibrate", action="store_true", help="judge the shipped thresholds")
    parser.add_argument("--write", action="store_true", help="write docs/ and zoo/calibration.json")
    parser.add_argument("--json", type=Path, help="write the numbers and every pair here")
    parser.add_argument("--models", nargs="+", help="only these models (no --write)")
    args = parser.parse_args()
    if args.write and (args.quick or args.models):
        parser.error("--write needs the full benchmark (no --quick, no --models)")
    result, pairs, thresholds = run(
        quick=args.quick, calibrate_=not args.no_calibrate, models=args.models
    )
    print(f"held-out, calibrated:   {result['heldout'].line()}")
    print(f"held-out, defaults:     {result['heldout_default'].line()}")
    print(f"held-out, field labels: {result['heldout_field'].line()}")
    if result["calibration"]:
        print(f"calibration split:      {result['calibration'].line()}")
    for name, n in result["ablation"].items():
        print(f"  without {name:<22} {n.line()}")
    c = result["consistency"]
    print(
        f"consistency score: AUROC {c['auroc_degraded']:.3f} for degraded, {c['auroc_far']:.3f} "
        f"for > 3 dB departures; Spearman with the deficit {c['spearman_deficit']:.3f}"
    )
    held = result["heldout"]
    ok = held.auroc >= 0.90 and held.recall_at_5pct >= 0.90
    print(
        f"targets (held-out AUROC ≥ 0.90, recall ≥ 0.90 at ≤ 5 % false warnings): "
        f"{'PASS' if ok else 'FAIL'}; {result['seconds']:.0f} s"
    )
    if args.json:
        args.json.write_text(
            json.dumps(_jsonable(result) | {"pairs": [p.row() for p in pairs]}, indent=1) + "\n"
        )
    if args.write:
        CALIBRATION.write_text(
            json.dumps(
                {
                    "benchmark": result["benchmark"],
                    "date": result["date"],
                    "doc": "docs/domain-benchmark.md",
                    "models": list(CALIBRATED_MODELS),
                    "thresholds": {k: list(v) for k, v in thresholds.items()},
                    "heldout": {
                        k: v
                        for k, v in dataclasses.asdict(result["heldout"]).items()
                        if k != "confusion"
                    },
                },
                indent=1,
            )
            + "\n"
        )
        write_doc(result, pairs, thresholds)
        print(f"wrote {DOC.relative_to(REPO)} and {CALIBRATION.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
