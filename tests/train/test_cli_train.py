"""``zoo train`` → ``zoo package --from state-dict`` → ``zoo validate``, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from tests.train.test_loop import synthetic
from zoo.cli import app

pytest.importorskip("torch")

FAST = [
    "--steps",
    "4",
    "--batch-size",
    "4",
    "--patch-size",
    "32",
    "--filters",
    "8",
    "--threads",
    "1",
]


@pytest.mark.slow
@pytest.mark.parametrize("normalisation", ["dataset", "percentile"])
def test_train_then_package_then_validate(tmp_path: Path, normalisation: str) -> None:
    noisy, _ = synthetic()
    image = tmp_path / "noisy.tif"
    tifffile.imwrite(image, noisy)
    runner = CliRunner()
    run = ["train", "n2v", str(image), "-o", str(tmp_path / "run"), *FAST]
    trained = runner.invoke(app, [*run, "--normalisation", normalisation])
    assert trained.exit_code == 0, trained.output
    assert "zoo package --from state-dict" in trained.output
    meta = json.loads((tmp_path / "run" / "training.json").read_text())
    card = tmp_path / "card.yaml"
    card.write_text(
        "domain: {modality: synthetic, dimensionality: 2, dtype: float32, structures: [blobs]}\n"
        "noise: {type: poisson-gaussian}\n"
        "training_data: {description: synthetic blobs, license: CC0-1.0}\n"
        "validation: {intended_use: a test}\n"
    )
    package = tmp_path / "model.zip"
    args = [
        "package",
        "--from",
        "state-dict",
        str(tmp_path / "run" / "weights.pt"),
        "--arch",
        meta["architecture"],
        "--arch-kwargs",
        json.dumps(meta["kwargs"]),
        "--method",
        meta["method"],
        *(
            ["--mean", str(meta["mean"][0]), "--std", str(meta["std"][0])]
            if normalisation == "dataset"
            else ["--percentiles", "1.0", "99.8"]
        ),
        "--card",
        str(card),
        "--image",
        str(image),
        "-o",
        str(package),
    ]
    packaged = runner.invoke(app, args)
    assert packaged.exit_code == 0, packaged.output
    validated = runner.invoke(app, ["validate", str(package)])
    assert validated.exit_code == 0, validated.output
    assert "bioimage.io valid; zoo card valid" in validated.output
    assert ("--percentiles 1.0 99.8" in trained.output) is (normalisation == "percentile")
    from zoo.package import load_package

    card = load_package(package).card
    assert card is not None
    assert card.output_units == ("input" if normalisation == "percentile" else None)


def test_care_needs_targets_and_n2v_refuses_them(tmp_path: Path) -> None:
    image = tmp_path / "noisy.tif"
    tifffile.imwrite(image, np.zeros((64, 64), np.float32))
    runner = CliRunner()
    result = runner.invoke(app, ["train", "care", str(image), "-o", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 2 and "--target" in result.output
    result = runner.invoke(
        app, ["train", "n2v", str(image), "--target", str(image), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "self-supervised" in result.output
    result = runner.invoke(app, ["train", "structn2v", str(image), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "struct_axis" in result.output


def test_an_existing_output_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "training.json").write_text("{}")
    image = tmp_path / "noisy.tif"
    tifffile.imwrite(image, np.zeros((64, 64), np.float32))
    result = CliRunner().invoke(app, ["train", "n2v", str(image), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--overwrite" in result.output
