"""The FastAPI application of ``zoo serve``: the registry over HTTP, with its web pages.

URL layout (relative to the server's root, so that the same client reads a server, a static
export and a plain folder served by any file server):

- ``GET /index.json``, ``GET /models/<sha256>.zip``: the registry as files (the package
  download answers with an ETag, its sha256, and byte ranges): :mod:`zoo.server.files`;
- ``GET /api/v1/…``: search, model and version metadata, downloads by id; ``POST`` publish
  and yank with a bearer token (reading is public, writing needs a token):
  :mod:`zoo.server.api`;
- ``GET /``, ``GET /model/<id>/``, ``GET /covers/<sha256>.<ext>``: the web pages:
  :mod:`zoo.server.pages`;
- ``GET /docs``, ``GET /openapi.json``: the OpenAPI description.

Handlers only parse, call :class:`~zoo.registry.Registry` and map errors to status codes;
what they share is on ``app.state`` (:mod:`zoo.server.state`).
"""

from pathlib import Path

from fastapi import FastAPI

from zoo import __version__, errors
from zoo.registry import Registry
from zoo.server import api, files, pages
from zoo.server.cache import IndexCache
from zoo.server.download import BlobCache
from zoo.server.state import Settings
from zoo.server.tokens import TokenStore
from zoo.server.web import PackageInfos, Pages

__all__ = ["create_app"]


def create_app(
    registry: Registry | str,
    *,
    tokens: TokenStore | str | Path,
    max_upload_bytes: int = 200 << 20,
    workdir: str | Path | None = None,
    cache_bytes: int = 256 << 20,
) -> FastAPI:
    """The application for one registry (a folder or fsspec URL, never another server).

    ``tokens`` holds the bearer tokens that may publish and yank; an upload larger than
    ``max_upload_bytes`` is refused with 413 while it streams in, into ``workdir`` (default:
    the system's temporary folder), never into the registry. Up to ``cache_bytes`` of package
    zips are kept in memory once downloaded (0: every download streams from the store).
    """
    from zoo.store import LocalStore

    reg = registry if isinstance(registry, Registry) else Registry(registry)
    if not isinstance(reg.store, LocalStore):
        raise errors.RegistryError(
            f"zoo serve needs a registry folder or fsspec URL, not {reg.source}"
        )
    store = reg.store
    app = FastAPI(
        title="zoo registry",
        summary="Pretrained microscopy denoisers as bioimage.io model packages.",
        version=__version__,
        # the routers' routes join the app's own, not app.include_router: FastAPI keeps an
        # included router as a nested route that is matched anew on every request
        routes=[*files.router.routes, *api.router.routes, *pages.router.routes],
    )
    state = app.state
    state.registry = reg
    state.tokens = tokens if isinstance(tokens, TokenStore) else TokenStore(tokens)
    state.settings = Settings(
        max_upload_bytes=max_upload_bytes,
        workdir=workdir,
        reads_on_loop=store.local,
    )
    state.index_cache = IndexCache(reg)
    state.blobs = BlobCache(max_bytes=cache_bytes)
    state.pages = Pages()
    state.infos = PackageInfos(lambda entry: store.open_blob(entry.location))
    app.exception_handler(errors.ZooError)(api.zoo_error_handler)
    return app
