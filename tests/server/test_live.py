"""A real uvicorn server over loopback: the registry client, unchanged, publishes with a token,
fetches into an empty cache, and is refused (401/403/413) without anything being written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.server.conftest import Site, make_site, serving, sha256, tree_digest
from zoo.cli import app as cli
from zoo.errors import AuthError, ModelNotFoundError, RegistryError, UploadTooLargeError
from zoo.registry import Registry
from zoo_bench.serve import zoo_serve


def test_publish_with_a_token_then_fetch_into_a_second_empty_cache(
    live: Site, packages: dict[str, Path], tmp_path: Path
) -> None:
    author = live.registry(tmp_path / "author-cache", token=live.token)
    result = author.publish(packages["nuclei"], model_id="nuclei")
    assert result.created and result.entry.sha256 == sha256(packages["nuclei"])
    assert not author.publish(packages["nuclei"], model_id="nuclei").created
    with pytest.raises(RegistryError, match="versions are immutable"):
        author.publish(packages["other"], model_id="nuclei")

    reader = live.registry(tmp_path / "reader-cache")  # no token: reading is public
    assert not (tmp_path / "reader-cache").exists()
    fetched = reader.fetch("nuclei")
    assert sha256(fetched) == sha256(packages["nuclei"]) == result.entry.sha256
    assert fetched.is_relative_to(tmp_path / "reader-cache")
    assert [h.id for h in reader.search(modality="widefield", structure="nucl")] == ["nuclei"]
    assert reader.load("nuclei@0.1.0").card is not None

    entry = author.yank("nuclei@0.1.0", "superseded")
    assert entry.yanked
    with pytest.raises(ModelNotFoundError, match="every version"):
        reader.fetch("nuclei")


def test_publish_without_or_with_a_wrong_token_writes_nothing(
    live: Site, packages: dict[str, Path], tmp_path: Path
) -> None:
    live.registry(tmp_path / "c", token=live.token).publish(packages["mt"], model_id="mt")
    before = tree_digest(live.root)
    body = packages["nuclei"].read_bytes()
    url = f"{live.url}/api/v1/publish"
    assert httpx.post(url, content=body).status_code == 401
    wrong = httpx.post(url, content=body, headers={"Authorization": "Bearer zoo_guess"})
    assert wrong.status_code == 403
    with pytest.raises(AuthError, match="needs a token"):
        live.registry(tmp_path / "c").publish(packages["nuclei"])
    with pytest.raises(AuthError, match="refused the token"):
        live.registry(tmp_path / "c", token="zoo_guess").publish(packages["nuclei"])
    with pytest.raises(AuthError, match="refused the token"):
        live.registry(tmp_path / "c", token="zoo_guess").yank("mt@0.1.0", "no")
    assert tree_digest(live.root) == before


def test_oversized_upload_is_refused_while_streaming(
    tmp_path: Path, packages: dict[str, Path]
) -> None:
    site = make_site(tmp_path, max_upload_bytes=10_000, workdir=tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    big = packages["nuclei"].read_bytes()
    assert len(big) > 10_000
    before = tree_digest(site.root)
    auth = {"Authorization": f"Bearer {site.token}"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    with serving(site.app) as url:
        site.url = url
        declared = httpx.post(f"{url}/api/v1/publish", content=big, headers=auth)
        assert declared.status_code == 413
        assert "limit of 10000 bytes" in declared.json()["detail"]
        streamed = httpx.post(f"{url}/api/v1/publish", content=chunks(), headers=auth)
        assert streamed.status_code == 413
        with pytest.raises(UploadTooLargeError, match="--max-upload-mb"):
            site.registry(tmp_path / "c", token=site.token).publish(packages["nuclei"])
    assert tree_digest(site.root) == before
    assert list((tmp_path / "uploads").iterdir()) == []


def test_cli_publishes_searches_fetches_and_yanks_over_http(
    live: Site, packages: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    common = ["--registry", live.url, "--cache", str(tmp_path / "cli-cache")]
    refused = runner.invoke(cli, ["publish", str(packages["mt"]), "--id", "mt", *common])
    assert refused.exit_code == 2 and "needs a token" in refused.output
    published = runner.invoke(
        cli, ["publish", str(packages["mt"]), "--id", "mt", "--token", live.token, *common]
    )
    assert published.exit_code == 0, published.output
    assert f"published: mt@0.1.0 sha256 {sha256(packages['mt'])}" in published.output
    found = runner.invoke(cli, ["search", "--modality", "confocal", "--json", *common])
    assert '"id": "mt"' in found.output
    fetched = runner.invoke(cli, ["fetch", "mt", *common])
    assert sha256(Path(fetched.output.strip().splitlines()[-1])) == sha256(packages["mt"])
    monkeypatch.setenv("ZOO_TOKEN", live.token)
    yanked = runner.invoke(cli, ["yank", "mt@0.1.0", "--reason", "demo", *common])
    assert yanked.exit_code == 0, yanked.output
    assert "YANKED: demo" in runner.invoke(cli, ["versions", "mt", *common]).output


def test_zoo_serve_command(tmp_path: Path, packages: dict[str, Path]) -> None:
    """`zoo serve` itself, as a process: serves, and refuses an upload over --max-upload-mb."""
    registry = tmp_path / "registry"
    Registry(registry, cache=tmp_path / "c").publish(packages["mt"], model_id="mt")
    made = CliRunner().invoke(cli, ["token", "add", "ci", "--registry", str(registry)])
    token = made.stdout.strip().splitlines()[-1]
    env = {"ZOO_CACHE": str(tmp_path / "server-cache")}
    log = tmp_path / "server.log"
    with zoo_serve(registry, "--max-upload-mb", "0.01", env=env, log=log) as server:
        url = server.url
        assert httpx.get(f"{url}/api/v1").json()["max_upload_bytes"] == int(0.01 * 2**20)
        reader = Registry(url, cache=tmp_path / "reader")
        assert sha256(reader.fetch("mt")) == sha256(packages["mt"])
        before = tree_digest(registry)
        with pytest.raises(UploadTooLargeError):
            Registry(url, cache=tmp_path / "c2", token=token).publish(packages["nuclei"])
        assert tree_digest(registry) == before


def test_http_publish_sends_the_clients_compatibility_report(
    live: Site, packages: dict[str, Path], tmp_path: Path
) -> None:
    """The HTTP client runs the checks before its upload; the server stores its report with
    the version (it runs none itself) and shows it on the version's page."""
    author = live.registry(tmp_path / "author-cache", token=live.token)
    report = author.publish(packages["nuclei"], model_id="nuclei").entry.compatibility
    assert report is not None
    assert {(c.tool, c.status) for c in report.checks} >= {
        ("zoo (ONNX Runtime)", "passed"),
        ("bioimageio.core test_model", "passed"),
    }
    stored = Registry(live.root, cache=tmp_path / "c").resolve("nuclei")[2].compatibility
    assert stored == report
    page = httpx.get(f"{live.url}/model/nuclei/").text
    assert 'id="compatibility"' in page and "bioimageio.core test_model" in page
    assert report.summary() in page
