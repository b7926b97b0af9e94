"""The learned score (:mod:`zoo.learned`) fitted and measured leave-one-source-out, and the
fit on every source that zoo ships (zoo/learned.json).

Each pair's features are :func:`zoo.learned.feature_row` of the check's own distances (the
:class:`~zoo_bench.domain.loso.Table` holds them at the first-principles thresholds). The
fit: L2-penalised logistic regression (Newton steps) on standardised features. The cuts, as
zoo applies them (:func:`zoo.learned.status_of`): ``caution`` where at most 5 % of the
training pairs that were not degraded warn, ``mismatch`` where at most 1 % do; a failing
fixed check (incompatible, another modality family) is a mismatch whatever the score.
Where the pairs carry the no-reference trial's outcome, a third cut, ``trial``: with
``zoo check --trial`` a lost trial is a caution from it (:func:`trial_cut`).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from zoo.checks import model_families
from zoo.learned import SIDES, feature_names, feature_row, level, status_of, trial_warns
from zoo.learned import score as score_of
from zoo_bench.domain.numbers import MAX_FALSE_WARNINGS, recall_at

Table = Any
"""zoo_bench.domain.loso.Table (each pair's checks as arrays), which calls this module."""

PENALTY = 1.0
"""The L2 penalty on the standardised coefficients (the intercept is not penalised)."""
MAX_REFUSALS = 0.01
"""The share of training pairs that were not degraded allowed a ``mismatch``."""
TRIAL_MATCH = 0.02
"""With the trial as the verdict's last stage (``zoo check --trial``): the share of degraded
training pairs allowed a ``match``, which sets the ``trial`` cut (issue 24's target)."""


def sides(table: Table) -> np.ndarray:
    """Every pair's :func:`zoo.learned.side_distances` (pairs × sides)."""
    return np.stack([np.sqrt(table.settings[(name, (kind, 1.0))][1]) for name, kind in SIDES], 1)


def features(table: Table) -> np.ndarray:
    """One row per pair of ``table``, before standardising."""
    em = np.array([("electron" in model_families(p.package)) for p in table.pairs])
    return feature_row(sides(table), np.sqrt(table.fixed_d2), table.fixed_status > 0, em)


def fit(
    x: np.ndarray, y: np.ndarray, penalty: float = PENALTY, weight: np.ndarray | None = None
) -> np.ndarray:
    """Coefficients (intercept first) of the L2-penalised logistic regression of ``y``, each
    row weighted by ``weight`` (1 when None)."""
    w = np.ones(len(y)) if weight is None else np.asarray(weight, np.float64)
    design = np.hstack([np.ones((len(x), 1)), x])
    # the intercept's tiny penalty keeps the steps finite when the labels are all one
    ridge = penalty * np.diag(np.r_[1e-6, np.ones(x.shape[1])])
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(design @ beta)))
        grad = design.T @ (w * (p - y)) + ridge @ beta
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return beta


def trial_wins(table: Table) -> np.ndarray | None:
    """Every pair's trial outcome (True: the model was estimated to beat the Gaussian filter;
    a trial that cannot run counts as won: it adds no warning); None when the trial was not
    run on the pairs."""
    wins = [p.trial_wins for p in table.pairs]
    if all(w is None for w in wins):
        return None
    return np.array([w is None or w for w in wins])


def trial_cut(score: np.ndarray, before: np.ndarray, y: np.ndarray, wins: np.ndarray) -> float:
    """The highest cut on the score such that, with every lost trial (not ``wins``) at or
    above it a caution, at most :data:`TRIAL_MATCH` of the degraded pairs (``y``) are left a
    ``match``; ``before``: each pair's status without the trial. The lowest score (every
    lost trial warns) when no cut reaches it."""
    missed = y & (before == 0)
    allowed = int(np.floor(TRIAL_MATCH * int(y.sum()))) - int((missed & wins).sum())
    catchable = np.sort(score[missed & ~wins])
    if allowed < 0 or not len(score):
        return float(score.min()) if len(score) else 0.0
    if allowed >= len(catchable):
        return float(score.max()) + 1.0
    # halfway to the next lower score, so that no pair sits on the cut
    below = catchable[allowed - 1] if allowed > 0 else catchable[0] - 1.0
    return float((below + catchable[allowed]) / 2)


def fitted_on(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, table: Table | None = None
) -> dict[str, Any]:
    """The rule fitted on the ``train`` pairs, as zoo/learned.json holds it; with the
    ``table`` whose pairs carry trial outcomes, the ``trial`` cut too."""
    mean, sd = x[train].mean(0), x[train].std(0)
    scale = np.where(sd > 0, sd, 1.0)
    beta = fit((x[train] - mean) / scale, y[train].astype(np.float64))
    score = beta[0] + ((x[train] - mean) / scale) @ beta[1:]
    good = np.sort(score[~y[train]])
    # the lowest score refused: above all but MAX_REFUSALS of the fine pairs (all of them
    # when training saw none)
    k = int(np.ceil((1 - MAX_REFUSALS) * len(good)))
    refused = good[k] if k < len(good) else (good[-1] if len(good) else score.max()) + 1.0
    out = {
        "features": feature_names(),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coefficients": beta.tolist(),
        "caution": recall_at(score, y[train], MAX_FALSE_WARNINGS)[1],
        "mismatch": float(refused),
    }
    wins = None if table is None else trial_wins(table)
    if wins is not None:
        before = judged(table, x, out)[0][train]
        cut = trial_cut(score, before, y[train], wins[train])
        out["trial"] = min(cut, out["caution"])
    return out


def judged(
    table: Table, x: np.ndarray, fitted: dict[str, Any], trial: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(status 0 match / 1 caution / 2 mismatch, score) of every pair of ``table`` (``x``:
    its :func:`features`) by ``fitted``, as zoo judges: a failing fixed check is a mismatch;
    with ``trial``, the trial's stage as ``zoo check --trial`` adds it."""
    score = score_of(x, fitted)
    status = status_of(score, sides(table), table.polarity_warned, fitted)
    status = np.maximum(status, np.where(table.fixed_status == 2, 2, 0))
    return (trial_stage(table, status, score, fitted) if trial else status), score


def trial_stage(
    table: Table, status: np.ndarray, score: np.ndarray, fitted: dict[str, Any]
) -> np.ndarray:
    """``status`` (:func:`judged` without the trial) with the trial's stage added, as ``zoo
    check --trial`` adds it."""
    warns = trial_warns(level(score, fitted), trial_wins(table), fitted)
    return np.maximum(status, warns.astype(np.int8))


class Judged(NamedTuple):
    """Every pair's verdict by the rule fitted without it: status (0 match / 1 caution /
    2 mismatch) and learned score, and the status with the trial's stage (``zoo check
    --trial``) where the pairs carry trial outcomes (else None)."""

    status: np.ndarray
    score: np.ndarray
    with_trial: np.ndarray | None


def judge_loso(
    table: Table, sources: np.ndarray, models: np.ndarray | None = None,
    views: Mapping[str, Table] | None = None,
) -> Judged:  # fmt: skip
    """Every pair judged by the rule fitted on the other sources (one fit a fold, which also
    gives the trial's cut); given each pair's model, each (source, model) by the rule fitted
    on the pairs of neither (a model published after the fit, on a source nobody calibrated
    on); ``views``: each source's fold as the family reading fitted without it reads the
    pairs (:func:`zoo_bench.domain.reading.read_by`)."""
    y = np.array([p.degraded for p in table.pairs])
    status, score = np.zeros(len(y), np.int8), np.zeros(len(y))
    tried = None if trial_wins(table) is None else np.zeros(len(y), np.int8)
    for source in sorted(set(sources)):
        here = sources == source
        fold = table if views is None else views[source]
        x = features(fold)
        for model in [None] if models is None else sorted(set(models[here])):
            held, train = here, ~here
            if model is not None:
                held, train = here & (models == model), ~here & (models != model)
            fitted = fitted_on(x, y, train, fold)
            s, sc = judged(fold, x, fitted)
            status[held], score[held] = s[held], sc[held]
            if tried is not None:
                tried[held] = trial_stage(fold, s, sc, fitted)[held]
    return Judged(status, score, tried)


def shipped(table: Table) -> dict[str, Any]:
    """The rule fitted on every pair: what ``scripts/bench_domain.py --loso`` writes to
    zoo/learned.json."""
    x, y = features(table), np.array([p.degraded for p in table.pairs])
    out = fitted_on(x, y, np.ones(len(y), bool), table)
    provenance = {"benchmark": "scripts/bench_domain.py --loso", "doc": "docs/domain-loso.md",
                  "date": datetime.date.today().isoformat(), "pairs": int(y.size),
                  "models": sorted({p.model for p in table.pairs})}  # fmt: skip
    return provenance | out


def coefficients(fitted: dict[str, Any]) -> dict[str, float]:
    """The fitted coefficients by feature (on standardised features)."""
    names = ["intercept", *fitted["features"]]
    return dict(zip(names, map(float, fitted["coefficients"]), strict=True))
