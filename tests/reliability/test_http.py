"""Bad requests to a real ``zoo serve`` (uvicorn on a free loopback port): missing, wrong or
malformed tokens, oversized or malformed uploads, traversal in the URL and in ids, a slow
client. Each gets its status and the client's named error; the registry, the server's
upload folder and the client's cache are byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability import bad
from tests.reliability.catalogue import Attempt, Case, Family, World, ids, refused
from zoo.errors import AuthError, PackageError, SpecError, UploadTooLargeError
from zoo.registry import Registry
from zoo.store import HttpStore, _api_result

HTTP = Family("http")
case = HTTP.case
LIMIT = 256 << 10
"""The server's upload limit in these tests (the tiny package is 33 kB)."""


@dataclass
class Live:
    world: World
    url: str
    token: str
    uploads: Path

    def client(self, token: str | None = None) -> Registry:
        return Registry(self.url, cache=self.world.cache, token=token)

    def zoo(self, *args: str, token: str | None = None) -> list[str]:
        flags = ["--token", token] if token else []
        return [*args, "--registry", self.url, "--cache", str(self.world.cache), *flags]

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=30, **kw)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def live(world: World) -> Iterator[Live]:
    from tests.server.conftest import serving
    from zoo.server.app import create_app
    from zoo.server.tokens import TokenStore

    tokens = TokenStore(world.tmp / "tokens.json")
    token, _ = tokens.add("alice")
    uploads = world.tmp / "uploads"
    uploads.mkdir()
    server = Registry(world.registry, cache=world.tmp / "server-cache")
    app = create_app(server, tokens=tokens, max_upload_bytes=LIMIT, workdir=uploads)
    with serving(app) as url:
        yield Live(world, url, token, uploads)


def _expect(status: int, response: httpx.Response, error: str | None = None) -> None:
    assert response.status_code == status, response.text
    if error is not None:
        assert response.json()["error"] == error, response.text


def _attempt(live: Live, call: Any, argv: list[str] | None, after: Any = None) -> Attempt:
    return Attempt(call, argv, [live.uploads, live.world.tmp / "server-cache"], after)


@case("http-no-token", "publish without a token", AuthError, match="needs a token",
      status=401)  # fmt: skip
def _(live: Live) -> Attempt:
    tiny = live.world.tiny

    def raw() -> None:
        response = live.post("/api/v1/publish", content=tiny.read_bytes())
        _expect(401, response, "MissingTokenError")
        assert response.headers["www-authenticate"] == "Bearer"

    return _attempt(live, lambda: live.client().publish(tiny, model_id="candidate"),
                    live.zoo("publish", str(tiny), "--id", "candidate"), raw)  # fmt: skip


@case("http-wrong-token", "publish with an unknown token", AuthError,
      match="refused the token", status=403)  # fmt: skip
def _(live: Live) -> Attempt:
    tiny, guess = live.world.tiny, "zoo_" + "x" * 43

    def raw() -> None:
        headers = {"Authorization": f"Bearer {guess}"}
        _expect(403, live.post("/api/v1/publish", content=tiny.read_bytes(), headers=headers))

    argv = live.zoo("publish", str(tiny), "--id", "candidate", token=guess)
    return _attempt(live, lambda: live.client(guess).publish(tiny, model_id="candidate"),
                    argv, raw)  # fmt: skip


@case("http-malformed-auth", "Authorization: Basic … (not a bearer token)", AuthError,
      exit=None, match="needs a token", status=401)  # fmt: skip
def _(live: Live) -> Attempt:
    headers = {"Authorization": "Basic YWxpY2U6c2VjcmV0"}

    def call() -> None:
        response = live.post("/api/v1/publish", content=live.world.tiny.read_bytes(),
                             headers=headers)  # fmt: skip
        _expect(401, response)
        _api_result(response, "POST", live.url)

    return _attempt(live, call, None)


def _padded(world: World, size: int) -> Path:
    pad = os.urandom(size)

    def attach(d: dict) -> None:
        d["attachments"] = [{"source": "pad.bin", "sha256": hashlib.sha256(pad).hexdigest()}]

    return bad.rewrite(world.tiny, world.tmp / "big.zip", rdf=attach, files={"pad.bin": pad})


@case("http-oversized", "a valid 1 MiB package to a server taking 256 KiB",
      UploadTooLargeError, match="limit", status=413)  # fmt: skip
def _(live: Live) -> Attempt:
    big = _padded(live.world, 1 << 20)
    return _attempt(
        live,
        lambda: live.client(live.token).publish(big, model_id="candidate"),
        live.zoo("publish", str(big), "--id", "candidate", token=live.token),
    )


@case("http-oversized-streamed", "1 MiB sent chunked, without Content-Length",
      UploadTooLargeError, exit=None, match="limit", status=413)  # fmt: skip
def _(live: Live) -> Attempt:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield os.urandom(16 << 10)

    def call() -> None:
        response = live.post("/api/v1/publish", content=chunks(), headers=live.auth())
        _expect(413, response, "UploadTooLargeError")
        _api_result(response, "POST", live.url)

    return _attempt(live, call, None)


@case("http-not-a-zip", "4 kB of random bytes uploaded as the package", PackageError,
      match="cannot read", status=422)  # fmt: skip
def _(live: Live) -> Attempt:
    junk = live.world.tmp / "junk.zip"
    junk.write_bytes(os.urandom(4096))
    store = HttpStore(live.url)

    def raw() -> None:
        _expect(422, live.post("/api/v1/publish", content=junk.read_bytes(),
                               headers=live.auth()), "PackageError")  # fmt: skip

    return _attempt(
        live,
        lambda: store.publish(junk, token=live.token, model_id="candidate", version=None),
        live.zoo("publish", str(junk), "--id", "candidate", token=live.token),
        raw,
    )


@case("http-malformed-multipart", "the package sent as a multipart form, not as the body",
      PackageError, exit=None, match="before its first member", status=422)  # fmt: skip
def _(live: Live) -> Attempt:
    def call() -> None:
        files = {"file": ("tiny.zip", live.world.tiny.read_bytes(), "application/zip")}
        response = live.post("/api/v1/publish", files=files, headers=live.auth(),
                             params={"id": "candidate"})  # fmt: skip
        _expect(422, response, "PackageError")
        _api_result(response, "POST", live.url)

    return _attempt(live, call, None)


@case("http-broken-multipart", "a multipart body cut off before its boundary ends",
      PackageError, exit=None, match="cannot read", status=422)  # fmt: skip
def _(live: Live) -> Attempt:
    def call() -> None:
        body = b'--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\nPK\x03\x04'
        headers = {**live.auth(), "Content-Type": "multipart/form-data; boundary=XyZ"}
        response = live.post("/api/v1/publish", content=body, headers=headers)
        _expect(422, response, "PackageError")
        _api_result(response, "POST", live.url)

    return _attempt(live, call, None)


@case("http-empty-body", "a publish with an empty body", PackageError, exit=None,
      match="empty", status=422)  # fmt: skip
def _(live: Live) -> Attempt:
    def call() -> None:
        response = live.post("/api/v1/publish", content=b"", headers=live.auth())
        _expect(422, response, "PackageError")
        _api_result(response, "POST", live.url)

    return _attempt(live, call, None)


@case("http-traversal-id", "publish ?id=../../etc", SpecError, match="invalid model id",
      status=422)  # fmt: skip
def _(live: Live) -> Attempt:
    tiny, store = live.world.tiny, HttpStore(live.url)

    def raw() -> None:
        response = live.post("/api/v1/publish", params={"id": "../../etc"},
                             content=tiny.read_bytes(), headers=live.auth())  # fmt: skip
        _expect(422, response, "SpecError")

    return _attempt(
        live,
        lambda: store.publish(tiny, token=live.token, model_id="../../etc", version=None),
        live.zoo("publish", str(tiny), "--id", "../../etc", token=live.token),
        raw,
    )


SECRET = b"the-secret-beside-the-registry"
TRAVERSALS = [
    "/../secret.txt",
    "/models/..%2F..%2Fsecret.txt",
    "/models/%2e%2e/%2e%2e/secret.txt",
    "/models/..%2f..%2fsecret.zip",
    "/covers/..%2F..%2Fsecret.txt",
    "/api/v1/models/..%2F..%2Fsecret.txt",
    "/api/v1/models/..%2F..%2Fsecret/1.0.0/package",
    "/model/..%2F..%2Fsecret.txt/",
    "/%2e%2e/%2e%2e/secret.txt",
    "/index.json/../../secret.txt",
]


@case("http-traversal-url", "GET …/..%2F..%2Fsecret.txt and 9 other traversals",
      SpecError, match="invalid model id", status=404)  # fmt: skip
def _(live: Live) -> Attempt:
    (live.world.tmp / "secret.txt").write_bytes(SECRET)

    def raw() -> None:
        with socket.create_connection(("127.0.0.1", int(live.url.rsplit(":", 1)[1]))) as s:
            s.sendall(b"GET /../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b"".join(iter(lambda: s.recv(65536), b""))  # unnormalised, on the wire
        assert SECRET not in answer
        for path in TRAVERSALS:
            response = httpx.get(f"{live.url}{path}", timeout=30)
            assert SECRET not in response.content, path
            assert response.status_code in (404, 422), (path, response.status_code)

    return _attempt(live, lambda: live.client().fetch("../../secret"),
                    live.zoo("fetch", "../../secret"), raw)  # fmt: skip


@case("http-traversal-yank", "yank ../../etc@1.0.0", SpecError, match="invalid model id",
      status=422)  # fmt: skip
def _(live: Live) -> Attempt:
    def raw() -> None:
        slashes = live.post("/api/v1/models/..%2F..%2Fetc/1.0.0/yank",
                            json={"reason": "x"}, headers=live.auth())  # fmt: skip
        _expect(404, slashes)  # %2F is decoded: no route has that many parts
        backslashes = live.post("/api/v1/models/..%5C..%5Cetc/1.0.0/yank",
                                json={"reason": "x"}, headers=live.auth())  # fmt: skip
        _expect(422, backslashes, "SpecError")

    return _attempt(live, lambda: live.client(live.token).yank("../../etc@1.0.0", "x"),
                    live.zoo("yank", "../../etc@1.0.0", "--reason", "x", token=live.token),
                    raw)  # fmt: skip


@pytest.mark.parametrize("case", ids(HTTP))
def test_catalogue(case: Case, live: Live) -> None:
    refused(live.world, case, case.build(live))


def test_a_slow_client_holds_up_nobody_and_an_abandoned_upload_leaves_nothing(
    live: Live,
) -> None:
    """A client trickles a package at 1 kB per 50 ms, then drops the connection: meanwhile
    other clients are served (five requests while the upload is still incomplete);
    afterwards the registry and the upload folder are as they were."""
    before = live.world.snapshot(live.uploads)
    port = int(live.url.rsplit(":", 1)[1])
    body = live.world.tiny.read_bytes()
    served = threading.Event()
    trickled: list[int] = []

    def slow() -> None:
        with socket.create_connection(("127.0.0.1", port)) as s:
            head = (
                f"POST /api/v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {live.token}"
                f"\r\nContent-Type: application/zip\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            s.sendall(head.encode())
            deadline = time.monotonic() + 60
            sent = 0  # trickle (never the whole body) until the others were served
            while not served.is_set() and time.monotonic() < deadline:
                if sent < len(body) - 1024:
                    s.sendall(body[sent : sent + 1024])
                    sent += 1024
                time.sleep(0.05)
            trickled.append(sent)
        # the connection closes here, short of its Content-Length

    trickle = threading.Thread(target=slow)
    trickle.start()
    latencies = []
    for _ in range(5):
        t0 = time.perf_counter()
        assert httpx.get(f"{live.url}/index.json", timeout=10).status_code == 200
        latencies.append(time.perf_counter() - t0)
        time.sleep(0.1)
    still_uploading = trickle.is_alive()
    served.set()
    trickle.join()
    assert still_uploading, f"the upload ended before five requests were served: {latencies}"
    assert trickled and trickled[0] < len(body), trickled
    deadline = time.monotonic() + 10
    while live.world.snapshot(live.uploads) != before and time.monotonic() < deadline:
        time.sleep(0.1)  # the server notices the disconnect and removes the partial upload
    assert live.world.snapshot(live.uploads) == before


def test_a_short_soak_of_zoo_serve_has_no_errors_and_flat_memory(tmp_path: Path) -> None:
    """scripts/soak_serve.py for a few seconds (its full run is in docs/reliability.md)."""
    import json
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "soak_serve.py"
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(script), "--seconds", "6", "--clients", "3", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["errors"] == 0 and figures["memory_flat"]
    assert figures["requests"] > 100
