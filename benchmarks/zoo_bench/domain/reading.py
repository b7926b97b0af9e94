"""The family reading (:mod:`zoo.families`, zoo/families.json): which modality family an
image's contrast says it comes from, fitted on the training split alone.

A logistic regression of "dark on bright" (electron or transmitted light) against light
microscopy over :func:`zoo.families.reading_features`, fitted on 256² windows of the
training images of ../shared/data/SPLITS.md (never a held-out one), each window also
changed by every variant of the domain benchmark (:data:`~zoo_bench.domain.cases.VARIANTS`:
noise levels, correlated noise, stripes, saturation, pixel sizes, 8 bits, gain), with the
two families weighted equally. Its two cuts are set on the same windows: an image reads as
light microscopy below ``light_below`` (at most :data:`READ_AS_OTHER` of the dark-on-bright
windows do) and as dark on bright above ``dark_above`` (at most that share of the light
ones do). ``python scripts/bench_domain.py --reading`` writes zoo/families.json; the
leave-one-source-out benchmark fits one reading per source without that source's windows
(:func:`readings`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.checks import model_families
from zoo.errors import ImageError
from zoo.families import (
    READING_FEATURES,
    READING_FILE,
    WINDOW,
    dark_probability,
    fits_family,
    reading_features,
)
from zoo.thresholds import log_odds
from zoo_bench.domain.cases import VARIANTS, Base, _crops, _fit_noise
from zoo_bench.domain.learned import fit

READ_AS_OTHER = 0.02
"""The share of each family's training windows allowed to read as the other family."""
PENALTY = 10.0
"""The L2 penalty on the standardised coefficients (the equal family weights sum to the
number of windows)."""
SEED = 7
Table = Any
"""zoo_bench.domain.loso.Table (each pair's checks as arrays), which calls this module."""


@dataclass(frozen=True)
class Window:
    """One training window's reading statistics: its source (as the leave-one-source-out
    benchmark names sources), family (dark on bright or not) and variant."""

    source: str
    dark: bool
    variant: str
    features: np.ndarray


def _blurred(images: list[np.ndarray]) -> list[np.ndarray]:
    """A stand-in clean target for images without one (the variants' noise model is fitted
    against it): the image smoothed with a Gaussian of sigma 2."""
    from scipy import ndimage

    return [ndimage.gaussian_filter(np.asarray(a, np.float32), 2.0) for a in images]


def _sources() -> Iterator[tuple[str, bool, list, list, int]]:
    """(source, dark on bright, training images, their targets, windows per image): the
    training split of every fluorescence source the zoo's models trained on and of the EM
    slices."""
    from zoo_bench.training import data

    noisy, targets, _held = data.load_w2s8()
    yield "W2S", False, noisy, targets, 2
    noisy, targets, _held = data.load_nuclei_pairs()
    yield "nucleus tracking", False, noisy, targets, 40
    for load in (data.load_actin_pairs, data.load_mito_pairs):
        noisy, targets, _held = load()
        yield "GigaDB", False, noisy, targets, 20
    flim, _none, _held = data.load_flim()
    yield "FLIM", False, flim, _blurred(flim), 12
    hipsc, _none, _held = data.load_hipsc()
    yield "hiPSC", False, hipsc, _blurred(hipsc), 20
    noisy, targets = data.rcan3d_copies(1)
    yield "RCAN3D", False, noisy[::4], targets[::4], 2
    names = {"ISBI 2012": "EM-ISBI", "EPFL": "EM-EPFL"}
    for name, (noisy, targets) in data.em_sources().items():
        yield names[name], True, noisy, targets, 3


def windows(scale: float = 1.0, log: Callable[[str], None] = print) -> list[Window]:
    """Every training window (``scale`` < 1: that share of the windows per image, at least
    one, for a quicker fit), each as acquired and through every benchmark variant, seeded."""
    rng = np.random.default_rng(SEED)
    out: list[Window] = []
    for source, dark, noisy, targets, per in _sources():
        for n, t in zip(noisy, targets, strict=True):
            n, t = np.asarray(n), np.asarray(t)
            n, t = n.reshape(n.shape[-2:]), t.reshape(t.shape[-2:])
            crops = list(zip(_crops(n, WINDOW), _crops(t, WINDOW), strict=True))
            if not crops:
                continue
            count = min(len(crops), max(1, round(per * scale)))
            for i in rng.choice(len(crops), size=count, replace=False):
                (_, a), (_, b) = crops[int(i)]
                if np.ptp(b) == 0:
                    continue
                base = Base(source, a, b, source, _fit_noise(a, b))
                for variant, make in VARIANTS.items():
                    image, _target = make(base, np.random.default_rng(int(rng.integers(1 << 30))))
                    try:
                        out.append(Window(source, dark, variant, reading_features(image)))
                    except ImageError:
                        continue  # a flat window (a variant clipped it): nothing to read
        log(f"  reading windows: {source} ({len(out)} so far)")
    return out


def _cut(values: np.ndarray) -> float:
    """A cut with at most :data:`READ_AS_OTHER` of ``values`` below it: halfway between the
    values either side, so that no window sits on it."""
    ordered = np.sort(values)
    k = int(np.floor(READ_AS_OTHER * len(ordered)))
    return float(ordered[0] - 1e-9 if k == 0 else (ordered[k - 1] + ordered[k]) / 2)


def fit_reading(ws: list[Window], left_out: str | None = None) -> dict[str, Any]:
    """The reading fitted on the windows of every source but ``left_out``, as
    zoo/families.json holds it."""
    kept = [w for w in ws if w.source != left_out]
    x = np.array([w.features for w in kept])
    y = np.array([w.dark for w in kept])
    mean, sd = x.mean(0), x.std(0)
    scale = np.where(sd > 0, sd, 1.0)
    weight = np.where(y, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    beta = fit((x - mean) / scale, y.astype(np.float64), PENALTY, weight)
    out: dict[str, Any] = {
        "features": list(READING_FEATURES),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coefficients": beta.tolist(),
    }
    prob = 1 / (1 + np.exp(-log_odds(x, out)))
    return out | {
        "light_below": _cut(prob[y]),
        "dark_above": 1.0 - _cut(1.0 - prob[~y]),
        "windows": {
            s: sum(w.source == s for w in kept) for s in dict.fromkeys(w.source for w in kept)
        },
        "left_out": left_out,
    }


def shipped_reading(ws: list[Window]) -> dict[str, Any]:
    """The reading fitted on every window; raises when zoo/families.json is another one
    (``scripts/bench_domain.py --reading`` writes it), so that the benchmark measures what
    zoo ships."""
    from zoo.families import READING

    every = fit_reading(ws)
    if not READING or not np.allclose(READING["coefficients"], every["coefficients"]):
        raise RuntimeError(
            f"{READING_FILE} is not the family reading of the training windows: run "
            "scripts/bench_domain.py --reading first"
        )
    return every


def readings(ws: list[Window], sources: list[str]) -> dict[str, dict[str, Any]]:
    """For each benchmark source, the reading fitted without its windows (the same fit for
    a source no window comes from)."""
    every = fit_reading(ws)
    own = {w.source for w in ws}
    return {s: fit_reading(ws, s) if s in own else every for s in sources}


def read_by(table: Table, fitted: dict[str, Any]) -> Table:
    """``table`` (:class:`zoo_bench.domain.loso.Table`) with every pair's polarity check as
    the reading ``fitted`` judges it: whether it warns, and the fixed checks' status and
    distance with it."""
    warned = table.polarity_warned.copy()
    dark: dict[int, float] = {}
    for i, (pair, read) in enumerate(zip(table.pairs, table.readings, strict=True)):
        if not table.has_polarity[i] or read is None or not read.features:
            continue
        if id(read) not in dark:
            dark[id(read)] = dark_probability(np.array(read.features), fitted)
        warned[i] = not fits_family(model_families(pair.package), read.value, small=read.small,
                                    dark=dark[id(read)], fitted=fitted,
                                    clipped=read.clipped)  # fmt: skip
    return dataclasses.replace(
        table,
        fixed_status=np.maximum(table.rest_status, warned.astype(np.int8)),
        fixed_d2=table.fixed_d2 - table.polarity_warned + warned,
        polarity_warned=warned,
    )


def write(fitted: dict[str, Any]) -> None:
    """zoo/families.json: the reading fitted on every training window, dated."""
    out = fitted | {"date": datetime.date.today().isoformat(),
                    "read_as_other": READ_AS_OTHER}  # fmt: skip
    READING_FILE.write_text(json.dumps(out, indent=1) + "\n")
