"""The domain check across the whole zoo, calibrated leave-one-source-out.

Every published model on every case of :func:`~zoo_bench.domain.cases.build_cases` (the
held-out fields of the zoo-trained domains with their variants, and real pairs of sources no
model was trained on), labelled as the domain benchmark labels them. One model-independent
set of thresholds is calibrated (the benchmark's coordinate ascent, :mod:`.numbers`) on every
source but one and judges that one: thresholds never see the source they are scored on. A
source is one dataset; the synthetic variants of a dataset's images count under it.

``python scripts/bench_domain.py --loso`` writes docs/domain-loso.md and docs/domain-loso.json.
"""

from __future__ import annotations

import datetime
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.checks import check_statistics, model_families
from zoo.domain import DEFAULT_THRESHOLDS, check_image, model_fingerprint
from zoo_bench.domain import learned
from zoo_bench.domain.numbers import (
    FIRST_PRINCIPLES,
    MAX_FALSE_WARNINGS,
    Choice,
    auroc,
    choices,
    recall_at,
    scaled,
    thresholds_of,
)
from zoo_bench.domain.outcomes import Pair

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "domain-loso.md"
REPORT = REPO / "docs" / "domain-loso.json"
FIELD = 256
"""Side of the held-out fields of the zoo-trained domains here: the size from which every
check, the contrast polarity's both readings included, is judged."""
SMALL_FIELD = 128
"""The domain benchmark's field side, measured too (a section of its own)."""
SOURCES = {
    "nuclei": "nucleus tracking", "actin": "GigaDB", "mito": "GigaDB", "gigadb": "GigaDB",
    "w2s": "W2S", "fmd": "FMD", "sstem": "EM-ISBI", "epfl": "EM-EPFL",
    "ihc": "IHC (synthetic)", "dsb": "DSB 2018",
}  # fmt: skip
"""The dataset of a case, by the first word of its name."""
EM_SOURCES = ("EM-ISBI", "EM-EPFL")
BOOTSTRAP = 1000
_STATUS = {"ok": 0, "skip": 0, "warn": 1, "fail": 2}


def source_of(pair: Pair) -> str:
    return SOURCES[pair.case.split(" ")[0].rstrip(":").lower()]


@dataclass
class Table:
    """Every pair's checks as arrays: the fixed checks (compatibility, metadata, polarity)
    and, per statistic and calibration setting, each pair's status and distance."""

    pairs: list[Pair]
    fixed_status: np.ndarray
    fixed_d2: np.ndarray
    settings: dict[tuple[str, Choice], tuple[np.ndarray, np.ndarray]]

    @classmethod
    def of(cls, pairs: list[Pair], log: Callable[[str], None]) -> Table:
        n = len(pairs)
        fixed_status, fixed_d2 = np.zeros(n, np.int8), np.zeros(n)
        settings = {
            (name, c): (np.zeros(n, np.int8), np.zeros(n))
            for name in DEFAULT_THRESHOLDS
            for c in choices(name)
        }
        for i, p in enumerate(pairs):
            report = check_image(p.package, p.image, statistics=p.stats, thresholds={})
            for c in report.checks:
                fixed_status[i] = max(fixed_status[i], _STATUS[c.status])
                fixed_d2[i] += c.distance**2
            if report.incompatible():
                continue
            reference, _ = model_fingerprint(p.package)
            for (name, choice), (status, d2) in settings.items():
                if choice is None:
                    continue
                found = check_statistics(
                    p.package, p.image, reference, {name: scaled(name, *choice)}, p.stats
                )
                for c in found:
                    status[i], d2[i] = _STATUS[c.status], c.distance**2
            if i % 500 == 0:
                log(f"  checks of pair {i + 1}/{n}")
        return cls(pairs, fixed_status, fixed_d2, settings)

    def judge(self, chosen: dict[str, Choice]) -> tuple[np.ndarray, np.ndarray]:
        """(status 0 match / 1 caution / 2 mismatch, score) of every pair."""
        status, d2 = self.fixed_status.copy(), self.fixed_d2.copy()
        for name, choice in chosen.items():
            s, d = self.settings[(name, choice)]
            status = np.maximum(status, s)
            d2 = d2 + d
        return status, np.sqrt(d2)


def _objective(status: np.ndarray, score: np.ndarray, y: np.ndarray) -> float:
    """The domain benchmark's: verdict recall with false warnings at most 5 % (each point
    over costs 10 points), then the AUROC."""
    warned = status > 0
    recall = float(warned[y].mean()) if y.any() else 0.0
    false = float(warned[~y].mean()) if (~y).any() else 0.0
    value = recall - 10 * max(0.0, false - MAX_FALSE_WARNINGS)
    return value + 0.01 * auroc(score, y) if y.any() and (~y).any() else value


def calibrate(table: Table, train: np.ndarray, rounds: int = 2) -> dict[str, Choice]:
    """Coordinate ascent over every statistic's setting on the ``train`` pairs, then every
    check whose removal changes nothing removed (as :func:`.numbers.calibrate`)."""
    y = np.array([p.degraded for p in table.pairs])[train]

    def value(chosen: dict[str, Choice]) -> float:
        status, score = table.judge(chosen)
        return _objective(status[train], score[train], y)

    chosen = dict(FIRST_PRINCIPLES)
    best = value(chosen)
    for _round in range(rounds):
        changed = False
        for name in DEFAULT_THRESHOLDS:
            for choice in choices(name):
                trial = chosen | {name: choice}
                v = value(trial)
                if choice != chosen[name] and v > best + 1e-9:
                    best, chosen, changed = v, trial, True
        if not changed:
            break
    for name in DEFAULT_THRESHOLDS:
        if chosen[name] is not None and value(chosen | {name: None}) >= best - 1e-9:
            chosen = chosen | {name: None}
    return chosen


def metrics(status: np.ndarray, score: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """AUROC, recall at ≤ 5 % false warnings, the verdicts' recall, false warnings and
    ``match`` on degraded pairs."""
    warned = status > 0
    both = bool(y.any() and (~y).any())
    return {
        "pairs": int(y.size),
        "degraded": int(y.sum()),
        "auroc": auroc(score, y) if both else None,
        "recall_at_5pct": recall_at(score, y, MAX_FALSE_WARNINGS)[0] if both else None,
        "verdict_recall": float(warned[y].mean()) if y.any() else None,
        "verdict_false_warnings": float(warned[~y].mean()) if (~y).any() else None,
        "match_on_degraded": float((status[y] == 0).mean()) if y.any() else None,
    }


def bootstrap(
    status: np.ndarray, score: np.ndarray, y: np.ndarray, seed: int = 0
) -> dict[str, list[float]]:
    """95 % intervals of the pooled metrics, pairs resampled with replacement."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, y.size, y.size)
        for k, v in metrics(status[i], score[i], y[i]).items():
            if isinstance(v, float):
                draws.setdefault(k, []).append(v)
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
            for k, v in draws.items()}  # fmt: skip


def judge_loso(
    table: Table, sources: np.ndarray, models: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, Choice]]]:
    """Every pair judged by thresholds calibrated on the other sources' pairs: one set for
    all models (``models`` None) or, given each pair's model, a set per model calibrated on
    that model's pairs of the other sources. Returns (status, score, thresholds by fold)."""
    n = len(table.pairs)
    status, score = np.zeros(n, np.int8), np.zeros(n)
    folds: dict[str, dict[str, Choice]] = {}
    for source in sorted(set(sources)):
        held = sources == source
        groups = [None] if models is None else sorted(set(models[held]))
        for model in groups:
            mine = held if model is None else held & (models == model)
            train = ~held if model is None else ~held & (models == model)
            chosen = calibrate(table, train)
            s, sc = table.judge(chosen)
            status[mine], score[mine] = s[mine], sc[mine]
            key = source if model is None else f"{source} / {model}"
            folds[key] = {k: c for k, c in chosen.items() if c is not None}
    return status, score, folds


def run(pairs: list[Pair], *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Calibrate leave-one-source-out on ``pairs`` (every model, every case) and judge each
    source with the thresholds of the others. Beside it: the one set calibrated on every
    source (``every_source``, judged in-sample; its ``thresholds``), the first-principles
    thresholds and the check as zoo ships it."""
    t0 = time.perf_counter()
    table = Table.of(pairs, log)
    sources = np.array([source_of(p) for p in pairs])
    y = np.array([p.degraded for p in pairs])
    status, score, folds = judge_loso(table, sources)
    for source in sorted(set(sources)):
        held = sources == source
        log(f"  left out {source}: {metrics(status[held], score[held], y[held])}")
    every = calibrate(table, np.ones(len(pairs), bool))
    per_model = judge_loso(table, sources, np.array([p.model for p in pairs]))
    learned_status, learned_score = learned.judge_loso(table, sources)
    result = {
        "date": datetime.date.today().isoformat(),
        "models": sorted({p.model for p in pairs}),
        "pooled": metrics(status, score, y),
        "pooled_ci95": bootstrap(status, score, y),
        "per_model_thresholds": metrics(per_model[0], per_model[1], y),
        "every_source": metrics(*table.judge(every), y),
        "defaults": metrics(*table.judge(FIRST_PRINCIPLES), y),
        "shipped": metrics(*_shipped(pairs), y),
        "thresholds": thresholds_of(every),
        "by_model": _by(pairs, [p.model for p in pairs], status, score, y),
        "by_source": _by(pairs, list(sources), status, score, y),
        "families": _families(pairs, status),
        "folds": {s: {n: list(c) for n, c in f.items()} for s, f in folds.items()},
        "learned": metrics(learned_status, learned_score, y),
        "learned_by_model": _by(pairs, [p.model for p in pairs], learned_status, learned_score, y),
        "learned_families": _families(pairs, learned_status),
        "learned_coefficients": learned.coefficients(table),
        "seconds": time.perf_counter() - t0,
    }
    return result


def _by(pairs: list[Pair], keys: Sequence[str], status: np.ndarray, score: np.ndarray,
        y: np.ndarray) -> dict[str, Any]:  # fmt: skip
    keys_ = np.array(keys)
    return {k: metrics(status[keys_ == k], score[keys_ == k], y[keys_ == k])
            for k in sorted(set(keys))}  # fmt: skip


def _shipped(pairs: list[Pair]) -> tuple[np.ndarray, np.ndarray]:
    """(status, score) of every pair as zoo ships the check (zoo/calibration.json for the
    models it calibrated, the defaults for the others)."""
    from zoo.domain import thresholds_for

    out = [
        p.check(thresholds_for(p.package))
        for p in pairs  # Pair.check keeps the defaults for uncalibrated models
    ]
    codes = {"match": 0, "caution": 1, "mismatch": 2}
    return np.array([codes[v] for v, _s in out], np.int8), np.array([s for _v, s in out])


def _families(pairs: list[Pair], status: np.ndarray) -> dict[str, Any]:
    """Pairs whose model is of another modality family than the image: how many warned."""
    cross = []
    for i, p in enumerate(pairs):
        theirs = model_families(p.package)
        mine = "electron" if source_of(p) in EM_SOURCES else (
            "transmitted" if source_of(p) == "IHC (synthetic)" else "light")  # fmt: skip
        if theirs and mine not in theirs:
            cross.append(i)
    warned = int((status[cross] > 0).sum())
    return {"cross_family_pairs": len(cross), "warned": warned,
            "share": warned / len(cross) if cross else math.nan}  # fmt: skip


def write(result: dict[str, Any]) -> Path:
    REPORT.write_text(json.dumps(result, indent=1) + "\n")
    DOC.write_text(render(result))
    return DOC


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _rows(groups: dict[str, Any]) -> list[str]:
    rows = ["| | pairs | degraded | AUROC | recall at ≤ 5 % false warnings | verdict recall "
            "| verdict false warnings | `match` on degraded |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, m in groups.items():
        rows.append(
            f"| {name} | {m['pairs']} | {m['degraded']} | {_fmt(m['auroc'])} | "
            f"{_fmt(m['recall_at_5pct'])} | {_fmt(m['verdict_recall'])} | "
            f"{_fmt(m['verdict_false_warnings'])} | {_fmt(m['match_on_degraded'])} |"
        )
    return rows


def _pooled(result: dict[str, Any]) -> list[str]:
    """The pooled rows of one field size, their intervals and the cross-family pairs."""
    ci, fam = result["pooled_ci95"], result["families"]
    return [
        *_rows({"leave-one-source-out": result["pooled"],
                **({"a logistic score over the check's distances, leave-one-source-out":
                    result["learned"]} if "learned" in result else {}),
                "leave-one-source-out, thresholds per model": result["per_model_thresholds"],
                "one set calibrated on every source (in-sample)": result["every_source"],
                "first-principles thresholds (never calibrated)": result["defaults"],
                "as shipped": result["shipped"]}),
        "",
        "95 % bootstrap intervals (pairs resampled, leave-one-source-out): " + "; ".join(
            f"{k} {v[0]:.3f}–{v[1]:.3f}" for k, v in ci.items()),
        "",
        f"Cross-family pairs (a model of another modality family than the image): "
        f"{fam['warned']} of {fam['cross_family_pairs']} warned ({100 * fam['share']:.1f} %).",
    ]  # fmt: skip


def _within(result: dict[str, Any]) -> str:
    """How much of the pooled AUROC is the check ranking pairs of one model."""
    aurocs = [m["auroc"] for m in result["by_model"].values() if m["auroc"] is not None]
    shares = {name: m["degraded"] / m["pairs"] for name, m in result["by_model"].items()}
    pooled = result["pooled"]["auroc"]
    head = f"Within one model the score's AUROC is {min(aurocs):.3f}-{max(aurocs):.3f}"
    if pooled is None or max(aurocs) >= pooled:
        return head + f" (pooled: {_fmt(pooled)})."
    return (
        f"{head}, below the pooled {pooled:.3f}: much of the pooled number is the check "
        "telling apart models that are degraded on most images (degraded share "
        + ", ".join(f"`{n}` {v:.0%}" for n, v in shares.items())
        + ") rather than ranking one model's images."
    )


_DEPARTURES = {
    "structure_scale": "another pixel size", "noise_corr_x": "noise correlated along x",
    "noise_corr_y": "noise correlated along y", "noise_sigma": "another noise level",
    "snr_db": "a lower signal-to-noise ratio", "shot_noise_fraction": "another noise model",
    "intensity_median": "another intensity level", "intensity_iqr": "another contrast",
    "saturated_fraction": "saturation",
}  # fmt: skip
"""What each statistical check reports, in a reader's words."""


def _dropped(kept: dict[str, Any]) -> str:
    """Why the set calibrated on every source is not what zoo ships, when it drops checks."""
    dropped = [name for name in DEFAULT_THRESHOLDS if name not in kept]
    if not dropped:
        return "."
    return (f"; it drops {', '.join(f'`{n}`' for n in dropped)}, so it would no longer report "
            f"{', '.join(_DEPARTURES[n] for n in dropped)}, departures the test suite pins as "
            "what the check must report: zoo does not ship it.")  # fmt: skip


def _learned(result: dict[str, Any]) -> list[str]:
    """The logistic score's paragraph (benchmarks/zoo_bench/domain/learned.py)."""
    if "learned" not in result:
        return []
    m, fam, by = result["learned"], result["learned_families"], result["learned_by_model"]
    aurocs = [v["auroc"] for v in by.values() if v["auroc"] is not None]
    weights = {k: v for k, v in result["learned_coefficients"].items() if k != "intercept"}
    top = sorted(weights.items(), key=lambda kv: -abs(kv[1]))[:4]
    return [
        "",
        "The logistic score (benchmarks/zoo_bench/domain/learned.py: a logistic regression "
        "over the check's own distances, fitted on every source but one, warning where it "
        "reaches the cut that keeps the training sources' false warnings at ≤ 5 %) is "
        f"measured, not shipped: AUROC {_fmt(m['auroc'])} and recall "
        f"{_fmt(m['recall_at_5pct'])} at ≤ 5 % false warnings against the calibrated "
        f"check's {_fmt(result['pooled']['auroc'])} and "
        f"{_fmt(result['pooled']['recall_at_5pct'])}; within one model its AUROC is "
        f"{min(aurocs):.3f}-{max(aurocs):.3f}; cross-family pairs warned {fam['warned']} of "
        f"{fam['cross_family_pairs']}. Its largest weights (standardised, fitted on every "
        "source): " + ", ".join(f"{n} {v:+.2f}" for n, v in top) + ".",
    ]


def render(result: dict[str, Any]) -> str:
    side, small = result["field"], result["small_fields"]
    lines = [
        "# The domain check across the zoo, leave-one-source-out",
        "",
        f"Generated by `python scripts/bench_domain.py --loso` ({result['date']}, "
        f"{result['seconds'] / 60:.0f} min on 2 CPU cores); do not edit by hand. Method: "
        "benchmarks/zoo_bench/domain/loso.py; cases and labels as in "
        "[domain-benchmark.md](domain-benchmark.md).",
        "",
        f"Models: {', '.join(f'`{m}`' for m in result['models'])} (every published model; "
        "the held-out rows of yanked models' domains stay among the images, labelled against "
        "the classic baseline). One model-independent set "
        "of thresholds is calibrated on every source but one and judges that one (the "
        "thresholds never see the source they are scored on); the rows below pool those "
        f"judgements. The held-out fields of the zoo-trained domains are cut {side} × {side} "
        f"(W2S: the centre {side}² of each held-out image), the size from which every check "
        f"is judged; {small['field']}² fields, where the contrast polarity's dark-on-bright "
        "reading is not, have [a section of their own](#small-fields).",
        "",
        "## Pooled",
        "",
        *_pooled(result),
        "",
        "Reading: the leave-one-source-out row estimates how the check does on a source no "
        "threshold was calibrated on. The row with thresholds per model calibrates a set for "
        "each model on that model's pairs of the other sources, fewer pairs per set (AUROC "
        f"{_fmt(result['per_model_thresholds']['auroc'])} against "
        f"{_fmt(result['pooled']['auroc'])} with one set). The set calibrated on every "
        "source is judged on the pairs it was calibrated on (not an estimate); its thresholds: "
        + ", ".join(f"`{n}` {tuple(t)}" for n, t in result["thresholds"].items())
        + _dropped(result["thresholds"])
        + " The first-principles thresholds were never calibrated on any of these pairs. "
        "The *as shipped* row (zoo/calibration.json for the models it calibrates, "
        "`care-widefield-w2s` among these, the first-principles thresholds for the others) "
        "is not an estimate either: its calibration saw other fields of W2S and nucleus "
        "tracking.",
        *_learned(result),
        "",
        "## By model",
        "",
        _within(result),
        "",
        *_rows(result["by_model"]),
        "",
        "## By source (each judged by thresholds calibrated without it)",
        "",
        *_rows(result["by_source"]),
        "",
        "## Small fields",
        "",
        f"The same run with the zoo-trained domains' held-out fields cut {small['field']} × "
        f"{small['field']} ({small['pooled']['pairs']} pairs): on such fields only the "
        "contrast polarity's bright-on-dark reading is judged (a fluorescence field with an "
        "EM model), and a field inside a cell has no background to tell fluorescence by. "
        "The held-out images at full size are in "
        "[domain-check.md](domain-check.md#the-checks-and-their-thresholds).",
        "",
        *_pooled(small),
        "",
        f"By model, {small['field']}² fields:",
        "",
        *_rows(small["by_model"]),
        "",
        "## Thresholds of each fold",
        "",
        "| left out | statistic: (kind, multiplier) |",
        "|---|---|",
        *[f"| {s} | " + ", ".join(f"`{n}` {tuple(c)}" for n, c in f.items()) + " |"
          for s, f in result["folds"].items()],
    ]  # fmt: skip
    return "\n".join(lines) + "\n"
