"""The verdict's learned score: one model-independent rule for every model of the zoo.

A logistic regression over the domain check's own distances estimates how likely a model is
to do worse on an image than the best zoo model for it or a Gaussian filter with the best
sigma (what docs/domain-loso.md calls degraded). Its features, for a pair (model, image):
every statistic's distance from the model's training range on each side it can be checked
(first-principles thresholds: 1 at the warn threshold, 0 inside the range), the fixed
checks' combined distance and whether one of them warned, and whether the model is an
electron-microscopy one; each as log(1 + x), standardised. ``scripts/bench_domain.py
--loso`` fits it on every published model and every source and writes ``zoo/learned.json``:
the coefficients and two cuts on the score, ``caution`` (where at most 5 % of the pairs that
were not degraded warn) and ``mismatch`` (at most 1 %). Whatever the score, a failure of a
:data:`STANDING` statistic is a mismatch and a polarity read as another modality family a
caution (:func:`status_of`). The same rule, fitted on every source but one, is measured on
the source left out (docs/domain-loso.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.checks import Check, check_statistics, model_families
from zoo.imageio import Image
from zoo.package import Package
from zoo.spec import Fingerprint, Stat
from zoo.thresholds import DEFAULT_THRESHOLDS, RATIO_KINDS, log_odds, read_fitted

__all__ = [
    "LEARNED",
    "SIDES",
    "STANDING",
    "broken",
    "feature_names",
    "feature_row",
    "fixed_summary",
    "learned_check",
    "level",
    "other_family",
    "side_distances",
    "status_of",
    "trial_level",
    "trial_warns",
]

LEARNED_FILE = Path(__file__).with_name("learned.json")

SIDES: list[tuple[str, str]] = [
    (name, side)
    for name, (kind, _w, _f) in DEFAULT_THRESHOLDS.items()
    for side in ([k for k in RATIO_KINDS if k != "ratio"] if kind == "ratio" else [kind])
]
"""(statistic, threshold kind) of every statistic on each side it can be checked."""


def feature_names() -> list[str]:
    names = [f"{name} ({kind})" for name, kind in SIDES]
    return [*names, "fixed checks' distance", "a fixed check warned", "electron-microscopy model"]


def side_distances(
    package: Package, image: Image, reference: Fingerprint, statistics: Mapping[str, Stat] | None
) -> np.ndarray:
    """The image's distance from ``reference`` on every side of :data:`SIDES` (0 where the
    statistic is not compared, e.g. intensities for a model that rescales each image)."""
    out = np.zeros(len(SIDES))
    for i, (name, kind) in enumerate(SIDES):
        _kind, warn, fail = DEFAULT_THRESHOLDS[name]
        found = check_statistics(package, image, reference, {name: (kind, warn, fail)}, statistics)
        out[i] = sum(c.distance for c in found)
    return out


def fixed_summary(fixed: Sequence[Check]) -> tuple[float, bool]:
    """(combined distance, whether any warned or failed) of the fixed checks: compatibility,
    metadata and polarity."""
    distance = math.sqrt(sum(c.distance**2 for c in fixed))
    return distance, any(c.status in ("warn", "fail") for c in fixed)


def feature_row(
    sides: np.ndarray, fixed_distance: np.ndarray, fixed_warned: np.ndarray, electron: np.ndarray
) -> np.ndarray:
    """Features before standardising, one row per pair (or one row for scalars): ``sides``
    from :func:`side_distances` (pairs × sides), then :func:`fixed_summary` and whether the
    model is an electron-microscopy one."""
    cols = np.column_stack([np.atleast_2d(sides), fixed_distance, fixed_warned, electron])
    return np.log1p(np.nan_to_num(cols.astype(np.float64)))


STANDING = ("structure_scale", "noise_corr_x", "noise_corr_y", "intensity_median", "intensity_iqr")
"""Statistics whose failure (distance ≥ 2 at the first-principles thresholds) is a mismatch
whatever the score: each breaks an assumption every denoiser makes (the pixel size it
learnt structures at, pixel-independent noise, the intensity scale of a fixed
normalisation). The score may tolerate their warnings, not their failures."""


def broken(sides: np.ndarray) -> np.ndarray:
    """Per row of :func:`side_distances`: does a :data:`STANDING` statistic fail?"""
    cols = [i for i, (name, _kind) in enumerate(SIDES) if name in STANDING]
    return np.asarray((np.atleast_2d(sides)[:, cols] >= 2).any(1))


def status_of(
    score: np.ndarray, sides: np.ndarray, other_family: np.ndarray, fitted: Mapping[str, Any]
) -> np.ndarray:
    """0 ok / 1 warn / 2 fail of learned scores by the fitted cuts; 2 where a
    :data:`STANDING` statistic fails (``sides``: the rows' :func:`side_distances`), at least
    1 where the contrast polarity reads as another modality family than the model's
    (``other_family``): whatever the score, a model is not run on another family's images
    without a word."""
    status = (score >= fitted["caution"]).astype(np.int8) + (score >= fitted["mismatch"])
    status = np.maximum(status, np.asarray(other_family, np.int8))
    return np.where(broken(sides), 2, status).astype(np.int8)


def other_family(fixed: Sequence[Check]) -> bool:
    """Does the polarity check among ``fixed`` read the image as another family?"""
    return any(c.name == "polarity" and c.status == "warn" for c in fixed)


def level(score: np.ndarray, fitted: Mapping[str, Any]) -> np.ndarray:
    """The learned scores on the checks' scale of distances: 1 at the ``caution`` cut, 2 at
    the ``mismatch`` cut, linear in the log-odds between and beyond; below the caution cut
    the odds relative to it (0 when far inside)."""
    c, m = fitted["caution"], fitted["mismatch"]
    s = np.asarray(score, np.float64)
    return np.where(s < c, np.exp(np.minimum(s - c, 0.0)), 1.0 + (s - c) / max(m - c, 1e-9))


def trial_warns(learned: np.ndarray, wins: np.ndarray, fitted: Mapping[str, Any]) -> np.ndarray:
    """Per pair: does the no-reference trial (:mod:`zoo.trial`, ``zoo check --trial``) warn?
    When the model is estimated not to beat the best Gaussian filter (not ``wins``) and the
    learned score on the checks' scale (``learned``: :func:`level`, as a report holds it,
    to 4 decimals) is at or above :func:`trial_level`. A lost trial is a caution, never a
    refusal by itself: its estimate misjudges images whose noise its model does not describe
    (docs/domain-loso.md measures how often)."""
    lost = ~np.asarray(wins, bool)
    held = np.round(np.asarray(learned, np.float64), 4)
    return lost & (held >= round(trial_level(fitted), 4))


def trial_level(fitted: Mapping[str, Any] | None = None) -> float:
    """:func:`trial_warns`'s cut on the checks' scale (:func:`level`, what a report's
    ``learned`` holds); 0, every lost trial warns, when no cut is fitted."""
    fitted = LEARNED if fitted is None else fitted
    if not fitted or "trial" not in fitted:
        return 0.0
    return float(level(np.array(fitted["trial"]), fitted))


LEARNED: dict[str, Any] = read_fitted(LEARNED_FILE)
"""What ``scripts/bench_domain.py --loso`` fitted: ``features``, ``mean``, ``scale``,
``coefficients`` (intercept first), the ``caution`` and ``mismatch`` cuts on the score, the
``trial`` cut (:func:`trial_warns`), and their provenance; empty when the file is absent
(the checks' own thresholds decide then)."""


def score(row: np.ndarray, fitted: Mapping[str, Any]) -> np.ndarray:
    """The logistic scores (log-odds of degraded) of :func:`feature_row`'s rows."""
    return log_odds(row, fitted)


def learned_check(
    package: Package,
    image: Image,
    reference: Fingerprint,
    fixed: Sequence[Check],
    statistics: Mapping[str, Stat] | None,
    departures: Sequence[str],
    fitted: Mapping[str, Any] | None = None,
) -> Check | None:
    """The learned score of ``image`` against ``reference`` (the card's fingerprint) as a
    check: warn from ``caution``, fail from ``mismatch``; None when nothing is fitted.
    ``fixed``: the compatibility, metadata and polarity checks; ``departures`` names the
    checks outside the training range; ``fitted``: :data:`LEARNED` unless given."""
    fitted = LEARNED if fitted is None else fitted
    if not fitted:
        return None
    if fitted["features"] != feature_names():
        raise RuntimeError(
            f"{LEARNED_FILE} was fitted on other features than zoo computes: rerun "
            "scripts/bench_domain.py --loso"
        )
    sides = side_distances(package, image, reference, statistics)
    electron = "electron" in model_families(package)
    value = float(score(feature_row(sides, *fixed_summary(fixed), electron), fitted)[0])
    other = other_family(fixed)
    status = ("ok", "warn", "fail")[int(status_of(np.array(value), sides, other, fitted)[0])]
    standing = [n for (n, _k), d in zip(SIDES, sides, strict=True) if n in STANDING and d >= 2]
    lv = float(level(np.array(value), fitted))
    named = f" ({', '.join(departures)})" if departures else ""
    said = f"learned score {lv:.2f}: caution from 1, mismatch from 2"
    if status == "ok":
        message = (
            f"The image's departures from the training data{named} are of a kind and size "
            f"the zoo's models were measured to tolerate ({said})."
            if departures
            else f"Nothing departs from the training data ({said})."
        )
    elif other and not standing and lv < 1:
        message = (
            f"The contrast reads as another modality family than the model's (polarity): "
            f"whatever the score of the image's departures{named} ({said}), check the "
            f"modality (--modality) before trusting the output."
        )
    elif standing and lv < 2:
        message = (
            f"{', '.join(sorted(set(standing)))} beyond the failing threshold: an assumption "
            f"every denoiser makes is broken (the pixel size its structures were learnt at, "
            f"pixel-independent noise or a fixed intensity scale), whatever the score of the "
            f"image's departures{named} ({said})."
        )
    else:
        message = (
            f"Taken together, the image's departures from the training data{named} predict "
            f"that the model does worse here than a Gaussian filter or another zoo model "
            f"({said})."
        )
    return Check(
        name="learned score", kind="statistics", status=status, measured=round(lv, 4),
        expected=[None, 1.0], message=message,
        distance=round(max(lv, {"ok": 0.0, "warn": 1.0, "fail": 2.0}[status]), 4),
    )  # fmt: skip
