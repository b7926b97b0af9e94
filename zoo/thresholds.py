"""The domain check's thresholds: first-principles defaults, calibrated ones, and distances.

A threshold is ``(kind, warn, fail)`` per statistic; :func:`thresholds_for` picks the
calibrated thresholds of ``zoo/calibration.json`` for the models calibrated on real images of
their domain, the defaults for every other model. How they were chosen and calibrated:
docs/domain-check.md and docs/domain-benchmark.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from zoo.package import Package
    from zoo.spec import Stat

__all__ = [
    "CALIBRATION",
    "DEFAULT_THRESHOLDS",
    "RATIO_KINDS",
    "THRESHOLDS",
    "Thresholds",
    "ok_range",
    "ratio_distance",
    "read_fitted",
    "stat_distance",
    "thresholds_for",
]

Thresholds = Mapping[str, tuple[str, float, float]]

DEFAULT_THRESHOLDS: dict[str, tuple[str, float, float]] = {
    # statistic: (kind, warn, fail)
    # "ratio": measured / typical outside [1/warn, warn] warns, outside [1/fail, fail] fails,
    #          beyond the range seen in training (low..high)
    # "ratio_below", "ratio_above": the same on one side only (measured below the training
    #          low, or above the training high, by the factor); for models whose outcome
    #          degrades in one direction only
    # "above": measured above the training high by more than warn / fail (absolute)
    # "below": measured below the training low by more than warn / fail (absolute)
    # "outside": measured outside [low, high] by more than warn / fail (absolute)
    # "below_typical": measured below the training value by more than warn / fail (absolute);
    #          for statistics whose tile-to-tile range mixes background and foreground
    "structure_scale": ("ratio", 1.5, 2.5),
    "noise_corr_x": ("above", 0.1, 0.25),
    "noise_corr_y": ("above", 0.1, 0.25),
    "noise_sigma": ("ratio", 1.5, 2.5),
    "snr_db": ("below_typical", 6.0, 12.0),
    "shot_noise_fraction": ("outside", 0.25, 0.5),
    "intensity_median": ("ratio", 2.0, 5.0),
    "intensity_iqr": ("ratio", 2.0, 5.0),
    "saturated_fraction": ("above", 0.01, 0.05),
}
"""First-principles thresholds of the statistical checks, before calibration."""

RATIO_KINDS = ("ratio", "ratio_below", "ratio_above")
"""Threshold kinds on the factor between measured and training values (both sides, or one)."""

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


def read_fitted(path: Path) -> dict[str, Any]:
    """A file a benchmark fitted (zoo/calibration.json, zoo/learned.json) as it wrote it;
    empty when the file is absent."""
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def log_odds(rows: np.ndarray, fitted: Mapping[str, Any]) -> np.ndarray:
    """The log-odds of a fitted logistic regression (zoo/learned.json, zoo/families.json:
    ``mean``, ``scale`` and ``coefficients``, intercept first) for rows of raw features."""
    z = (np.asarray(rows, np.float64) - np.asarray(fitted["mean"])) / np.asarray(fitted["scale"])
    beta = np.asarray(fitted["coefficients"])
    return np.asarray(beta[0] + z @ beta[1:])


CALIBRATION: dict[str, Any] = read_fitted(CALIBRATION_FILE)
"""What ``scripts/bench_domain.py`` calibrated, as it wrote it: ``models``, ``thresholds`` and
their provenance (``benchmark``, ``date``, ``heldout`` numbers); empty when the file is absent."""

THRESHOLDS: dict[str, tuple[str, float, float]] = {
    name: (kind, float(warn), float(fail))
    for name, (kind, warn, fail) in CALIBRATION.get("thresholds", DEFAULT_THRESHOLDS).items()
}
"""The calibrated thresholds (the defaults when ``zoo/calibration.json`` is absent), in force
for the models (package names) of ``CALIBRATION["models"]``."""


def thresholds_for(package: Package) -> dict[str, tuple[str, float, float]]:
    """The thresholds for ``package``: calibrated ones for a calibrated model with a card,
    else the first-principles defaults."""
    calibrated = package.card is not None and package.name in CALIBRATION.get("models", ())
    return THRESHOLDS if calibrated else DEFAULT_THRESHOLDS


def ratio_distance(measured: float, typical: float, warn: float, fail: float) -> float:
    """Distance of a positive quantity from ``typical``: 1 at ``warn``×, 2 at ``fail``×."""
    if measured <= 0 or typical <= 0:
        return 0.0
    r = abs(math.log(measured / typical))
    w, f = math.log(warn), math.log(fail)
    return r / w if r <= w else 1.0 + (r - w) / (f - w)


def stat_distance(name: str, measured: float, ref: Stat, thresholds: Thresholds) -> float:
    """Distance of ``measured`` from the training range ``ref`` under ``thresholds[name]``:
    0 inside the range, 1 at the warn threshold, 2 at the fail threshold."""
    kind, warn, fail = thresholds[name]
    if kind in RATIO_KINDS:
        below, above = measured < ref.low, measured > ref.high
        if not ((below and kind != "ratio_above") or (above and kind != "ratio_below")):
            return 0.0  # inside the training range, or outside on the side not checked
        edge = ref.high if measured > ref.high else ref.low
        if edge <= 0 or measured <= 0:
            return 2.0 if measured != edge else 0.0
        return ratio_distance(measured, edge, warn, fail)
    if kind == "outside":
        excess = max(measured - ref.high, ref.low - measured)
    elif kind == "below_typical":
        excess = ref.value - measured
    else:
        excess = measured - ref.high if kind == "above" else ref.low - measured
    if excess <= 0:
        return 0.0
    return excess / warn if excess <= warn else 1.0 + (excess - warn) / (fail - warn)


def ok_range(name: str, ref: Stat, thresholds: Thresholds) -> list[float | None]:
    """The range of values that passes (``None``: unbounded), as reported to the user."""
    kind, warn, _fail = thresholds[name]
    low, high = round(ref.low, 6), round(ref.high, 6)
    if kind == "above":
        return [None, round(ref.high + warn, 6)]
    if kind == "below_typical":
        return [round(ref.value - warn, 6), None]
    if kind == "outside":
        return [round(ref.low - warn, 6), round(ref.high + warn, 6)]
    if low > 0:
        low, high = round(ref.low / warn, 6), round(ref.high * warn, 6)
    return [None if kind == "ratio_above" else low, None if kind == "ratio_below" else high]
