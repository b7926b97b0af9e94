"""`zoo package` before and around the export: missing torch, bioimage.io's name rule and
the card checked first, placeholder metadata warned about, and no third-party noise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from zoo.cardfile import load_card
from zoo.cli import app
from zoo.errors import SpecError
from zoo.export.builder import ImportedModel, build_package

REPO = Path(__file__).resolve().parents[2]
CARD = REPO / "examples" / "n2v-ihc-careamics.card.yaml"
runner = CliRunner()
METHOD = {"method": {"name": "n2v", "framework": "test"}}


def _zoo(cwd: Path, *args: str, block_torch: bool = False) -> subprocess.CompletedProcess[str]:
    """``zoo ARGS`` in a child process (torch made unimportable there when asked)."""
    blocker = "import sys; sys.modules['torch'] = None; " if block_torch else ""
    code = (
        f"{blocker}import sys; from zoo.cli import main; sys.argv = ['zoo', *sys.argv[1:]]; main()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _careamics_args(shared_data: Path, out: Path) -> list[str]:
    ckpt = shared_data / "careamics" / "n2v_short.ckpt"
    image = shared_data / "synthetic" / "noisy.npy"
    return ["package", str(ckpt), "--from", "careamics", "--image", str(image), "-o", str(out)]


def test_package_without_torch_says_what_to_install(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.zip"
    result = _zoo(
        tmp_path, *_careamics_args(shared_data, out), "--card", str(CARD), block_torch=True
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "packaging needs torch" in result.stderr
    assert "pip install torch==2.13.0 'zoo[export]'" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("stem", ["m", "abcd"])
def test_short_output_stem_is_refused_before_exporting(
    stem: str, shared_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / f"{stem}.zip"
    result = runner.invoke(app, [*_careamics_args(shared_data, out), "--card", str(CARD)])
    assert result.exit_code == 2, result.output
    assert "bioimage.io's name rule (5 to 128 characters" in result.output
    assert "--name" in result.output
    assert not out.exists()


def _unexportable(spatial_axes: str = "yx", channels: int = 1) -> ImportedModel:
    """A model that fails at once if anything tries to run or export it."""
    return ImportedModel(
        module=None,
        architecture=REPO / "zoo" / "archs" / "csbdeep_unet.py",
        callable="CSBDeepUNet",
        kwargs={},
        method="n2v",
        framework="test",
        spatial_axes=spatial_axes,
        channels=channels,
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"name": "abc"}, "name rule"),
        ({"name": "a model/2"}, r"found characters '/'"),
        ({"name": "a model", "license": "my own licence"}, "not an SPDX licence id"),
        ({"name": "a model", "version": "1.0"}, "invalid version"),
        ({"name": "a model", "authors": ["a/b"]}, "author names"),
    ],
)
def test_metadata_is_checked_before_the_model_runs(
    options: dict[str, object], match: str, tmp_path: Path
) -> None:
    card = load_card(CARD, defaults=METHOD)
    image = np.zeros((64, 64), np.float32)
    with pytest.raises(SpecError, match=match):
        build_package(_unexportable(), card, image, tmp_path / "x.zip", **options)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_card_contradicting_the_model_is_refused_before_it_runs(tmp_path: Path) -> None:
    card = load_card(CARD, defaults=METHOD)
    image = np.zeros((16, 64, 64), np.float32)
    with pytest.raises(SpecError, match=r"domain\.dimensionality is 2 but the model works on 3D"):
        build_package(_unexportable("zyx"), card, image, tmp_path / "x.zip", name="a model")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_package_output_is_quiet_and_warns_about_placeholders(
    shared_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.zip"
    result = _zoo(tmp_path, *_careamics_args(shared_data, out), "--card", str(CARD))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout  # no blank line before the results
    assert lines[0].startswith("torchscript: max abs error ")
    assert lines[1].startswith("onnx: max abs error ")
    assert lines[2] == str(out)
    assert "" not in result.stderr.splitlines()
    assert "torchvision" not in result.stderr
    assert "Warning" not in result.stderr  # no FutureWarning or other third-party warning
    warning = result.stderr.splitlines()
    assert warning[0].startswith("warning: placeholder metadata")
    assert "--allow-placeholders" in warning[0]
    assert {line.split(":")[0].strip() for line in warning[1:]} == {
        "authors",
        "license",
        "description",
    }
    from zoo.package import load_package

    card = load_package(out).card
    assert card is not None and card.placeholders == ["authors", "license", "description"]


def test_the_declared_halo_fits_the_test_tensor() -> None:
    """zoo's halo for the size step, cut to what the test tensor leaves room for: its side
    must reach the minimum size, twice the halo plus two steps (a thin 3D stack gets none)."""
    from dataclasses import replace

    from zoo.export.builder import _halo

    model = replace(_unexportable(), size_step=4)
    assert _halo(model, np.zeros((1, 1, 256, 256))) == 32
    assert _halo(model, np.zeros((1, 1, 48, 256))) == 20  # 48 = 2 · 20 + 2 · 4
    assert _halo(replace(model, spatial_axes="zyx"), np.zeros((1, 1, 8, 256, 256))) == 0
    assert _halo(replace(model, halo=12), np.zeros((1, 1, 256, 256))) == 12
