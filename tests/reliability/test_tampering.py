"""A registry that lies: tampered packages, an index pointing outside the registry, an endless
blob, a corrupt index. Nothing bad enters the cache, and a corrupt index is never replaced."""

from __future__ import annotations

import json
import os

import pytest

from tests.reliability.catalogue import Attempt, Case, Family, World, ids, publish, refused
from zoo.errors import IntegrityError, SpecError

REGISTRY = Family("registry")
case = REGISTRY.case


def _entry(world: World) -> dict:
    index = json.loads((world.registry / "index.json").read_text())
    return index["models"]["tiny-mean"]["versions"]["0.1.0"]


def _edit_index(world: World, edit) -> None:  # type: ignore[no-untyped-def]
    path = world.registry / "index.json"
    index = json.loads(path.read_text())
    edit(index["models"]["tiny-mean"]["versions"]["0.1.0"])
    path.write_text(json.dumps(index, indent=2))


def _fetch_uncached(world: World) -> Attempt:
    """Fetch tiny-mean into a cache that does not hold it yet (its copy is removed)."""
    for blob in (world.cache / "blobs").glob("*.zip"):
        blob.unlink()
    ref = "tiny-mean@0.1.0"
    return Attempt(lambda: world.reg().fetch(ref), world.zoo("fetch", ref))


@case("blob-tampered", "registry package bytes changed after publishing", IntegrityError,
      match="expected")  # fmt: skip
def _(world: World) -> Attempt:
    blob = world.registry / _entry(world)["location"]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    return _fetch_uncached(world)


@case("blob-huge", "registry package grown to 64 GiB (a sparse file) after publishing",
      IntegrityError, match="more than")  # fmt: skip
def _(world: World) -> Attempt:
    os.truncate(world.registry / _entry(world)["location"], 64 << 30)
    return _fetch_uncached(world)


@case("index-location-traversal", "index.json entry with location ../outside.zip", SpecError,
      match="location")  # fmt: skip
def _(world: World) -> Attempt:
    (world.tmp / "outside.zip").write_bytes(world.tiny.read_bytes())
    _edit_index(world, lambda e: e.update(location="../outside.zip"))
    return _fetch_uncached(world)


@case("index-location-absolute", "index.json entry with location /etc/passwd", SpecError,
      match="location")  # fmt: skip
def _(world: World) -> Attempt:
    _edit_index(world, lambda e: e.update(location="/etc/passwd"))
    return _fetch_uncached(world)


@case("index-location-url", "index.json entry with location http://127.0.0.1:9/x.zip",
      SpecError, match="location")  # fmt: skip
def _(world: World) -> Attempt:
    _edit_index(world, lambda e: e.update(location="http://127.0.0.1:9/x.zip"))
    return _fetch_uncached(world)


@case("index-truncated", "publish into a registry whose index.json is cut short", SpecError,
      match="not a valid zoo index")  # fmt: skip
def _(world: World) -> Attempt:
    path = world.registry / "index.json"
    path.write_bytes(path.read_bytes()[:100])
    return publish(world, world.tiny)


@case("index-wrong-type", "index.json entry with size -1 and sha256 'abc'", SpecError,
      match="not a valid zoo index")  # fmt: skip
def _(world: World) -> Attempt:
    _edit_index(world, lambda e: e.update(size=-1, sha256="abc"))
    return _fetch_uncached(world)


@case("index-unknown-key", "index.json entry with an unknown key", SpecError,
      match="not a valid zoo index")  # fmt: skip
def _(world: World) -> Attempt:
    _edit_index(world, lambda e: e.update(mirror="http://elsewhere"))
    return publish(world, world.tiny)


@pytest.mark.parametrize("case", ids(REGISTRY))
def test_catalogue(case: Case, world: World) -> None:
    refused(world, case, case.build(world))


def test_a_corrupt_cached_copy_is_replaced_by_a_verified_one(world: World) -> None:
    """Not an error: a cached package that no longer matches its sha256 is fetched again."""
    cached = world.reg().fetch("tiny-mean")
    cached.write_bytes(b"rotten")
    again = world.reg().fetch("tiny-mean")
    assert again == cached and again.read_bytes() == world.tiny.read_bytes()
    assert sorted(p.name for p in again.parent.iterdir()) == [again.name]
