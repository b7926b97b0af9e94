"""One run of the domain benchmark: the numbers of every (model, image) pair, and what
``scripts/bench_domain.py`` prints and writes of them."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zoo.domain import DEFAULT_THRESHOLDS
from zoo_bench.domain.cases import (
    CALIBRATED_MODELS,
    MODELS,
    REPO,
    build_cases,
    published_domains,
    quick_cases,
)
from zoo_bench.domain.numbers import Numbers, ablation, calibrate, consistency_numbers, numbers
from zoo_bench.domain.outcomes import Pair, best_classic, load_models, measure
from zoo_bench.domain.report import DOC, write_doc

BENCHMARK_VERSION = "2"
"""2: outcomes labelled per acquisition and variant (:func:`pool_outcomes`), one-sided ratio
thresholds in the calibration grid, checks that change nothing removed; 1: per-field labels."""
CALIBRATION = REPO / "zoo" / "calibration.json"


def _cases(quick: bool) -> tuple[list[Any], list[tuple[float, str]]]:
    """The cases and their best classic filters; the small version keeps a few cases, with
    the baselines still chosen over every field of the kept acquisitions."""
    cases = build_cases()
    if not quick:
        return cases, best_classic(cases)
    groups = {cases[i].group for i in quick_cases(cases)}
    cases = [c for c in cases if c.group in groups]
    classic = best_classic(cases)
    keep = quick_cases(cases)
    return [cases[i] for i in keep], [classic[i] for i in keep]


def run(
    *,
    quick: bool,
    calibrate_: bool,
    models: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], list[Pair], dict]:
    """Measure every pair, calibrate on the calibration split (unless ``calibrate_`` is
    false: the shipped thresholds) and compute the held-out numbers. Returns the result,
    the pairs and the thresholds judged with."""
    t0 = time.perf_counter()
    ids = models or (MODELS[:2] if quick else MODELS)
    loaded = load_models(ids)
    cases, classic = _cases(quick)
    log(f"{len(loaded)} models × {len(cases)} images")
    pairs = measure(loaded, cases, classic, log=log)
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
        "cpus": os.cpu_count(),
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


def summary(result: dict[str, Any]) -> list[str]:
    """The lines ``scripts/bench_domain.py`` prints of a run."""
    lines = [
        f"held-out, calibrated:   {result['heldout'].line()}",
        f"held-out, defaults:     {result['heldout_default'].line()}",
        f"held-out, field labels: {result['heldout_field'].line()}",
    ]
    if result["calibration"]:
        lines.append(f"calibration split:      {result['calibration'].line()}")
    for name, n in result["ablation"].items():
        lines.append(f"  without {name:<22} {n.line()}")
    c = result["consistency"]
    lines.append(
        f"consistency score: AUROC {c['auroc_degraded']:.3f} for degraded, {c['auroc_far']:.3f} "
        f"for > 3 dB departures; Spearman with the deficit {c['spearman_deficit']:.3f}"
    )
    held = result["heldout"]
    ok = held.auroc >= 0.90 and held.recall_at_5pct >= 0.90
    lines.append(
        f"targets (held-out AUROC ≥ 0.90, recall ≥ 0.90 at ≤ 5 % false warnings): "
        f"{'PASS' if ok else 'FAIL'}; {result['seconds']:.0f} s"
    )
    return lines


def _jsonable(value: Any) -> Any:
    if isinstance(value, Numbers):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, result: dict[str, Any], pairs: list[Pair]) -> None:
    """The numbers of a run and every pair's outcome, as JSON."""
    path.write_text(
        json.dumps(_jsonable(result) | {"pairs": [p.row() for p in pairs]}, indent=1) + "\n"
    )


def write(result: dict[str, Any], pairs: list[Pair], thresholds: dict) -> list[Path]:
    """zoo/calibration.json (the calibrated thresholds with their provenance) and
    docs/domain-benchmark.md with its plots, from a full run; returns the two paths."""
    calibration = {
        "benchmark": result["benchmark"],
        "date": result["date"],
        "doc": "docs/domain-benchmark.md",
        "models": list(CALIBRATED_MODELS),
        "thresholds": {k: list(v) for k, v in thresholds.items()},
        "heldout": {
            k: v for k, v in dataclasses.asdict(result["heldout"]).items() if k != "confusion"
        },
    }
    CALIBRATION.write_text(json.dumps(calibration, indent=1) + "\n")
    write_doc(result, pairs, thresholds)
    return [DOC, CALIBRATION]


def run_loso(log: Callable[[str], None] = print) -> Path:
    """Every published model on every case, calibrated leave-one-source-out
    (:mod:`zoo_bench.domain.loso`), with fields of :data:`~.loso.FIELD` and, as a section of
    its own, of :data:`~.loso.SMALL_FIELD`, each source read by a family reading fitted
    without it (:mod:`.reading`); writes docs/domain-loso.md and .json."""
    from zoo_bench.domain import loso, loso_doc, reading
    from zoo_bench.heldout import published

    t0 = time.perf_counter()
    windows = reading.windows(log=log)
    every = reading.shipped_reading(windows)
    ids = sorted({name.split("@")[0] for name in published()})
    loaded = load_models(ids)
    results = {}
    for side in (loso.FIELD, loso.SMALL_FIELD):
        cases = build_cases(sorted(set(ids) | set(published_domains())), field=side)
        log(f"{len(loaded)} models × {len(cases)} images, fields of {side}²")
        # the trial's stage is measured on the fields every check is judged from
        pairs = measure(loaded, cases, best_classic(cases), log=log, trial=side == loso.FIELD)
        readings = reading.readings(windows, sorted({loso.source_of(p) for p in pairs}))
        results[side] = loso.run(pairs, log=log, readings=readings) | {"field": side}
    result = results[loso.FIELD] | {"small_fields": results[loso.SMALL_FIELD]}
    result["reading"] = {k: every[k] for k in ("light_below", "dark_above", "windows")}
    result["seconds"] = time.perf_counter() - t0  # cases, outcomes and calibration
    return loso_doc.write(result)
