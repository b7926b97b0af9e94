"""Fixtures of the reliability tests: a tiny real package, published once into a template
registry whose cache fetched it; each test gets its own copy (``world``)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from tests.reliability.catalogue import World
from zoo.registry import Registry
from zoo.spec import ZooCard
from zoo_bench.fixtures import build_tiny_package, card_dict


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("reliability")
    tiny = build_tiny_package(root / "build", ZooCard.model_validate(card_dict()))
    folder = root / "folder"
    with zipfile.ZipFile(tiny) as zf:
        zf.extractall(folder)
    world = World(root, root / "registry", root / "cache", tiny, folder)
    world.reg().publish(tiny)
    world.reg().fetch("tiny-mean")
    return world


@pytest.fixture
def world(template: World, tmp_path: Path) -> World:
    """A private copy of the template: registry, cache, package zip and folder."""
    for name in ("registry", "cache", "folder"):
        shutil.copytree(template.tmp / name, tmp_path / name, symlinks=True)
    tiny = shutil.copy(template.tiny, tmp_path / "tiny-mean.zip")
    return World(tmp_path, tmp_path / "registry", tmp_path / "cache", tiny, tmp_path / "folder")


@pytest.fixture(scope="session")
def tiny_registry(template: World) -> Registry:
    return Registry(template.registry, cache=template.cache)
