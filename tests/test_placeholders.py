"""Placeholder metadata (authors "unknown", a licence or description zoo filled in, card values
left TODO) is refused at publish unless allowed: in Python, on the command line and over HTTP,
and a refused publish leaves the registry unchanged. The embedded models hold none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.server.conftest import AsgiClient, make_site, serving, tree_digest
from zoo.cli import app
from zoo.errors import SpecError
from zoo.placeholders import find_placeholders
from zoo.registry import Registry
from zoo.spec import ZooCard
from zoo_bench.fixtures import build_tiny_package, card_dict

runner = CliRunner()


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package whose card records that zoo filled in its licence and description."""
    card = ZooCard.model_validate({**card_dict(), "placeholders": ["license", "description"]})
    return build_tiny_package(tmp_path_factory.mktemp("marked"), card, name="tiny-marked")


@pytest.fixture(scope="module")
def todo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package whose card still says TODO where the training data should be described."""
    data = card_dict()
    data["training_data"] = {**data["training_data"], "description": "TODO"}
    card = ZooCard.model_validate(data)
    return build_tiny_package(tmp_path_factory.mktemp("todo"), card, name="tiny-todo")


def test_placeholders_are_found_by_record_and_by_value() -> None:
    card = ZooCard.model_validate({**card_dict(), "placeholders": ["license"]})
    found = find_placeholders(card, description="n2v denoiser packaged by zoo", authors=["unknown"])
    assert found == ["license", "authors", "description"]
    data = card_dict()
    data["domain"] = {**data["domain"], "structures": ["nuclei", "TODO"]}
    todo_card = ZooCard.model_validate(data)
    assert find_placeholders(todo_card, description="x", authors=["A. Author"]) == [
        "card.domain.structures"
    ]
    assert find_placeholders(ZooCard.model_validate(card_dict()), authors=["A. Author"]) == []


@pytest.mark.parametrize(
    ("fixture", "fields"),
    [("marked", ["license", "description"]), ("todo", ["card.training_data.description"])],
)
def test_publish_refuses_placeholders_and_changes_nothing(
    fixture: str, fields: list[str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    package = request.getfixturevalue(fixture)
    root = tmp_path / "registry"
    root.mkdir()
    registry = Registry(root, cache=tmp_path / "cache")
    with pytest.raises(SpecError, match="placeholder metadata") as refused:
        registry.publish(package)
    for field in fields:
        assert f"  {field}: " in str(refused.value)
    assert "--allow-placeholders" in str(refused.value)
    assert tree_digest(root) == {}
    result = registry.publish(package, allow_placeholders=True)
    assert result.created


def test_cli_publish_needs_allow_placeholders(marked: Path, tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    args = ["publish", str(marked), "--registry", str(root), "--cache", str(tmp_path / "c")]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2, refused.output
    assert "license: zoo package --license SPDX-ID" in refused.output
    assert tree_digest(root) == {}
    allowed = runner.invoke(app, [*args, "--allow-placeholders"])
    assert allowed.exit_code == 0, allowed.output
    assert "published: tiny-marked@" in allowed.output


def test_server_publish_refuses_placeholders_unless_asked(marked: Path, tmp_path: Path) -> None:
    site = make_site(tmp_path)
    client = AsgiClient(site.app)
    headers = {"Authorization": f"Bearer {site.token}", "Content-Type": "application/zip"}
    before = tree_digest(site.root)
    refused = client.post("/api/v1/publish", content=marked.read_bytes(), headers=headers)
    assert refused.status_code == 422, refused.text
    assert "placeholder metadata" in refused.json()["detail"]
    assert tree_digest(site.root) == before
    allowed = client.post(
        "/api/v1/publish",
        content=marked.read_bytes(),
        headers=headers,
        params={"allow_placeholders": "true"},
    )
    assert allowed.status_code == 201, allowed.text


def test_http_client_passes_allow_placeholders(marked: Path, tmp_path: Path) -> None:
    site = make_site(tmp_path)
    with serving(site.app) as url:
        client = Registry(url, cache=tmp_path / "client-cache", token=site.token)
        with pytest.raises(SpecError, match="placeholder metadata"):
            client.publish(marked)
        assert client.publish(marked, allow_placeholders=True).created


def test_embedded_models_hold_no_placeholders(tmp_path: Path) -> None:
    registry = Registry(REPO, cache=tmp_path)
    index = json.loads((REPO / "index.json").read_text())
    for model_id, entry in index["models"].items():
        for version in entry["versions"]:
            package = registry.load(f"{model_id}@{version}")
            authors = [a.name for a in package.descr.authors]
            found = find_placeholders(
                package.card, description=package.descr.description, authors=authors
            )
            assert found == [], f"{model_id}@{version}: {found}"


def test_a_new_card_keeps_the_package_placeholders(marked: Path, tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    registry = Registry(root, cache=tmp_path / "cache")
    with pytest.raises(SpecError, match="  license: ") as refused:
        registry.publish(marked, card=ZooCard.model_validate(card_dict()))
    assert "  description: " in str(refused.value)
    assert tree_digest(root) == {}
