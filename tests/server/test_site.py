"""The static export: plain files that `python -m http.server` serves to the zoo client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.server.conftest import http_server, sha256, tree_digest
from zoo.cli import app as cli
from zoo.errors import IntegrityError, SpecError
from zoo.registry import Registry
from zoo.site import export_site


@pytest.fixture
def source(tmp_path: Path, packages: dict[str, Path]) -> Registry:
    registry = Registry(tmp_path / "registry", cache=tmp_path / "cache")
    registry.publish(packages["nuclei"], model_id="nuclei")
    registry.publish(packages["nuclei"], model_id="nuclei", version="0.2.0")
    registry.publish(packages["mt"], model_id="mt")
    registry.yank("nuclei@0.2.0", "wrong normalisation")
    (tmp_path / "registry" / ".tokens.json").write_text('{"tokens": []}')
    return registry


@pytest.fixture
def static_site(source: Registry, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    site = tmp_path / "site"
    export_site(site, registry=source)
    with http_server(site) as url:
        yield site, url


def test_export_serves_fetch_and_search_through_a_plain_http_server(
    static_site: tuple[Path, str], packages: dict[str, Path], tmp_path: Path
) -> None:
    site, url = static_site
    client = Registry(url, cache=tmp_path / "client-cache")
    assert [h.id for h in client.search(modality="confocal")] == ["mt"]
    assert [h.id for h in client.search(structure="nucl", method="n2v")] == ["nuclei"]
    assert sha256(client.fetch("mt")) == sha256(packages["mt"])
    assert client.resolve("nuclei")[1] == "0.1.0"  # the yank is kept
    pages = httpx.get(f"{url}/model/nuclei/")
    assert pages.status_code == 200 and "zoo run nuclei@0.1.0 image.tif -o out.tif" in pages.text
    assert httpx.get(f"{url}/").text.count('<tr class="model"') == 2
    assert not (site / ".tokens.json").exists()
    assert httpx.get(f"{url}/.tokens.json").status_code == 404


def test_export_layout_and_incremental_reexport(source: Registry, tmp_path: Path) -> None:
    site = tmp_path / "site"
    first = export_site(site, registry=source)
    assert (first.models, first.versions, first.copied, first.pages) == (2, 3, 2, 3)
    index = json.loads((site / "index.json").read_text())
    for model in index["models"].values():
        for entry in model["versions"].values():
            assert entry["location"] == f"models/{entry['sha256']}.zip"
            assert sha256(site / entry["location"]) == entry["sha256"]
    covers = list((site / "covers").iterdir())
    assert len(covers) == 2 and all(c.suffix == ".png" for c in covers)
    before = tree_digest(site)
    again = export_site(site, registry=source)
    assert again.copied == 0 and tree_digest(site) == before


def test_export_refuses_a_corrupt_package_and_keeps_the_old_index(
    source: Registry, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    export_site(site, registry=source)
    old_index = (site / "index.json").read_bytes()
    entry = source.resolve("mt")[2]
    (site / entry.location).unlink()  # must be copied again …
    blob = Path(source.source) / entry.location
    blob.write_bytes(b"tampered" + blob.read_bytes()[8:])  # … from a corrupt source
    with pytest.raises(IntegrityError, match="expected"):
        export_site(site, registry=source)
    assert (site / "index.json").read_bytes() == old_index
    assert not (site / entry.location).exists()
    assert not [p for p in (site / "models").iterdir() if p.name.startswith(".")]


def test_export_site_command(source: Registry, tmp_path: Path) -> None:
    runner = CliRunner()
    site = tmp_path / "site"
    done = runner.invoke(cli, ["export-site", str(site), "--registry", source.source])
    assert done.exit_code == 0, done.output
    assert "exported 2 model(s), 3 version(s)" in done.output
    (tmp_path / "file").write_text("x")
    refused = runner.invoke(cli, ["export-site", str(tmp_path / "file"), "--registry", "x"])
    assert refused.exit_code == 2 and "needs a folder" in refused.output
    with pytest.raises(SpecError, match="needs a folder"):
        export_site(tmp_path / "file", registry=source)
