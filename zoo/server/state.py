"""What the routers of ``zoo serve`` share: the application's state and how reads run.

:func:`zoo.server.app.create_app` puts on ``app.state``:

- ``registry``: the :class:`~zoo.registry.Registry` served (a folder or fsspec URL);
- ``tokens``: the :class:`~zoo.server.tokens.TokenStore` of the tokens that may write;
- ``settings``: :class:`Settings`;
- ``index_cache``: the :class:`~zoo.server.cache.IndexCache` of the registry's index;
- ``blobs``: the :class:`~zoo.server.download.BlobCache` of package zips kept in memory;
- ``pages``, ``infos``: the page renderer and the package metadata it reads
  (:mod:`zoo.server.web`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

__all__ = ["Settings", "on_loop"]


@dataclass(frozen=True)
class Settings:
    """The options of one server."""

    max_upload_bytes: int
    """Largest upload accepted (413 beyond it)."""
    workdir: str | Path | None
    """Where uploads are received (None: the system's temporary folder)."""
    reads_on_loop: bool
    """Whether read handlers run on the event loop (the registry is a folder here)."""


def on_loop(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Make a read handler (its first parameter ``request``) run on the event loop when the
    registry is a folder on this machine, and in a worker thread on remote storage, where
    each read is a network round trip (see docs/performance.md)."""

    @functools.wraps(handler)
    async def run(request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.app.state.settings.reads_on_loop:
            return handler(request, *args, **kwargs)
        return await run_in_threadpool(handler, request, *args, **kwargs)

    return run
