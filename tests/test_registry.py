"""Registry: publish → fetch identical bytes, version rules, yank, search, cache, refusals."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from zoo.errors import (
    AuthError,
    IntegrityError,
    ModelNotFoundError,
    RegistryError,
    SpecError,
)
from zoo.registry import Registry, YankedVersionWarning
from zoo.spec import ZooCard
from zoo_bench.fixtures import build_tiny_package, card_dict


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path → digest)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry", cache=tmp_path / "cache")


def _tiny(tmp_path: Path, name: str, **card_overrides) -> Path:  # type: ignore[no-untyped-def]
    card = ZooCard.model_validate(card_dict(**card_overrides))
    return build_tiny_package(tmp_path / name, card, name=name)


def test_publish_then_fetch_gives_identical_bytes(example_zip: Path, registry: Registry) -> None:
    from zoo.package import load_package

    version = str(load_package(example_zip).descr.version)
    result = registry.publish(example_zip)
    assert (result.id, result.version, result.created) == ("n2v-ihc-careamics", version, True)
    fetched = registry.fetch("n2v-ihc-careamics")
    assert fetched.read_bytes() == example_zip.read_bytes()
    assert fetched.parent == registry.cache / "blobs"
    assert registry.load(f"n2v-ihc-careamics@{version}").card is not None


def test_republishing_identical_bytes_is_a_no_op(example_zip: Path, registry: Registry) -> None:
    registry.publish(example_zip)
    before = tree_digest(Path(registry.source))
    again = registry.publish(example_zip)
    assert not again.created
    assert tree_digest(Path(registry.source)) == before


def test_other_bytes_under_an_existing_version_are_refused(
    registry: Registry, tmp_path: Path
) -> None:
    registry.publish(_tiny(tmp_path, "tiny-a"), model_id="tiny")
    before = tree_digest(Path(registry.source))
    other = _tiny(tmp_path, "tiny-b", noise={"type": "gaussian"})
    with pytest.raises(RegistryError, match="versions are immutable"):
        registry.publish(other, model_id="tiny")
    assert tree_digest(Path(registry.source)) == before


def test_newest_unyanked_version_and_yank_semantics(registry: Registry, tmp_path: Path) -> None:
    pkg = _tiny(tmp_path, "tiny-a")
    for version in ("0.1.0", "0.2.0", "0.10.0", "1.0.0-rc.1"):
        registry.publish(pkg, model_id="tiny", version=version)
    assert registry.resolve("tiny")[1] == "0.10.0"  # semver order; releases before pre-releases
    assert registry.resolve("tiny@1.0.0-rc.1")[1] == "1.0.0-rc.1"
    registry.yank("tiny@0.10.0", "wrong normalisation")
    assert registry.resolve("tiny")[1] == "0.2.0"
    with pytest.warns(YankedVersionWarning, match="wrong normalisation"):
        assert registry.fetch("tiny@0.10.0").is_file()
    versions = dict(registry.versions("tiny"))
    assert versions["0.10.0"].yanked and versions["0.10.0"].yank_reason == "wrong normalisation"
    assert not registry.search("tiny", include_yanked=False)[0].entry.yanked
    entry = registry.index().models["tiny"]
    assert entry.latest() == "0.2.0"  # the newest unyanked one, as resolve gives
    for version in ("0.1.0", "0.2.0", "1.0.0-rc.1"):
        registry.yank(f"tiny@{version}", "superseded")
    assert registry.index().models["tiny"].newest() is None
    assert registry.index().models["tiny"].latest() == "0.10.0"  # all yanked: the newest


def test_all_yanked_needs_a_pin(registry: Registry, tmp_path: Path) -> None:
    registry.publish(_tiny(tmp_path, "tiny-a"), model_id="tiny")
    registry.yank("tiny@0.1.0", "bad")
    with pytest.raises(ModelNotFoundError, match=r"every version .* is yanked"):
        registry.fetch("tiny")


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ("nope", ModelNotFoundError, "no model 'nope'"),
        ("tiny@9.9.9", ModelNotFoundError, r"has no version 9\.9\.9"),
        ("../etc/passwd", SpecError, "invalid model id"),
        ("tiny@1.0", SpecError, "invalid version"),
        ("Tiny_Model", SpecError, "invalid model id"),
    ],
)
def test_bad_references(registry: Registry, tmp_path: Path, ref: str, error, match: str) -> None:  # type: ignore[no-untyped-def]
    registry.publish(_tiny(tmp_path, "tiny-a"), model_id="tiny")
    with pytest.raises(error, match=match):
        registry.fetch(ref)


def test_search_filters(example_zip: Path, registry: Registry, tmp_path: Path) -> None:
    registry.publish(example_zip)
    confocal = card_dict()
    confocal["domain"] |= {"modality": "confocal", "structures": ["microtubules"]}
    confocal["domain"]["pixel_size"] = {"x": 60, "y": 60, "unit": "nm"}
    registry.publish(_tiny(tmp_path, "tiny-a", domain=confocal["domain"]), model_id="mt")
    assert [h.id for h in registry.search()] == ["mt", "n2v-ihc-careamics"]
    assert [h.id for h in registry.search(modality="confocal")] == ["mt"]
    assert [h.id for h in registry.search(noise="poisson-gaussian", method="n2v")] == [
        "mt",
        "n2v-ihc-careamics",
    ]
    assert [h.id for h in registry.search(structure="microtub")] == ["mt"]
    assert [h.id for h in registry.search("IHC")] == ["n2v-ihc-careamics"]
    assert [h.id for h in registry.search(pixel_size_min=0.05, pixel_size_max=0.07)] == ["mt"]
    assert registry.search(pixel_size_max=0.01) == []
    assert registry.search(modality="TEM") == []


def test_offline_fetch_from_cache(example_zip: Path, registry: Registry, tmp_path: Path) -> None:
    registry.publish(example_zip)
    first = registry.fetch("n2v-ihc-careamics")
    shutil.rmtree(Path(registry.source) / "models")  # the source's blobs are gone
    assert registry.fetch("n2v-ihc-careamics") == first


def test_corrupted_cache_blob_is_detected_and_refetched(
    example_zip: Path, registry: Registry
) -> None:
    registry.publish(example_zip)
    cached = registry.fetch("n2v-ihc-careamics")
    cached.write_bytes(b"corrupt" + cached.read_bytes()[7:])
    again = registry.fetch("n2v-ihc-careamics")
    assert again.read_bytes() == example_zip.read_bytes()


def test_corrupted_registry_blob_never_enters_the_cache(
    example_zip: Path, registry: Registry
) -> None:
    result = registry.publish(example_zip)
    blob = Path(registry.source) / result.entry.location
    blob.write_bytes(b"tampered" + blob.read_bytes()[8:])
    with pytest.raises(IntegrityError, match="discarded"):
        registry.fetch("n2v-ihc-careamics")
    assert tree_digest(registry.cache) == {}


def test_failed_publish_leaves_the_registry_byte_identical(
    example_zip: Path, registry: Registry, tmp_path: Path, shared_data: Path
) -> None:
    registry.publish(example_zip)
    before = tree_digest(Path(registry.source))
    # no card
    with pytest.raises(SpecError, match="no zoo card") as info:
        registry.publish(shared_data / "careamics" / "n2v_short_bioimageio_export.zip")
    assert "domain.modality" in str(info.value) and "zoo card init" in str(info.value)
    # broken TorchScript
    card = ZooCard.model_validate(card_dict())
    with pytest.raises(SpecError, match="torchscript") as info:
        registry.publish(shared_data / "careamics" / "n2v_short_bioimageio_with_onnx", card=card)
    assert "onnx" not in str(info.value).split("torchscript", 1)[0]
    # bad version
    with pytest.raises(SpecError, match="invalid version"):
        registry.publish(example_zip, version="1.0")
    assert tree_digest(Path(registry.source)) == before


def test_real_bioimageio_export_publishes_with_a_card(
    registry: Registry, shared_data: Path, tmp_path: Path
) -> None:
    card_path = tmp_path / "card.yaml"
    card_path.write_text(yaml.safe_dump(card_dict()))
    from zoo.cardfile import load_card

    src = shared_data / "careamics" / "n2v_short_bioimageio_export.zip"
    result = registry.publish(src, card=load_card(card_path), model_id="careamics-tiny")
    assert result.version == "0.3.5"  # the package's own version
    package = registry.load("careamics-tiny")
    assert package.card == load_card(card_path)


def test_http_registry_needs_a_token_and_a_server_to_publish(
    example_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZOO_TOKEN", raising=False)
    remote = Registry("http://127.0.0.1:9", cache=tmp_path / "cache")
    with pytest.raises(AuthError, match="needs a token"):
        remote.publish(example_zip)
    with_token = Registry("http://127.0.0.1:9", cache=tmp_path / "cache", token="zoo_x")
    with pytest.raises(RegistryError, match="cannot reach"):
        with_token.publish(example_zip)
    with pytest.raises(RegistryError, match="no cached index"):
        remote.fetch("anything")


def test_static_http_registry_refuses_uploads(
    example_zip: Path, tmp_path: Path, static_server
) -> None:  # type: ignore[no-untyped-def]
    site, url, _stop = static_server
    Registry(site, cache=tmp_path / "pub-cache").publish(example_zip)
    before = tree_digest(site)
    remote = Registry(url, cache=tmp_path / "client-cache", token="zoo_x")
    with pytest.raises(RegistryError, match="does not accept uploads"):
        remote.publish(example_zip, model_id="again")
    assert tree_digest(site) == before


@pytest.fixture
def static_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A plain static HTTP server on a free loopback port, serving ``tmp_path / 'site'``."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    site = tmp_path / "site"
    site.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    yield site, f"http://127.0.0.1:{server.server_address[1]}", stop
    if thread.is_alive():
        stop()


def test_http_registry_fetch_search_and_offline(
    example_zip: Path, tmp_path: Path, static_server
) -> None:  # type: ignore[no-untyped-def]
    site, url, stop = static_server
    Registry(site, cache=tmp_path / "pub-cache").publish(example_zip)
    remote = Registry(url, cache=tmp_path / "client-cache")
    assert [h.id for h in remote.search(modality="synthetic")] == ["n2v-ihc-careamics"]
    path = remote.fetch("n2v-ihc-careamics")
    assert path.read_bytes() == example_zip.read_bytes()
    (site / "index.json").rename(site / "moved.json")  # the server answers 404 now
    with pytest.raises(RegistryError, match="404"):
        remote.search()
    stop()  # the server is gone: fetch works offline from the cache
    assert remote.fetch("n2v-ihc-careamics") == path
    assert [h.id for h in remote.search()] == ["n2v-ihc-careamics"]
