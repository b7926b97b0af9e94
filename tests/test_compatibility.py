"""The per-version compatibility report: computed by the publisher, stored in the index
entry, shown by `zoo show`; a check that could not run is "not run", never passed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoo.cli import app
from zoo.compatibility import CORE_TOOL, compatibility_report
from zoo.index import Index
from zoo.package import load_package
from zoo.registry import Registry
from zoo.spec import ZooCard
from zoo_bench.fixtures import build_tiny_package, card_dict

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compat")
    return build_tiny_package(folder, ZooCard.model_validate(card_dict()))


def _by_tool(report) -> dict[tuple[str, str | None], object]:  # type: ignore[no-untyped-def]
    return {(c.tool, c.format): c for c in report.checks}


def test_publish_stores_the_publishers_report(tiny: Path, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "reg", cache=tmp_path / "cache")
    entry = registry.publish(tiny, model_id="tiny").entry
    report = entry.compatibility
    assert report is not None and report.publisher.startswith("zoo ")
    checks = _by_tool(report)
    onnx = checks[("zoo (ONNX Runtime)", "onnx")]
    assert onnx.status == "passed" and onnx.version.startswith("onnxruntime ")
    core = checks[(CORE_TOOL, "onnx")]
    assert core.status == "passed" and core.version.startswith("bioimageio.core ")
    assert checks[("bioimageio.spec validation", None)].status == "passed"
    # only the formats the package has: a tiny ONNX package has no torch weights
    assert {c.format for c in report.checks} == {None, "onnx"}
    # stored with the version in index.json, read back
    raw = json.loads((tmp_path / "reg" / "index.json").read_text())
    stored = raw["models"]["tiny"]["versions"]["0.1.0"]["compatibility"]
    assert stored["checks"][1]["status"] == "passed"
    assert registry.resolve("tiny@0.1.0")[2].compatibility == report


def test_checks_that_cannot_run_are_not_run(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without bioimageio.core (None in sys.modules: importing it fails), its test is
    recorded as not run, with the reason; it is never passed."""
    monkeypatch.setitem(sys.modules, "bioimageio.core", None)
    report = compatibility_report(load_package(tiny), tiny)
    core = _by_tool(report)[(CORE_TOOL, "onnx")]
    assert core.status == "not run"
    assert "bioimageio.core is not installed" in core.detail
    assert report.summary() == "2/3 passed, 1 not run"


def test_torch_formats_without_torch_are_not_run(
    example_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example package has TorchScript and state-dict weights: without torch, zoo's
    and bioimageio.core's tests of them are not run; ONNX still passes in both."""
    package = load_package(example_zip)
    monkeypatch.setitem(sys.modules, "torch", None)
    report = compatibility_report(package, example_zip)
    checks = _by_tool(report)
    for tool in ("zoo (PyTorch)", CORE_TOOL):
        for fmt in ("torchscript", "pytorch_state_dict"):
            assert checks[(tool, fmt)].status == "not run", checks[(tool, fmt)]
            assert checks[(tool, fmt)].detail, "a not-run check says why"
    assert checks[("zoo (ONNX Runtime)", "onnx")].status == "passed"
    assert checks[(CORE_TOOL, "onnx")].status == "passed"


def test_a_failing_format_is_failed(tiny: Path, tmp_path: Path) -> None:
    """A package whose test output its network does not reproduce: zoo and bioimageio.core
    both say failed."""
    import zipfile

    import numpy as np

    folder = tmp_path / "broken"
    with zipfile.ZipFile(tiny) as zf:
        zf.extractall(folder)
    np.save(folder / "test_output.npy", np.load(folder / "test_output.npy") + 5)
    rdf = (folder / "rdf.yaml").read_text().splitlines()
    (folder / "rdf.yaml").write_text("\n".join(x for x in rdf if "sha256" not in x))
    report = compatibility_report(load_package(folder), folder / "rdf.yaml")
    checks = _by_tool(report)
    assert checks[("zoo (ONNX Runtime)", "onnx")].status == "failed"
    assert checks[(CORE_TOOL, "onnx")].status == "failed"
    assert "Reproduce test outputs" in checks[(CORE_TOOL, "onnx")].detail


def test_old_entries_without_a_report_still_load_and_stay_unchanged() -> None:
    text = (REPO / "index.json").read_text()
    index = Index.model_validate_json(text)
    entries = [e for m in index.models.values() for e in m.versions.values()]
    # versions published before the report existed have none; later ones carry theirs
    old = [e for e in entries if str(e.created) < "2026-12-05"]
    assert old and all(e.compatibility is None for e in old)
    assert any(e.compatibility is not None for e in entries)
    assert index.to_json() == text  # no "compatibility": null written into old entries


def test_zoo_publish_and_show_print_the_report(tiny: Path, tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    where = ["--registry", str(registry), "--cache", str(tmp_path / "cache")]
    published = CliRunner().invoke(app, ["publish", str(tiny), "--id", "tiny", *where])
    assert published.exit_code == 0, published.output
    assert "compatibility: 3/3 passed (zoo show tiny@0.1.0 lists each check)" in published.output
    args = ["show", "tiny", *where]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "compatibility: 3/3 passed, run by the publisher (zoo " in result.output
    assert "passed   bioimageio.core test_model onnx [bioimageio.core " in result.output
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert json.loads(as_json.output)["compatibility"]["checks"][0]["status"] == "passed"
    show = ["show", "n2v-ihc-careamics@0.2.0", "--cache", str(tmp_path / "c")]
    old = CliRunner().invoke(app, show)
    assert "compatibility: no report (published before zoo kept one)" in old.output
