"""``zoo serve --workers N``: several server processes on one socket, stopped together."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.server.conftest import make_site
from zoo.cli import app as cli
from zoo.server.workers import listening_socket
from zoo_bench.serve import ServerStartError, zoo_serve


def test_the_listening_socket_names_tcp_so_connections_get_tcp_nodelay() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:  # protocol 0 (uvicorn's own --workers socket) and asyncio leaves Nagle on: 40 ms a GET
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def _workers(pid: int) -> set[int]:
    """The worker processes of ``pid`` (multiprocessing's spawned children)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            spawned = b"spawn_main" in (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields[1] == str(pid) and spawned:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_two_workers_answer_and_stop_together_on_sigterm(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    log = tmp_path / "server.log"
    with zoo_serve(site.root, "--workers", "2", log=log) as server:
        with httpx.Client(base_url=server.url) as http:
            for _ in range(20):  # new connections: the kernel hands them to either worker
                assert http.get("/index.json", headers={"Connection": "close"}).status_code == 200
        workers = _workers(server.pid)
        assert len(workers) == 2
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0
        assert "2 worker processes" in server.output()
        assert not {p for p in workers if Path(f"/proc/{p}").exists()}, "workers left running"


def test_more_than_one_worker_needs_a_registry_folder(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    result = CliRunner().invoke(
        cli, ["serve", "--registry", "memory://bench", "--tokens", str(tokens), "--workers", "2"]
    )
    assert result.exit_code != 0
    assert "needs a registry folder on this machine" in result.output


def test_a_zoo_serve_that_exits_is_reported_with_its_output(tmp_path: Path) -> None:
    tokens = str(tmp_path / "tokens.json")
    log = tmp_path / "server.log"
    expected = r"(?s)exited with status [1-9].*needs a registry folder"
    with (
        pytest.raises(ServerStartError, match=expected),
        zoo_serve("memory://x", "--tokens", tokens, "--workers", "2", log=log),
    ):
        pass  # pragma: no cover - never reached
