"""``zoo serve`` as a child process on a free loopback port, for tests, benchmarks and soaks.

    with zoo_serve(registry, "--workers", "2", log=tmp / "server.log") as server:
        httpx.get(f"{server.url}/index.json")

The context manager starts ``python -m zoo serve``, waits until ``GET /api/v1`` answers 200
(raising :class:`ServerStartError` with the end of the server's log if the process exits or
the deadline passes first), and on exit terminates the server, killing it if it does not stop.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServeProcess", "ServerStartError", "free_port", "zoo_serve"]


class ServerStartError(RuntimeError):
    """``zoo serve`` exited or did not answer before the deadline."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ServeProcess:
    """A running ``zoo serve``: its base URL, process and log file (stdout and stderr)."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """Everything the server has written so far."""
        return self.log.read_text(errors="replace")


def wait_until_serving(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    """Poll ``GET {url}/api/v1`` until it answers 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/api/v1", timeout=2).status_code == 200:
                return
        if process.poll() is not None:
            reason = f"exited with status {process.returncode}"
        elif time.monotonic() > deadline:
            reason = f"did not answer GET {url}/api/v1 within {timeout:g} s"
        else:
            time.sleep(0.2)
            continue
        tail = log.read_text(errors="replace")[-2000:]
        raise ServerStartError(f"zoo serve {reason}; its output:\n{tail}")


@contextlib.contextmanager
def zoo_serve(
    registry: str | Path,
    *args: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[ServeProcess]:
    """``zoo serve --registry REGISTRY --port FREE ARGS…`` until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "zoo", "serve", "--registry", str(registry)]
    command += ["--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        wait_until_serving(url, process, log, timeout)
        yield ServeProcess(url, process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(20)
