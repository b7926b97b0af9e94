"""``zoo serve --workers N``: N server processes accepting connections on one listening socket.

One process runs Python on one core at most (the GIL); N processes use N. Each worker builds
its own application (its own parsed index, re-read when index.json changes) and runs uvicorn
on the shared socket; publishes from several workers are serialised by the registry's lock
file, so more than one worker needs a registry folder on this machine. The socket is made
here, with TCP named as its protocol, so that asyncio sets TCP_NODELAY on every connection
(uvicorn's own ``--workers`` does not; docs/performance.md). If a worker dies, the others
are stopped and ``zoo serve`` exits (a service manager restarts it).
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
from multiprocessing.connection import wait
from typing import Any

__all__ = ["listening_socket", "serve_workers"]


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket for ``host:port``, its protocol named (TCP_NODELAY)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


def _worker(sock: socket.socket, app_args: dict[str, Any]) -> None:
    import uvicorn

    from zoo.registry import Registry
    from zoo.server.app import create_app

    registry = Registry(app_args.pop("registry"), cache=app_args.pop("cache"))
    app = create_app(registry, **app_args)
    uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[sock])


def serve_workers(workers: int, host: str, port: int, **app_args: Any) -> None:
    """Serve with ``workers`` processes until a signal (or a worker's death) stops them.

    ``app_args``: ``registry`` (its source), ``cache`` and the options of ``create_app``.
    """
    sock = listening_socket(host, port)
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker, args=(sock, dict(app_args))) for _ in range(workers)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the workers in `finally`
    try:
        for proc in procs:
            proc.start()
        wait([proc.sentinel for proc in procs])  # returns when a worker exits
    except KeyboardInterrupt:
        pass  # Ctrl-C reached the workers too: they are shutting down
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join()
        sock.close()
    if any(proc.exitcode not in (0, -signal.SIGTERM) for proc in procs):
        raise SystemExit(1)
