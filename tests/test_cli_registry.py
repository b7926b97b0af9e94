"""The registry commands: exit codes, messages, JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from zoo.cli import app

runner = CliRunner()


def _zoo(*args: str, registry: Path, cache: Path):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [*args, "--registry", str(registry), "--cache", str(cache)])


def test_publish_search_fetch_show_versions_yank(example_zip: Path, tmp_path: Path) -> None:
    from zoo.package import load_package

    v = str(load_package(example_zip).descr.version)
    reg, cache = tmp_path / "reg", tmp_path / "cache"
    published = _zoo("publish", str(example_zip), "--id", "demo", registry=reg, cache=cache)
    assert published.exit_code == 0, published.output
    assert f"published: demo@{v}" in published.output

    again = _zoo("publish", str(example_zip), "--id", "demo", registry=reg, cache=cache)
    assert "already published" in again.output

    found = _zoo("search", "--json", "--modality", "synthetic", registry=reg, cache=cache)
    rows = json.loads(found.output)
    assert [(r["id"], r["version"], r["modality"]) for r in rows] == [("demo", v, "synthetic")]
    table = _zoo("search", "ihc", registry=reg, cache=cache)
    assert "demo" in table.output and "1 model(s)" in table.output

    fetched = _zoo("fetch", f"demo@{v}", registry=reg, cache=cache)
    assert fetched.exit_code == 0
    assert Path(fetched.output.strip().splitlines()[-1]).read_bytes() == example_zip.read_bytes()

    shown = json.loads(_zoo("show", "demo", "--json", registry=reg, cache=cache).output)
    assert shown["id"] == "demo" and shown["summary"]["method"] == "n2v"

    yanked = _zoo("yank", f"demo@{v}", "--reason", "demo only", registry=reg, cache=cache)
    assert yanked.exit_code == 0
    listed = _zoo("versions", "demo", registry=reg, cache=cache)
    assert "YANKED: demo only" in listed.output
    assert json.loads(_zoo("search", "--json", registry=reg, cache=cache).output) == []
    gone = _zoo("fetch", "demo", registry=reg, cache=cache)
    assert gone.exit_code == 2 and "yanked" in gone.output


def test_unknown_model_exits_2(tmp_path: Path) -> None:
    result = _zoo("fetch", "no-such-model", registry=tmp_path / "r", cache=tmp_path / "c")
    assert result.exit_code == 2
    assert "no model 'no-such-model'" in result.output


def test_card_init_then_publish_a_real_export(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "careamics" / "n2v_short_bioimageio_export.zip"
    card = tmp_path / "card.yaml"
    made = runner.invoke(app, ["card", "init", str(src), "-o", str(card)])
    assert made.exit_code == 0, made.output
    refused = _zoo(
        "publish", str(src), "--card", str(card), registry=tmp_path / "r", cache=tmp_path
    )
    assert refused.exit_code == 2
    assert "domain.modality" in refused.output and not (tmp_path / "r").exists()
    text = card.read_text()
    for old, new in [
        ("modality: TODO", "modality: synthetic"),
        ("dtype: TODO", "dtype: float32"),
        ("- TODO", "- tissue"),
        ("type: TODO", "type: poisson-gaussian"),
        ("description: TODO", "description: synthetic IHC"),
        ("license: TODO", "license: BSD-3-Clause"),
        ("intended_use: TODO", "intended_use: an example"),
    ]:
        text = text.replace(old, new)
    card.write_text(text)
    ok = _zoo("publish", str(src), "--card", str(card), registry=tmp_path / "r", cache=tmp_path)
    assert ok.exit_code == 0, ok.output
    assert "published: tinyn2v@0.3.5" in ok.output


def test_a_mistyped_id_gets_the_closest_ids(tmp_path: Path) -> None:
    """fetch, show, versions, check and run name the ids close to a typo (difflib)."""
    from tests.conftest import REPO

    image = REPO / "examples" / "ihc-noisy.ome.tif"
    commands = [
        ("fetch", "n2v-ihc-careamic"),
        ("show", "n2v-ihc-careamic@0.2.0"),
        ("versions", "n2v-ihc-careamic"),
        ("check", "n2v-ihc-careamic", str(image)),
        ("run", "n2v-ihc-careamic", str(image), "-o", str(tmp_path / "x.tif")),
    ]
    for args in commands:
        result = _zoo(*args, registry=REPO, cache=tmp_path / "cache")
        assert result.exit_code == 2, (args, result.output)
        assert "no model 'n2v-ihc-careamic'" in result.output
        assert "did you mean 'n2v-ihc-careamics'?" in result.output, args
    nothing = _zoo("fetch", "zzz", registry=REPO, cache=tmp_path / "cache")
    assert nothing.exit_code == 2 and "`zoo search` lists its models" in nothing.output
    assert list(tmp_path.glob("x.tif*")) == []
