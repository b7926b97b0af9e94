"""A built wheel carries the embedded registry: installed (not editable) and run from another
folder, ``zoo search`` lists its models and ``zoo check ID IMAGE`` fetches one by id.

The wheel is built from a copy of the checkout without build isolation and installed with
``--no-index --no-deps --target`` (the dependencies are those of this environment), so the
test never reaches the internet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ID, REPO

pytestmark = pytest.mark.slow

SKIP = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache", "out"}


def _copy_source(dest: Path) -> Path:
    """The checkout without its environment and build outputs (so nothing in it changes)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP or n.endswith(".egg-info")}

    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


def _pip(*args: str) -> None:
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([sys.executable, "-m", "pip", *args, "-q"], check=True, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zoo installed from its wheel into a folder of its own; returns the folder."""
    root = tmp_path_factory.mktemp("wheel")
    source = _copy_source(root / "source")
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source))
    (wheel,) = (root / "dist").glob("zoo-*.whl")
    target = root / "site"
    _pip("install", "--no-deps", "--target", str(target), str(wheel))
    shutil.rmtree(source)  # the installed copy must not lean on the source tree
    return target


def _zoo(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(PYTHONPATH=str(installed), ZOO_CACHE=str(cwd / "cache"), COLUMNS="200")
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_installed_wheel_is_imported_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    code = "import zoo, zoo.config; print(zoo.__file__); print(zoo.config.EMBEDDED_REGISTRY)"
    result = _zoo(installed, tmp_path, "-c", code)
    assert result.returncode == 0, result.stderr
    module, registry = map(Path, result.stdout.split())
    assert module.is_relative_to(installed)
    assert registry == installed / "zoo" / "_registry"
    index = json.loads((registry / "index.json").read_text())
    assert index == json.loads((REPO / "index.json").read_text())


def test_installed_wheel_searches_and_checks_from_another_folder(
    installed: Path, tmp_path: Path
) -> None:
    image = tmp_path / "image.ome.tif"
    shutil.copyfile(REPO / "examples" / "ihc-noisy.ome.tif", image)
    search = _zoo(installed, tmp_path, "-m", "zoo", "search", "--json")
    assert search.returncode == 0, search.stderr
    ids = {hit["id"] for hit in json.loads(search.stdout)}
    models = json.loads((REPO / "index.json").read_text())["models"]
    live = {m for m, e in models.items() if any(not v["yanked"] for v in e["versions"].values())}
    assert ids == live  # search passes yanked models by
    assert live < set(models)  # the embedded registry has yanked ones (docs/models.md)
    check = _zoo(installed, tmp_path, "-m", "zoo", "check", EXAMPLE_ID, str(image))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "match" in check.stdout
    assert "learned score" in check.stdout  # zoo/learned.json is installed: the same verdict
    assert list((tmp_path / "cache").rglob("*.zip"))  # fetched, verified into the cache
