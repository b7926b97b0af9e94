"""The synthetic noise the generalists train on (zoo_bench.training.data): levels,
correlation between neighbours, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_bench.training.data import (
    CORRELATED_COPIES,
    SYNTHETIC_PEAKS,
    SYNTHETIC_READ,
    _correlate,
    synthesise,
)


def _lag1(noise: np.ndarray, axis: int) -> float:
    a = noise - noise.mean()
    head = a[:, :-1] if axis == 1 else a[:-1]
    tail = a[:, 1:] if axis == 1 else a[1:]
    return float((head * tail).mean() / (a * a).mean())


def test_correlated_noise_has_the_designed_correlation_and_variance() -> None:
    white = np.random.default_rng(0).normal(0, 2.0, (512, 512))
    a, b = 0.3, 0.1
    out = _correlate(white, a, b)
    assert _lag1(out, 1) == pytest.approx(2 * a / (1 + 2 * a * a), abs=0.02)
    assert _lag1(out, 0) == pytest.approx(2 * b / (1 + 2 * b * b), abs=0.02)
    assert out.std() == pytest.approx(2.0, rel=0.02)


WIDE = (4.0, 15.0, 60.0, 250.0, 1000.0)
"""care-fluorescence-generalist's levels since 0.2.0 (its recipe's data_args)."""


@pytest.mark.parametrize("levels", [SYNTHETIC_PEAKS, WIDE])
def test_copies_cover_the_levels_and_are_seeded(levels: tuple[float, ...]) -> None:
    clean = np.full((256, 256), 100.0)
    clean[64:192, 64:192] = 1000.0
    copies = synthesise(clean, seed=4, correlated=CORRELATED_COPIES, peaks=levels)
    assert len(copies) == len(levels) + CORRELATED_COPIES
    again = synthesise(clean, seed=4, correlated=CORRELATED_COPIES, peaks=levels)
    assert all(np.array_equal(n, m) for (n, _), (m, _) in zip(copies, again, strict=True))
    peaks = [float(t.max()) for _n, t in copies]
    assert peaks[: len(levels)] == pytest.approx(levels, rel=1e-6)
    assert all(levels[0] <= p <= levels[-1] for p in peaks)
    for noisy, target in copies[: len(levels)]:
        # photon units: Poisson variance (= the target) plus the read noise
        flat = (noisy - target)[target == target.max()]
        assert flat.var() == pytest.approx(target.max() + SYNTHETIC_READ**2, rel=0.1)
        assert abs(_lag1((noisy - target)[80:176, 80:176], 1)) < 0.05
    for noisy, target in copies[len(levels) :]:
        flat = (noisy - target)[80:176, 80:176]
        assert _lag1(flat, 1) > 0.15


def test_a_recipe_s_synthesis_settings_reach_its_training_and_its_fingerprints() -> None:
    """The generalist's recipe sets its noise levels and RCAN3D copies (data_args) for the
    images it trains on and for the sources its card fingerprints alike; leaving a source out
    keeps the levels and, as those runs were made (0.2.0's recipe), leaves the copies out."""
    from zoo_bench.training import specs

    spec = specs.load_spec(specs.GENERALIST)
    assert spec.version == "0.3.0"
    synthesis = {"peaks": list(WIDE), "rcan3d_sets": 2}
    assert spec.load.keywords == synthesis  # type: ignore[attr-defined]
    assert spec.sources.keywords == synthesis  # type: ignore[union-attr]
    out = specs.leave_one_out("GigaDB")
    assert out.load.keywords == synthesis | {"without": "GigaDB", "rcan3d_sets": 0}  # type: ignore[attr-defined]
    assert out.config.filters == specs.LEAVE_OUT_FILTERS < spec.config.filters
