"""The no-reference trial (zoo.trial): SURE estimates of a result's error without a target,
checked against the truth where the clean image is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from typer.testing import CliRunner

from tests.conftest import REPO
from zoo.cli import app
from zoo.provenance import Provenance
from zoo.trial import (
    TRIAL_SIGMAS,
    Sums,
    gaussian_terms,
    model_terms,
    noise_level,
    noise_variance,
)

ENV = ["--registry", str(REPO)]


def blobs(seed: int, shape: tuple[int, int] = (256, 256)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = ndimage.gaussian_filter(rng.uniform(0, 1, shape), 4)
    return 20 + 180 * (clean - clean.min()) / np.ptp(clean)


def _true_mse(result: np.ndarray, clean: np.ndarray) -> float:
    """The error after the best affine fit of the result, as SURE's ``risk`` estimates it."""
    design = np.stack([result.ravel(), np.ones(result.size)], axis=1)
    coef, *_ = np.linalg.lstsq(design, clean.ravel(), rcond=None)
    return float(np.mean((design @ coef - clean.ravel()) ** 2))


@pytest.mark.parametrize("noise", ["gaussian", "poisson-gaussian"])
def test_the_gaussian_filters_estimates_follow_their_true_error(noise: str) -> None:
    clean = blobs(0)
    rng = np.random.default_rng(1)
    if noise == "gaussian":
        noisy = clean + rng.normal(0, 12, clean.shape)
    else:
        noisy = rng.poisson(clean / 2) * 2 + rng.normal(0, 3, clean.shape)
    slope, offset = noise_level(noisy)
    var = noise_variance(noisy, slope, offset)
    crop = (slice(16, -16), slice(16, -16))
    estimates, truths = [], []
    for k, terms in enumerate(gaussian_terms(noisy, var, crop)):
        sums = Sums()
        sums.add(*terms)
        estimates.append(sums.risk())
        truths.append(_true_mse(ndimage.gaussian_filter(noisy, TRIAL_SIGMAS[k])[crop], clean[crop]))
    estimates, truths = np.array(estimates), np.array(truths)
    # the same sigma is best, and each estimate is near the truth (relative to the noise)
    assert abs(TRIAL_SIGMAS[np.argmin(estimates)] / TRIAL_SIGMAS[np.argmin(truths)] - 1) < 0.35
    assert np.max(np.abs(estimates - truths)) < 0.05 * np.mean(var)


def test_the_monte_carlo_divergence_matches_the_exact_one() -> None:
    """A Gaussian filter scored as a black box (Monte-Carlo divergence) agrees with its
    exact SURE (the kernel's centre weight)."""
    clean = blobs(2)
    noisy = clean + np.random.default_rng(3).normal(0, 10, clean.shape)
    var = np.full(noisy.shape, 100.0)
    crop = (slice(16, -16), slice(16, -16))
    k = TRIAL_SIGMAS.index(min(TRIAL_SIGMAS, key=lambda s: abs(s - 1.5)))
    exact, black_box = Sums(), Sums()
    exact.add(*gaussian_terms(noisy, var, crop)[k])
    black_box.add(*model_terms(lambda a: ndimage.gaussian_filter(a, TRIAL_SIGMAS[k]), noisy, var,
                               crop, probes=2, rng=np.random.default_rng(0)))  # fmt: skip
    assert abs(black_box.risk() - exact.risk()) < 0.02 * 100


@pytest.fixture(scope="module")
def w2s_field(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A held-out W2S field (SPLITS.md) as a uint8 TIFF."""
    from zoo_bench.training.data import load_w2s8

    held = {p.name: p.noisy for p in load_w2s8()[2]}
    path = tmp_path_factory.mktemp("w2s") / "w2s_041_0.tif"
    tifffile.imwrite(path, held["W2S 041_0"])
    return path


@pytest.mark.parametrize(("model", "wins"), [("care-widefield-w2s", True),
                                             ("care-mito-widefield", False)])  # fmt: skip
def test_check_trial_tells_a_model_that_helps_from_one_that_does_not(
    model: str, wins: bool, w2s_field: Path, tmp_path: Path
) -> None:
    """The truth (docs/models-heldout.json): care-widefield-w2s beats the best-sigma
    Gaussian on this field by 1.2 dB, care-mito-widefield falls 5.6 dB below it."""
    result = CliRunner().invoke(
        app, ["check", model, str(w2s_field), "--trial", "--json", *ENV, "--cache", str(tmp_path)]
    )
    assert result.exit_code in (0, 3, 4), result.output
    trial = json.loads(result.output)["trial"]
    assert trial["model_wins"] is wins
    assert trial["estimator"] == "SURE" and trial["windows"] == 4 and trial["pixels"] == 512 * 512


def test_run_trial_records_the_trial_in_the_provenance(w2s_field: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "care-widefield-w2s",
            str(w2s_field),
            "-o",
            str(out),
            "--trial",
            *ENV,
            "--cache",
            str(tmp_path / "cache"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "trial: the model beats a Gaussian filter" in result.output
    provenance = Provenance.from_file(Path(f"{out}.json"))
    assert provenance.trial is not None and provenance.trial.model_wins
    assert provenance.trial.gain_db is not None and provenance.trial.gain_db > 0


def test_the_per_pixel_terms_average_to_the_estimate() -> None:
    """:func:`pixel_risk` at :meth:`Sums.fit`'s map is the estimate pixel by pixel (the
    adaptation's paired standard error rests on it)."""
    from zoo.trial import Sums, pixel_risk

    rng = np.random.default_rng(3)
    y = rng.normal(5, 1, (40, 50))
    terms = (0.8 * y + rng.normal(0, 0.1, y.shape), y, np.full(y.shape, 1.0),
             np.full(y.shape, 0.2))  # fmt: skip
    sums = Sums()
    sums.add(*terms)
    assert float(pixel_risk(terms, *sums.fit()).mean()) == pytest.approx(sums.risk())


def test_the_trial_is_the_check_s_last_stage(w2s_field: Path, tmp_path: Path) -> None:
    """--trial adds the trial as the check's last stage: care-mito-widefield on a W2S field
    (already a mismatch by its learned score) gets a warning ``trial`` check (estimated not
    to beat a Gaussian filter; a lost trial warns, never refuses by itself:
    tests/test_learned.py), zoo check exits 4, zoo run refuses (nothing written) unless
    forced, and records the trial in the provenance."""
    cache = ["--cache", str(tmp_path / "cache")]
    loses = CliRunner().invoke(app, ["check", "care-mito-widefield", str(w2s_field),
                                     "--trial", "--json", *ENV, *cache])  # fmt: skip
    assert loses.exit_code == 4, loses.output
    [check] = [c for c in json.loads(loses.output)["checks"] if c["name"] == "trial"]
    assert check["status"] == "warn" and check["kind"] == "trial" and check["measured"] < 0
    out = tmp_path / "out.tif"
    args = ["run", "care-mito-widefield", str(w2s_field), "-o", str(out), "--trial", *ENV,
            *cache]  # fmt: skip
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 4 and not out.exists()
    forced = CliRunner().invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    provenance = Provenance.from_file(Path(f"{out}.json"))
    assert provenance.trial is not None and not provenance.trial.model_wins
    assert provenance.check.verdict == "mismatch"
