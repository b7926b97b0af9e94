"""The example package the README's quickstart validates is valid and runs everywhere."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from zoo.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "n2v-ihc-careamics.zip"


def test_quickstart_command_succeeds() -> None:
    result = CliRunner().invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "bioimage.io valid; zoo card valid" in result.output


def test_example_passes_bioimageio_core_test_model() -> None:
    from bioimageio.core import test_model

    summary = test_model(EXAMPLE)
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed
