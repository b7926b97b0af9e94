"""Fixtures of the server tests: tiny real packages, a registry with a token, a real uvicorn
server on a free loopback port (in a thread), an in-process client (httpx ASGITransport)."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from zoo.registry import Registry
from zoo.spec import ZooCard
from zoo_bench.fixtures import build_tiny_package, card_dict

FINGERPRINT = {
    "zoo_version": "0.1.0",
    "n_images": 4,
    "source": "4 training images",
    "stats": {
        "noise_sigma": {"value": 2.0, "low": 1.5, "high": 3.5},
        "snr_db": {"value": 18.0, "low": 12.0, "high": 24.0},
        "noise_corr_x": {"value": 0.02, "low": -0.01, "high": 0.05},
    },
}


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path → digest)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny real packages: widefield nuclei (with a fingerprint), confocal microtubules, one
    with other bytes (for the immutable-version refusal), one without a card."""
    root = tmp_path_factory.mktemp("server-packages")
    nuclei = card_dict(fingerprint=FINGERPRINT)
    mt = card_dict(method={"name": "care", "framework": "zoo tests"}, noise={"type": "gaussian"})
    mt["domain"] |= {"modality": "confocal", "structures": ["microtubules"]}
    mt["domain"]["pixel_size"] = {"x": 60, "y": 60, "unit": "nm"}
    other = card_dict(noise={"type": "poisson"})
    made = {}
    for name, card in (("nuclei", nuclei), ("mt", mt), ("other", other), ("nocard", None)):
        parsed = None if card is None else ZooCard.model_validate(card)
        made[name] = build_tiny_package(root / name, parsed, name=f"tiny-{name}")
    return made


@dataclass
class Site:
    """A registry folder with one token, and where a server for it listens."""

    root: Path
    token: str
    url: str = ""
    app: Any = None

    def registry(self, cache: Path, token: str | None = None) -> Registry:
        """A client of this site over HTTP."""
        return Registry(self.url, cache=cache, token=token)


def make_site(tmp_path: Path, **app_options: Any) -> Site:
    from zoo.server.app import create_app
    from zoo.server.tokens import TokenStore

    root = tmp_path / "registry"
    root.mkdir()
    tokens = TokenStore(root / ".tokens.json")
    token, _ = tokens.add("alice")
    app = create_app(Registry(root, cache=tmp_path / "server-cache"), tokens=tokens, **app_options)
    return Site(root=root, token=token, app=app)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on a free loopback port; yield its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


@contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """`python -m http.server` on a free loopback port, as its own process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    proc = subprocess.Popen(
        [*command, "--directory", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/index.json", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "no http.server"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """A registry with a token and the app serving it (not listening; see ``live``)."""
    return make_site(tmp_path, max_upload_bytes=1 << 20, workdir=_workdir(tmp_path))


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "uploads"
    work.mkdir(exist_ok=True)
    return work


@pytest.fixture
def live(site: Site) -> Iterator[Site]:
    """``site`` served by a real uvicorn server over loopback."""
    with serving(site.app) as url:
        site.url = url
        yield site


class AsgiClient:
    """A synchronous in-process client of an ASGI app (httpx ASGITransport)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://zoo.test") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture
def client(site: Site) -> AsgiClient:
    return AsgiClient(site.app)
