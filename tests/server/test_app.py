"""The server in-process (httpx ASGITransport): files, downloads, API, refusals, pages."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.server.conftest import AsgiClient, Site, sha256, tree_digest
from zoo.registry import Registry


def _publish(site: Site, package: Path, **params: str) -> dict:  # type: ignore[type-arg]
    response = AsgiClient(site.app).post(
        "/api/v1/publish",
        params=params,
        content=package.read_bytes(),
        headers={"Authorization": f"Bearer {site.token}"},
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def published(site: Site, packages: dict[str, Path]) -> Site:
    _publish(site, packages["nuclei"], id="nuclei", version="0.1.0")
    _publish(site, packages["nuclei"], id="nuclei", version="0.2.0")
    _publish(site, packages["mt"], id="mt")
    return site


def test_files_have_the_layout_of_a_static_registry(
    published: Site, client: AsgiClient, packages: dict[str, Path]
) -> None:
    local = Registry(published.root, cache=published.root.parent / "c")
    index = client.get("/index.json")
    assert index.status_code == 200 and index.headers["content-type"] == "application/json"
    assert json.loads(index.content) == json.loads(local.index().to_json())
    entry = local.resolve("nuclei")[2]
    blob = client.get(f"/{entry.location}")
    assert blob.status_code == 200 and blob.content == packages["nuclei"].read_bytes()
    digest = base64.b64encode(bytes.fromhex(entry.sha256)).decode()
    assert blob.headers["etag"] == f'"{entry.sha256}"'
    assert blob.headers["x-checksum-sha256"] == entry.sha256
    assert blob.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert blob.headers["content-length"] == str(entry.size)
    assert client.get(f"/models/{'0' * 64}.zip").status_code == 404
    assert client.get("/models/not-a-sha.zip").status_code == 422
    assert client.get("/.tokens.json").status_code == 404


@pytest.mark.parametrize("cache_bytes", [256 << 20, 0], ids=["from-memory", "streamed"])
def test_ranges_and_conditional_downloads(published: Site, cache_bytes: int) -> None:
    from zoo.server.app import create_app

    app = create_app(Registry(published.root, cache=published.root.parent / "s"),
                     tokens=published.root / ".tokens.json", cache_bytes=cache_bytes)  # fmt: skip
    client = AsgiClient(app)
    entry = Registry(published.root, cache=published.root.parent / "c").resolve("mt")[2]
    url, data = f"/{entry.location}", (published.root / entry.location).read_bytes()
    size = len(data)
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{size}"
    assert client.get(url, headers={"Range": "bytes=-7"}).content == data[-7:]
    assert client.get(url, headers={"Range": f"bytes={size - 5}-"}).content == data[-5:]
    clipped = client.get(url, headers={"Range": f"bytes=0-{size + 100}"})
    assert clipped.status_code == 206 and clipped.content == data
    beyond = client.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    several = client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == data  # allowed: whole file
    stale = client.get(url, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == data
    same = client.get(url, headers={"If-None-Match": f'"{entry.sha256}"'})
    assert same.status_code == 304 and same.content == b""
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(size)
    assert head.content == b""
    assert client.get(url).content == data


def test_index_json_is_gzipped_for_clients_that_accept_it(
    published: Site, client: AsgiClient
) -> None:
    plain = client.get("/index.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    for accept in ("gzip", "br, gzip;q=0.8", "*"):
        packed = client.get("/index.json", headers={"Accept-Encoding": accept})
        assert packed.headers["content-encoding"] == "gzip", accept
        assert packed.content == plain.content  # httpx decodes it
        assert int(packed.headers["content-length"]) < len(plain.content) / 3
    refused = client.get("/index.json", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    assert json.loads(plain.content)["models"].keys() == {"nuclei", "mt"}


def test_blob_cache_keeps_recent_packages_within_its_bytes(published: Site) -> None:
    from zoo.server.download import BlobCache

    local = Registry(published.root, cache=published.root.parent / "c")
    nuclei, mt = local.resolve("nuclei")[2], local.resolve("mt")[2]
    cache = BlobCache(max_bytes=max(nuclei.size, mt.size) + 1)
    assert cache.get(local.store, nuclei) == (published.root / nuclei.location).read_bytes()
    assert cache.get(local.store, mt) == (published.root / mt.location).read_bytes()
    assert len(cache) == 1  # the older one made room
    small = BlobCache(max_bytes=1 << 30, max_item=min(nuclei.size, mt.size) - 1)
    assert small.get(local.store, nuclei) is None and len(small) == 0  # too big: streamed


def test_search_api_gives_what_registry_search_gives(published: Site, client: AsgiClient) -> None:
    local = Registry(published.root, cache=published.root.parent / "c")
    cases = [
        {},
        {"modality": "confocal"},
        {"noise": "poisson-gaussian", "method": "n2v"},
        {"structure": "microtub"},
        {"q": "NUCLEI"},
        {"pixel_size_min": 0.05, "pixel_size_max": 0.07},
        {"modality": "TEM"},
    ]
    for params in cases:
        api = client.get("/api/v1/search", params=params).json()
        kwargs = {k: v for k, v in params.items() if k != "q"}
        expected = local.search(params.get("q"), **kwargs)  # type: ignore[arg-type]
        assert [(h["id"], h["version"]) for h in api] == [(h.id, h.version) for h in expected]
    assert [h["id"] for h in client.get("/api/v1/search?modality=confocal").json()] == ["mt"]


def test_model_and_version_metadata(
    published: Site, client: AsgiClient, packages: dict[str, Path]
) -> None:
    model = client.get("/api/v1/models/nuclei").json()
    assert model["newest"] == "0.2.0" and set(model["versions"]) == {"0.1.0", "0.2.0"}
    version = client.get("/api/v1/models/nuclei/0.1.0").json()
    assert version["card"]["domain"]["modality"] == "widefield"
    assert version["card"]["fingerprint"]["stats"]["snr_db"]["value"] == 18.0
    assert version["license"] == "BSD-3-Clause"
    package = client.get("/api/v1/models/nuclei/0.1.0/package")
    assert package.content == packages["nuclei"].read_bytes()
    assert package.headers["content-disposition"] == 'attachment; filename="nuclei-0.1.0.zip"'
    missing = client.get("/api/v1/models/nuclei/9.9.9")
    assert missing.status_code == 404 and missing.json()["error"] == "ModelNotFoundError"
    bad = client.get("/api/v1/models/Bad_Id")
    assert bad.status_code == 422 and "invalid model id" in bad.json()["detail"]
    info = client.get("/api/v1").json()
    assert info["models"] == 2 and info["max_upload_bytes"] == 1 << 20


def test_refused_publishes_write_nothing(
    published: Site, client: AsgiClient, packages: dict[str, Path]
) -> None:
    from zoo.server.tokens import TokenStore

    before = tree_digest(published.root)
    body = packages["other"].read_bytes()
    auth = {"Authorization": f"Bearer {published.token}"}
    no_token = client.post("/api/v1/publish", content=body)
    assert no_token.status_code == 401 and no_token.headers["www-authenticate"] == "Bearer"
    assert "zoo token add" in no_token.json()["detail"]
    wrong = client.post("/api/v1/publish", content=body, headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 403
    basic = client.post("/api/v1/publish", content=body, headers={"Authorization": "Basic eA=="})
    assert basic.status_code == 401
    refusals = [
        ({"id": "nuclei", "version": "0.1.0"}, body, 409, "versions are immutable"),
        ({"id": "../etc"}, body, 422, "invalid model id"),
        ({"version": "1.0"}, body, 422, "invalid version"),
        ({}, b"not a zip", 422, "cannot read"),
        ({}, b"", 422, "body is empty"),
        ({}, packages["nocard"].read_bytes(), 422, "no zoo card"),
    ]
    for params, content, status, message in refusals:
        answer = client.post("/api/v1/publish", params=params, content=content, headers=auth)
        assert answer.status_code == status, (params, answer.text)
        assert message in answer.json()["detail"]
        assert str(published.root) not in answer.json()["detail"]  # no server paths shown
    TokenStore(published.root / ".tokens.json").revoke("alice")
    revoked = client.post("/api/v1/publish", params={"id": "x"}, content=body, headers=auth)
    assert revoked.status_code == 403
    after = tree_digest(published.root)
    after.pop(".tokens.json"), before.pop(".tokens.json")  # only the revocation changed it
    assert after == before
    assert list((published.root.parent / "uploads").iterdir()) == []


def test_publish_answers_201_then_200_for_identical_bytes(
    site: Site, client: AsgiClient, packages: dict[str, Path]
) -> None:
    first = _publish(site, packages["mt"], id="mt")
    assert first["created"] and first["entry"]["sha256"] == sha256(packages["mt"])
    again = client.post(
        "/api/v1/publish",
        params={"id": "mt"},
        content=packages["mt"].read_bytes(),
        headers={"Authorization": f"Bearer {site.token}"},
    )
    assert again.status_code == 200 and not again.json()["created"]


def test_yank_needs_a_token_and_keeps_the_version(published: Site, client: AsgiClient) -> None:
    url = "/api/v1/models/nuclei/0.2.0/yank"
    assert client.post(url, json={"reason": "bad"}).status_code == 401
    auth = {"Authorization": f"Bearer {published.token}"}
    assert client.post(url, json={"reason": ""}, headers=auth).status_code == 422
    missing = client.post("/api/v1/models/nuclei/3.0.0/yank", json={"reason": "x"}, headers=auth)
    assert missing.status_code == 404
    done = client.post(url, json={"reason": "wrong normalisation"}, headers=auth)
    assert done.status_code == 200 and done.json()["entry"]["yanked"]
    model = client.get("/api/v1/models/nuclei").json()
    assert model["newest"] == "0.1.0"
    assert model["versions"]["0.2.0"]["yank_reason"] == "wrong normalisation"
    hits = client.get("/api/v1/search", params={"q": "nuclei"}).json()
    assert [(h["id"], h["version"]) for h in hits] == [("nuclei", "0.1.0")]


def test_openapi_describes_the_api(site: Site, client: AsgiClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/publish", "/api/v1/search", "/api/v1/models/{model_id}", "/index.json"):
        assert path in spec["paths"]
    publish = spec["paths"]["/api/v1/publish"]["post"]
    assert {"401", "403", "409", "413"} <= set(publish["responses"])
    assert "application/zip" in publish["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_list_page_filters_like_search(published: Site, client: AsgiClient) -> None:
    page = client.get("/").text
    assert re.findall(r'<tr class="model" data-id="([^"]+)"', page) == ["mt", "nuclei"]
    assert '<option value="confocal">' in page and '<option value="widefield">' in page
    confocal = client.get("/", params={"modality": "confocal"}).text
    assert re.findall(r'<tr class="model" data-id="([^"]+)"', confocal) == ["mt"]
    assert '<option value="confocal" selected>' in confocal
    assert "1 model(s)" in confocal
    text = client.get("/", params={"q": "nuclei", "noise": "poisson-gaussian"}).text
    assert re.findall(r'<tr class="model" data-id="([^"]+)"', text) == ["nuclei"]


def test_model_page_shows_card_versions_fingerprint_cover(
    published: Site, client: AsgiClient, packages: dict[str, Path]
) -> None:
    auth = {"Authorization": f"Bearer {published.token}"}
    client.post("/api/v1/models/nuclei/0.2.0/yank", json={"reason": "<b>bad</b>"}, headers=auth)
    assert client.get("/model/nuclei").status_code == 308
    page = client.get("/model/nuclei/").text
    assert "zoo run nuclei@0.1.0 image.tif -o out.tif" in page  # newest unyanked
    assert "Nikon" in page and "Hamamatsu ORCA-Flash4.0" in page and "not for EM" in page
    assert page.count('<tr class="stat">') == 3 and page.count("<svg") == 3
    assert 'aria-label="snr_db: 18 in [12, 24]"' in page
    assert '<tr class="version is-yanked" data-version="0.2.0">' in page
    assert "&lt;b&gt;bad&lt;/b&gt;" in page and "<b>bad</b>" not in page  # escaped
    assert "BSD-3-Clause" in page
    cover = re.search(r'src="\.\./\.\./(covers/[0-9a-f]{64}\.png)"', page)
    assert cover is not None
    image = client.get(f"/{cover.group(1)}")
    with zipfile.ZipFile(packages["nuclei"]) as zf:
        assert image.content == zf.read("cover.png")
    assert image.headers["content-type"] == "image/png"
    assert client.get(f"/{cover.group(1)[:-4]}.jpg").status_code == 404
    downloads = re.findall(r'href="\.\./\.\./(models/[0-9a-f]{64}\.zip)"', page)
    assert len(downloads) == 2
    content = client.get(f"/{downloads[0]}").content
    assert hashlib.sha256(content).hexdigest() == sha256(packages["nuclei"])
    missing = client.get("/model/nope/", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "no model" in missing.text
    assert str(published.root) not in missing.text


def test_compatibility_report_header_is_stored_as_sent_or_refused(
    site: Site, client: AsgiClient, packages: dict[str, Path]
) -> None:
    """Without the header a version has no report (the server runs no checks of its own);
    a malformed header is refused (422) and nothing is written; a report is shown per version."""
    from zoo.index import Compatibility, ToolCheck, now
    from zoo.store import COMPATIBILITY_HEADER

    plain = _publish(site, packages["nuclei"], id="nuclei", version="0.1.0")
    assert "compatibility" not in plain["entry"]
    page = client.get("/model/nuclei/").text
    assert "No compatibility report: this version was published before zoo kept one." in page

    before = tree_digest(site.root)
    auth = {"Authorization": f"Bearer {site.token}"}
    bad = client.post(
        "/api/v1/publish",
        params={"id": "nuclei", "version": "0.2.0"},
        content=packages["nuclei"].read_bytes(),
        headers={**auth, COMPATIBILITY_HEADER: '{"checks": "all passed"}'},
    )
    assert bad.status_code == 422 and "X-Zoo-Compatibility" in bad.json()["detail"]
    assert tree_digest(site.root) == before

    report = Compatibility(
        checked=now(),
        publisher="zoo 0.1.0, Python 3.11, Linux x86_64",
        checks=[
            ToolCheck(
                tool="zoo (ONNX Runtime)",
                format="onnx",
                version="onnxruntime 1.2",
                status="passed",
                detail="test output reproduced",
            ),
            ToolCheck(
                tool="bioimageio.core test_model",
                format="onnx",
                status="not run",
                detail="bioimageio.core is not installed here",
            ),
        ],
    )
    answer = client.post(
        "/api/v1/publish",
        params={"id": "nuclei", "version": "0.2.0"},
        content=packages["nuclei"].read_bytes(),
        headers={**auth, COMPATIBILITY_HEADER: report.model_dump_json()},
    )
    assert answer.status_code == 201, answer.text
    assert Compatibility.model_validate(answer.json()["entry"]["compatibility"]) == report
    page = client.get("/model/nuclei/").text
    assert "1/2 passed, 1 not run" in page  # the newest version's report, and its row
    assert "bioimageio.core is not installed here" in page
    assert "no report" in page  # 0.1.0's row in the versions table
