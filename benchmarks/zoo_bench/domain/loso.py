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
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.checks import check_statistics, image_polarity, model_families
from zoo.domain import DEFAULT_THRESHOLDS, check_image, model_fingerprint
from zoo.families import Polarity
from zoo.learned import other_family
from zoo_bench.domain import learned
from zoo_bench.domain.numbers import (
    FIRST_PRINCIPLES,
    MAX_FALSE_WARNINGS,
    Choice,
    auroc,
    choices,
    recall_at,
    scaled,
)
from zoo_bench.domain.outcomes import Pair
from zoo_bench.domain.reading import read_by

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
    and, per statistic and calibration setting, each pair's status and distance; each
    pair's contrast reading (:func:`zoo.checks.image_polarity`), whether the polarity check
    judged it, and the fixed checks' status without that check (for
    :func:`~zoo_bench.domain.reading.read_by`)."""

    pairs: list[Pair]
    fixed_status: np.ndarray
    fixed_d2: np.ndarray
    polarity_warned: np.ndarray
    settings: dict[tuple[str, Choice], tuple[np.ndarray, np.ndarray]]
    readings: list[Polarity | None] = field(default_factory=list)
    has_polarity: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    rest_status: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))

    @classmethod
    def of(cls, pairs: list[Pair], log: Callable[[str], None]) -> Table:
        n = len(pairs)
        fixed_status, fixed_d2, polarity = np.zeros(n, np.int8), np.zeros(n), np.zeros(n, bool)
        has, rest = np.zeros(n, bool), np.zeros(n, np.int8)
        settings = {
            (name, c): (np.zeros(n, np.int8), np.zeros(n))
            for name in DEFAULT_THRESHOLDS
            for c in choices(name)
        }
        read: dict[int, Polarity | None] = {}  # one reading an image, whatever the model
        for i, p in enumerate(pairs):
            if id(p.image) not in read:
                read[id(p.image)] = image_polarity(p.image)
            report = check_image(p.package, p.image, statistics=p.stats, thresholds={},
                                 learned=False, polarity=read[id(p.image)])  # fmt: skip
            for c in report.checks:
                fixed_status[i] = max(fixed_status[i], _STATUS[c.status])
                fixed_d2[i] += c.distance**2
                if c.name == "polarity":
                    has[i] = True
                else:
                    rest[i] = max(rest[i], _STATUS[c.status])
            polarity[i] = other_family(report.checks)
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
        readings = [read[id(p.image)] for p in pairs]
        return cls(pairs, fixed_status, fixed_d2, polarity, settings, readings, has, rest)

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
        "mismatch_on_fine": float((status[~y] == 2).mean()) if (~y).any() else None,
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
    table: Table, sources: np.ndarray, models: np.ndarray | None = None,
    views: Mapping[str, Table] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, Choice]]]:  # fmt: skip
    """Every pair judged by thresholds calibrated on the other sources' pairs: one set for
    all models (``models`` None) or, given each pair's model, a set per model calibrated on
    that model's pairs of the other sources; ``views``: each source's fold as the family
    reading fitted without it reads the pairs. Returns (status, score, thresholds by fold)."""
    n = len(table.pairs)
    status, score = np.zeros(n, np.int8), np.zeros(n)
    folds: dict[str, dict[str, Choice]] = {}
    for source in sorted(set(sources)):
        held = sources == source
        groups = [None] if models is None else sorted(set(models[held]))
        fold = table if views is None else views[source]
        for model in groups:
            mine = held if model is None else held & (models == model)
            train = ~held if model is None else ~held & (models == model)
            chosen = calibrate(fold, train)
            s, sc = fold.judge(chosen)
            status[mine], score[mine] = s[mine], sc[mine]
            key = source if model is None else f"{source} / {model}"
            folds[key] = {k: c for k, c in chosen.items() if c is not None}
    return status, score, folds


def run(
    pairs: list[Pair], *, log: Callable[[str], None] = print,
    readings: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The verdict as zoo ships it (the learned score, :mod:`.learned`) fitted on every
    source but one and judging that one, pooled, by model and by source; beside it the
    calibrated thresholds (one set leave-one-source-out, a set per model, one set on every
    source in-sample, the first-principles set) and the learned rule fitted on every source
    (``learned``: what zoo/learned.json ships, judged in-sample). With ``readings`` (per
    source, the family reading fitted without it: :func:`.reading.readings`) each source is
    also read by a family reading that never saw it; else by zoo's."""
    t0 = time.perf_counter()
    table = Table.of(pairs, log)
    sources = np.array([source_of(p) for p in pairs])
    y = np.array([p.degraded for p in pairs])
    views = None if readings is None else {
        s: read_by(table, readings[s]) for s in sorted(set(sources))}  # fmt: skip
    status, score, tried = learned.judge_loso(table, sources, views=views)
    for source in sorted(set(sources)):
        held = sources == source
        log(f"  left out {source}: {metrics(status[held], score[held], y[held])}")
    thresholds = judge_loso(table, sources, views=views)
    every = calibrate(table, np.ones(len(pairs), bool))
    models = np.array([p.model for p in pairs])
    per_model = judge_loso(table, sources, models, views)
    fitted = learned.shipped(table)
    cross, em_light = _cross(pairs), _cross(pairs, EM_LIGHT)
    same = ~cross
    unseen = learned.judge_loso(table, sources, models, views)
    return _trial(table, tried, score, y, cross, em_light) | {
        "date": datetime.date.today().isoformat(),
        "models": sorted({p.model for p in pairs}),
        "pooled": metrics(status, score, y),
        "pooled_ci95": bootstrap(status, score, y),
        "same_family": metrics(status[same], score[same], y[same]),
        "cross_to_warn": metrics(status, score, y | cross),
        "unseen_model": metrics(unseen.status, unseen.score, y),
        "thresholds_loso": metrics(thresholds[0], thresholds[1], y),
        "per_model_thresholds": metrics(per_model[0], per_model[1], y),
        "every_source": metrics(*table.judge(every), y),
        "defaults": metrics(*table.judge(FIRST_PRINCIPLES), y),
        "shipped": metrics(*learned.judged(table, learned.features(table), fitted), y),
        "by_model": _by(pairs, list(models), status, score, y),
        "by_source": _by(pairs, list(sources), status, score, y),
        "families": _families(cross, status),
        "em_light": _families(em_light, status),
        "thresholds_families": _families(cross, thresholds[0]),
        "learned": fitted,
        "seconds": time.perf_counter() - t0,
    }


def _trial(table: Table, status: np.ndarray | None, score: np.ndarray, y: np.ndarray,
           cross: np.ndarray, em_light: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """The verdict with the trial as its last stage (``zoo check --trial``: ``status``,
    leave-one-source-out) and how often the trial lost on fine and on degraded pairs; empty
    when the pairs carry no trial outcome."""
    wins = learned.trial_wins(table)
    if wins is None or status is None:
        return {}
    return {
        "with_trial": metrics(status, score, y),
        "with_trial_ci95": bootstrap(status, score, y),
        "with_trial_families": _families(cross, status),
        "with_trial_em_light": _families(em_light, status),
        "trial_lost": {"fine": float((~wins[~y]).mean()), "degraded": float((~wins[y]).mean())},
    }


def _by(pairs: list[Pair], keys: Sequence[str], status: np.ndarray, score: np.ndarray,
        y: np.ndarray) -> dict[str, Any]:  # fmt: skip
    keys_ = np.array(keys)
    return {k: metrics(status[keys_ == k], score[keys_ == k], y[keys_ == k])
            for k in sorted(set(keys))}  # fmt: skip


def _image_family(pair: Pair) -> str:
    """The modality family of the pair's image, by its source."""
    if source_of(pair) in EM_SOURCES:
        return "electron"
    return "transmitted" if source_of(pair) == "IHC (synthetic)" else "light"


def _cross(pairs: list[Pair], only: frozenset[str] | None = None) -> np.ndarray:
    """Per pair: is the model of another modality family than the image? With ``only``
    (two families), only pairs between those two (electron-microscopy models on light
    microscopy and the reverse: issue 24's separation)."""
    out = np.zeros(len(pairs), bool)
    for i, p in enumerate(pairs):
        theirs, mine = model_families(p.package), _image_family(p)
        out[i] = bool(theirs) and mine not in theirs
        if only is not None:
            out[i] &= {mine, *theirs} <= only
    return out


EM_LIGHT = frozenset({"electron", "light"})


def _families(cross: np.ndarray, status: np.ndarray) -> dict[str, Any]:
    """Pairs whose model is of another modality family than the image (``cross``, from
    :func:`_cross`): how many warned."""
    warned = int((status[cross] > 0).sum())
    return {"cross_family_pairs": int(cross.sum()), "warned": warned,
            "share": warned / int(cross.sum()) if cross.any() else math.nan}  # fmt: skip
