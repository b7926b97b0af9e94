"""The domain benchmark's numbers: AUROC, recall at a false-warning rate, the verdicts'
confusion, the calibration of the thresholds, the ablation and the consistency map's numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from zoo.domain import DEFAULT_THRESHOLDS, RATIO_KINDS, check_image
from zoo_bench.domain.outcomes import Pair

MAX_FALSE_WARNINGS = 0.05
MULTIPLIERS = (0.25, 0.5, 0.7, 1.0, 1.4, 2.0, 4.0, None)
"""Calibration grid: each statistic's thresholds scaled by these (None: check removed)."""


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Probability that a degraded pair scores above a fine one (ties count half)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def recall_at(
    scores: Sequence[float], labels: Sequence[bool], max_fpr: float
) -> tuple[float, float]:
    """The best recall of a cut ``score >= cut`` with at most ``max_fpr`` false warnings,
    and that cut."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    best = (0.0, math.inf)
    for cut in np.unique(s):
        warn = s >= cut
        if (~y).any() and warn[~y].mean() > max_fpr:
            continue
        rec = float(warn[y].mean()) if y.any() else float("nan")
        if rec > best[0] or (rec == best[0] and cut < best[1]):
            best = (rec, float(cut))
    return best


@dataclass(frozen=True)
class Numbers:
    """How well the check's verdicts and scores predict degraded outcomes on some pairs."""

    pairs: int
    degraded: int
    auroc: float
    recall_at_5pct: float
    """Best recall of a score cut with ≤ 5 % false warnings (the score's ROC)."""
    verdict_recall: float
    """Share of degraded pairs whose verdict is caution or mismatch."""
    verdict_false_warnings: float
    """Share of fine pairs whose verdict is caution or mismatch."""
    confusion: dict[str, dict[str, int]]

    def line(self) -> str:
        return (
            f"AUROC {self.auroc:.3f}, recall at ≤ 5 % false warnings {self.recall_at_5pct:.3f}; "
            f"verdicts: recall {self.verdict_recall:.3f}, false warnings "
            f"{self.verdict_false_warnings:.3f} ({self.pairs} pairs, {self.degraded} degraded)"
        )


def numbers(
    pairs: list[Pair],
    thresholds: dict,
    drop: frozenset[str] = frozenset(),
    *,
    per_field: bool = False,
) -> Numbers:
    """The numbers of ``pairs`` judged with ``thresholds`` (without the checks in ``drop``),
    against the groups' outcomes or, with ``per_field``, each field's own."""
    judged = [p.check(thresholds, drop) for p in pairs]
    labels = [p.field_degraded if per_field else p.degraded for p in pairs]
    scores = [score for _v, score in judged]
    warned = np.array([v != "match" for v, _s in judged])
    y = np.array(labels, dtype=bool)
    confusion = {
        verdict: {
            "degraded": sum(
                1 for (v, _s), d in zip(judged, labels, strict=True) if v == verdict and d
            ),
            "fine": sum(
                1 for (v, _s), d in zip(judged, labels, strict=True) if v == verdict and not d
            ),
        }
        for verdict in ("match", "caution", "mismatch")
    }
    return Numbers(
        pairs=len(pairs),
        degraded=int(y.sum()),
        auroc=auroc(scores, labels),
        recall_at_5pct=recall_at(scores, labels, MAX_FALSE_WARNINGS)[0],
        verdict_recall=float(warned[y].mean()) if y.any() else float("nan"),
        verdict_false_warnings=float(warned[~y].mean()) if (~y).any() else float("nan"),
        confusion=confusion,
    )


def scaled(name: str, kind: str, m: float) -> tuple[str, float, float]:
    """``name``'s default threshold as ``kind`` (for a ratio, the side or sides checked),
    warn/fail scaled by ``m`` (a power for ratios, a factor for absolute thresholds)."""
    _default_kind, warn, fail = DEFAULT_THRESHOLDS[name]
    if kind in RATIO_KINDS:
        return (kind, round(warn**m, 4), round(fail**m, 4))
    return (kind, round(warn * m, 4), round(fail * m, 4))


Choice = tuple[str, float] | None
"""One statistic's calibrated setting: (kind, multiplier), or None for the check removed."""
FIRST_PRINCIPLES: dict[str, Choice] = {n: (k, 1.0) for n, (k, _w, _f) in DEFAULT_THRESHOLDS.items()}
"""The first-principles thresholds as a calibration setting (every multiplier 1): where the
calibration starts."""


def choices(name: str) -> list[Choice]:
    """The calibration grid of one statistic: every multiplier, on both sides or on one
    side only for ratio checks, and the check removed."""
    kind = DEFAULT_THRESHOLDS[name][0]
    kinds = RATIO_KINDS if kind == "ratio" else (kind,)
    return [(k, m) for k in kinds for m in MULTIPLIERS if m is not None] + [None]


def thresholds_of(chosen: dict[str, Choice]) -> dict:
    """The thresholds of one setting per statistic."""
    return {name: scaled(name, *c) for name, c in chosen.items() if c is not None}


def objective(n: Numbers) -> float:
    """What calibration maximises: the verdicts' recall while their false warnings stay at
    or under 5 % (each point over costs 10 points of recall), then the score's AUROC."""
    over = max(0.0, n.verdict_false_warnings - MAX_FALSE_WARNINGS)
    return n.verdict_recall - 10 * over + 0.01 * n.auroc


def calibrate(
    pairs: list[Pair], *, log: Callable[[str], None], rounds: int = 2
) -> tuple[dict, dict[str, Choice]]:
    """Coordinate ascent over each statistic's setting (:func:`choices`) on the calibration
    pairs, then every check whose removal leaves the objective as it is removed (so that
    each check left earns its place). Returns the thresholds and the settings chosen."""
    chosen = dict(FIRST_PRINCIPLES)
    best = objective(numbers(pairs, thresholds_of(chosen)))
    for r in range(rounds):
        changed = False
        for name in DEFAULT_THRESHOLDS:
            for choice in choices(name):
                if choice == chosen[name]:
                    continue
                trial = chosen | {name: choice}
                value = objective(numbers(pairs, thresholds_of(trial)))
                if value > best + 1e-9:
                    best, chosen, changed = value, trial, True
            log(f"  round {r + 1}: {name} {chosen[name]} (objective {best:.4f})")
        if not changed:
            break
    for name in DEFAULT_THRESHOLDS:  # a check that changes nothing here is removed
        if chosen[name] is not None:
            trial = chosen | {name: None}
            value = objective(numbers(pairs, thresholds_of(trial)))
            if value >= best - 1e-9:
                best, chosen = max(best, value), trial
                log(f"  removed {name}: it changes no outcome (objective {best:.4f})")
    return thresholds_of(chosen), chosen


def ablation(pairs: list[Pair], thresholds: dict) -> dict[str, Numbers]:
    """The numbers with each check of the calibrated verdict (its statistics with
    ``thresholds`` and the metadata checks) removed in turn, for every pair."""
    names = sorted(
        {
            c.name
            for p in pairs
            for c in check_image(
                p.package, p.image, statistics=p.stats, thresholds=DEFAULT_THRESHOLDS, learned=False
            ).checks
            if c.status != "skip" and (c.kind == "metadata" or c.name in thresholds)
        }
    )
    return {name: numbers(pairs, thresholds, frozenset({name})) for name in names}


def consistency_numbers(pairs: list[Pair]) -> dict[str, float]:
    """Does the consistency score (computed after inference) flag the pairs whose output
    departs most from the truth?"""
    from scipy.stats import spearmanr

    scored = [p for p in pairs if p.consistency is not None and math.isfinite(p.consistency)]
    cons = [p.consistency for p in scored]
    deficit = [p.deficit for p in scored]
    far = [d > 3.0 for d in deficit]
    return {
        "pairs": len(scored),
        "auroc_degraded": auroc(cons, [p.degraded for p in scored]),
        "auroc_far": auroc(cons, far),
        "far_pairs": int(sum(far)),
        "spearman_deficit": float(spearmanr(cons, deficit).statistic),
        "median_fine": float(
            np.median([c for c, p in zip(cons, scored, strict=True) if not p.degraded])
        ),
        "median_degraded": float(
            np.median([c for c, p in zip(cons, scored, strict=True) if p.degraded])
        ),
    }
