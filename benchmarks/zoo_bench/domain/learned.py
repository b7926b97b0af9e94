"""A learned score beside the calibrated check: a logistic regression over the check's own
distances, fitted leave-one-source-out (issue 24's model-independent rule, measured; zoo
does not ship it yet).

Features of a pair (model, image): for every statistic, its distance from the model's
training range on each side it can be checked (1 at the first-principles warn threshold,
0 inside the range), the fixed checks' combined distance and whether any of them warned, and
whether the model is an electron-microscopy one; each as log(1 + x), standardised on the
training pairs. The fit: L2-penalised logistic regression (Newton steps) on the pairs of
every source but one; the pairs of that source are scored, and warned where their score
reaches the cut that keeps false warnings at ≤ 5 % on the training pairs. A fixed check that
fails (incompatible, another modality family) warns whatever the score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.checks import model_families
from zoo.domain import DEFAULT_THRESHOLDS
from zoo_bench.domain.numbers import MAX_FALSE_WARNINGS, RATIO_KINDS, recall_at

Table = Any
"""zoo_bench.domain.loso.Table (each pair's checks as arrays), which calls this module."""

PENALTY = 1.0
"""The L2 penalty on the standardised coefficients (the intercept is not penalised)."""


def _sides() -> list[tuple[str, str]]:
    """(statistic, kind) of every statistic on each side it can be checked."""
    one_sided = [k for k in RATIO_KINDS if k != "ratio"]
    return [(name, k)
            for name, (kind, _w, _f) in DEFAULT_THRESHOLDS.items()
            for k in (one_sided if kind == "ratio" else [kind])]  # fmt: skip


def feature_names() -> list[str]:
    names = [f"{name} ({kind})" for name, kind in _sides()]
    return [*names, "fixed checks' distance", "a fixed check warned", "electron-microscopy model"]


def features(table: Table) -> np.ndarray:
    """One row per pair of ``table`` (see the module's docstring), before standardising."""
    cols = [np.sqrt(table.settings[(name, (kind, 1.0))][1]) for name, kind in _sides()]
    em = [("electron" in model_families(p.package)) for p in table.pairs]
    cols += [np.sqrt(table.fixed_d2), table.fixed_status > 0, np.array(em)]
    return np.nan_to_num(np.log1p(np.stack(cols, 1).astype(np.float64)))


def fit(x: np.ndarray, y: np.ndarray, penalty: float = PENALTY) -> np.ndarray:
    """Coefficients (intercept first) of the L2-penalised logistic regression of ``y``."""
    design = np.hstack([np.ones((len(x), 1)), x])
    # the intercept's tiny penalty keeps the steps finite when the labels are all one
    ridge = penalty * np.diag(np.r_[1e-6, np.ones(x.shape[1])])
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(design @ beta)))
        grad = design.T @ (p - y) + ridge @ beta
        hess = (design * (p * (1 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return beta


def _fitted(x: np.ndarray, y: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, float]:
    """Every pair's score by the model fitted on ``train``, and the training cut."""
    mu, sd = x[train].mean(0), x[train].std(0)
    z = (x - mu) / np.where(sd > 0, sd, 1.0)
    beta = fit(z[train], y[train].astype(np.float64))
    score = beta[0] + z @ beta[1:]
    return score, recall_at(score[train], y[train], MAX_FALSE_WARNINGS)[1]


def judge_loso(table: Table, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(status 0 match / 1 caution / 2 mismatch, score) of every pair, each source scored by
    the model fitted on the others."""
    x, y = features(table), np.array([p.degraded for p in table.pairs])
    status, score = np.zeros(len(y), np.int8), np.zeros(len(y))
    for source in sorted(set(sources)):
        held = sources == source
        s, cut = _fitted(x, y, ~held)
        score[held] = s[held]
        status[held] = np.where(table.fixed_status[held] == 2, 2, s[held] >= cut)
    return status, score


def coefficients(table: Table) -> dict[str, Any]:
    """The model fitted on every source: its coefficients by feature (standardised)."""
    x, y = features(table), np.array([p.degraded for p in table.pairs])
    sd = x.std(0)
    beta = fit((x - x.mean(0)) / np.where(sd > 0, sd, 1.0), y.astype(np.float64))
    return dict(zip(["intercept", *feature_names()], map(float, beta), strict=True))
