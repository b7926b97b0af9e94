"""When nothing fits: match, check and run end with the next step (zoo adapt for the closest
model with its expected time, and a classic filter; its gain only when the trial ran)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from zoo.cli import app
from zoo.nextstep import next_step
from zoo.trial import Trial

EM = "images/em/isbi2012_train_5.png"


@pytest.fixture(scope="module")
def em_image(shared_data: Path) -> Path:
    return shared_data / EM


def _cli(*args: str, cache: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--registry", str(REPO), "--cache", str(cache)])
    return result.exit_code, result.output


def test_check_of_a_mismatch_names_the_adapt_command_and_a_filter(
    em_image: Path, tmp_path: Path
) -> None:
    code, output = _cli("check", "care-widefield-w2s", str(em_image), cache=tmp_path)
    assert code == 4, output
    assert (
        f"zoo adapt care-widefield-w2s@0.1.1 {em_image} -o isbi2012_train_5.adapted.zip" in output
    )
    assert "about 10 min on 2 cores" in output and "Gaussian, sigma" in output
    assert "estimated" not in output.split("classic filter")[1]  # no trial, no gain


def test_check_json_carries_the_next_step_and_the_trial_gives_the_filters_gain(
    em_image: Path, tmp_path: Path
) -> None:
    code, output = _cli(
        "check", "care-widefield-w2s", str(em_image), "--json", "--trial", cache=tmp_path
    )
    assert code == 4, output
    data = json.loads(output)
    step, trial = data["next_step"], data["trial"]
    assert step["adapt_command"].startswith("zoo adapt care-widefield-w2s@0.1.1 ")
    assert step["filter"]["sigma_px"] == trial["gaussian_sigma"]
    assert step["filter"]["estimated_gain_db"] > 0


def test_run_refuses_a_mismatch_and_says_what_to_do_instead(em_image: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    code, output = _cli("run", "care-widefield-w2s", str(em_image), "-o", str(out), cache=tmp_path)
    assert code == 4 and not out.exists()
    assert "nothing was written" in output and "zoo adapt care-widefield-w2s@0.1.1" in output


def test_match_ends_with_the_next_step_when_every_model_mismatches(
    em_image: Path, tmp_path: Path
) -> None:
    """An EM slice against a registry of the W2S widefield model only: nothing fits."""
    from zoo.registry import Registry

    index = json.loads((REPO / "index.json").read_text())["models"]
    entry = index["care-widefield-w2s"]["versions"]["0.1.1"]  # the newest
    Registry(tmp_path / "reg", cache=tmp_path / "c1").publish(REPO / entry["location"])
    result = CliRunner().invoke(
        app,
        [
            "match",
            str(em_image),
            "--registry",
            str(tmp_path / "reg"),
            "--cache",
            str(tmp_path / "c2"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mismatch" in result.output
    assert "zoo adapt care-widefield-w2s@0.1.1 " in result.output


def test_the_filters_gain_comes_from_the_trial_only() -> None:
    plane = np.random.default_rng(1).normal(100, 10, (300, 300))
    plain = next_step("m@1", "x.tif", plane)
    assert plain.gain_db is None and plain.minutes == pytest.approx(10 * np.sqrt(300**2 / 512**2))
    trial = Trial(model_mse=50.0, gaussian_mse=10.0, gaussian_sigma=2.0, noise_variance=100.0,
                  pixels=1, windows=1, seconds=0.0)  # fmt: skip
    with_trial = next_step("m@1", "x.tif", plane, trial)
    assert with_trial.sigma == 2.0 and with_trial.gain_db == pytest.approx(10.0)
