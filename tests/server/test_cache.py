"""The server's index cache on a real registry folder: hits, and rebuilds when index.json
changes (a publish or yank here, or by another process)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from zoo.errors import ModelNotFoundError
from zoo.registry import Registry
from zoo.server.cache import IndexCache


@pytest.fixture
def folder(tmp_path: Path, packages: dict[str, Path]) -> Path:
    """A registry folder with one model."""
    root = tmp_path / "registry"
    Registry(root, cache=tmp_path / "publisher").publish(packages["nuclei"], model_id="nuclei")
    return root


def _cache(folder: Path) -> IndexCache:
    return IndexCache(Registry(folder, cache=folder.parent / "server-cache"))


def test_json_is_the_index_and_is_kept_while_it_is_unchanged(folder: Path) -> None:
    cache = _cache(folder)
    plain = cache.json()
    assert json.loads(plain) == json.loads((folder / "index.json").read_bytes())
    assert plain == cache.index().to_json().encode()
    packed = cache.json(gzipped=True)
    assert gzip.decompress(packed) == plain
    assert packed == gzip.compress(plain, mtime=0)  # the same index, the same bytes
    assert cache.json() is plain and cache.json(gzipped=True) is packed  # hits


def test_entry_finds_a_package_by_sha256(folder: Path) -> None:
    cache = _cache(folder)
    entry = cache.index().models["nuclei"].versions["0.1.0"]
    assert cache.entry(entry.sha256) == entry
    with pytest.raises(ModelNotFoundError, match=f"no package with sha256 {'0' * 64}"):
        cache.entry("0" * 64)


def test_a_publish_by_another_process_is_seen(folder: Path, packages: dict[str, Path]) -> None:
    cache = _cache(folder)
    before, before_gz = cache.json(), cache.json(gzipped=True)
    other = Registry(folder, cache=folder.parent / "other")  # e.g. another worker
    result = other.publish(packages["mt"], model_id="mt")
    after = cache.json()
    assert after != before and json.loads(after)["models"].keys() == {"nuclei", "mt"}
    assert gzip.decompress(cache.json(gzipped=True)) == after != gzip.decompress(before_gz)
    assert cache.entry(result.entry.sha256) == result.entry


def test_a_yank_through_the_served_registry_is_seen(folder: Path) -> None:
    cache = _cache(folder)
    entry = cache.index().models["nuclei"].versions["0.1.0"]
    cache.json(), cache.entry(entry.sha256)
    cache.registry.yank("nuclei@0.1.0", "wrong normalisation")
    assert json.loads(cache.json())["models"]["nuclei"]["versions"]["0.1.0"]["yanked"]
    assert cache.entry(entry.sha256).yanked  # yanked versions stay downloadable


def test_index_json_rewritten_on_disk_is_read_again(folder: Path) -> None:
    cache = _cache(folder)
    plain = cache.json()
    index = folder / "index.json"
    data = json.loads(index.read_bytes())
    data["models"]["nuclei"]["versions"]["0.1.0"]["yank_reason"] = "edited by hand"
    data["models"]["nuclei"]["versions"]["0.1.0"]["yanked"] = True
    index.write_text(json.dumps(data))
    stat = index.stat()
    os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later write
    assert cache.json() != plain
    assert json.loads(cache.json())["models"]["nuclei"]["versions"]["0.1.0"]["yanked"]


def test_an_empty_registry_serves_an_empty_index(tmp_path: Path) -> None:
    cache = IndexCache(Registry(tmp_path / "empty", cache=tmp_path / "c"))
    assert json.loads(cache.json())["models"] == {}
    assert gzip.decompress(cache.json(gzipped=True)) == cache.json()
    with pytest.raises(ModelNotFoundError):
        cache.entry("1" * 64)
