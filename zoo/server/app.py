"""The FastAPI application of ``zoo serve``: the registry over HTTP, with its web pages.

URL layout (relative to the server's root, so that the same client reads a server, a static
export and a plain folder served by any file server):

- ``GET /index.json``, ``GET /models/<sha256>.zip``: the registry as files (the package
  download answers with an ETag, its sha256, and byte ranges);
- ``GET /api/v1/…``: search, model and version metadata, downloads by id; ``POST`` publish
  and yank with a bearer token (reading is public, writing needs a token);
- ``GET /``, ``GET /model/<id>/``, ``GET /covers/<sha256>.<ext>``: the web pages;
- ``GET /docs``, ``GET /openapi.json``: the OpenAPI description.

Handlers only parse, call :class:`~zoo.registry.Registry` and map errors to status codes.
"""

import functools
import gzip
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from zoo import __version__, errors
from zoo.index import SHA256, ModelEntry, VersionEntry, parse_ref, parse_version, validate_id
from zoo.registry import Registry
from zoo.server.api import (
    ApiError,
    Hit,
    MissingTokenError,
    ModelInfo,
    PublishOut,
    VersionInfo,
    YankIn,
    YankOut,
    error_response,
)
from zoo.server.download import BlobCache, blob_response
from zoo.server.tokens import TokenRecord, TokenStore
from zoo.server.web import PackageInfos, Pages, cover_path

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


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
    token_store = tokens if isinstance(tokens, TokenStore) else TokenStore(tokens)
    pages = Pages()
    infos = PackageInfos(lambda entry: store.open_blob(entry.location))
    blobs = BlobCache(max_bytes=cache_bytes)
    app = FastAPI(
        title="zoo registry",
        summary="Pretrained microscopy denoisers as bioimage.io model packages.",
        version=__version__,
        responses={422: {"model": ApiError}},
    )
    app.state.registry, app.state.tokens = reg, token_store

    @app.exception_handler(errors.ZooError)
    async def zoo_error(request: Request, exc: errors.ZooError) -> Response:
        return error_response(request, exc, hide=reg.source)

    def writer(request: Request) -> TokenRecord:
        """The token record of the request's bearer token (401 without one, 403 if unknown)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise MissingTokenError(
                "writing needs a bearer token (Authorization: Bearer TOKEN); "
                "an admin makes one with: zoo token add NAME"
            )
        record = token_store.verify(token.strip())
        if record is None:
            raise errors.AuthError("this token is unknown or was revoked")
        return record

    Writer = Annotated[TokenRecord, Depends(writer)]

    def entry_of(model_id: str, version: str) -> VersionEntry:
        parse_ref(f"{model_id}@{version}")
        found = reg.index().models.get(model_id, ModelEntry()).versions.get(version)
        if found is None:
            raise errors.ModelNotFoundError(f"no {model_id}@{version} in this registry")
        return found

    derived: dict[str, Any] = {"index": None, "entries": {}}  # derived from the newest index

    def on_loop(handler: Callable[..., Any]) -> Callable[..., Any]:
        """Run a read handler on the event loop, not in a worker thread, when the registry is a
        local folder: it then costs a stat of index.json and a look-up (the index is parsed
        again only when it changed, and that parse would hold the GIL, so stall the loop, in a
        worker thread too; a package's card is read from its zip once), and the hop to a
        thread and back was a third of a metadata GET's CPU time. On remote storage every
        read is a network round trip: a worker thread."""
        if not store.local:
            return handler

        @functools.wraps(handler)
        async def inline(*args: Any, **kwargs: Any) -> Any:
            return handler(*args, **kwargs)

        return inline

    def by_sha(sha256: str) -> VersionEntry:
        """The entry of a package by its sha256 (the map is rebuilt when the index changes)."""
        index = reg.index()
        if derived["index"] is not index:
            entries = {e.sha256: e for m in index.models.values() for e in m.versions.values()}
            derived.update(index=index, entries=entries)
        found = derived["entries"].get(sha256)
        if found is None:
            raise errors.ModelNotFoundError(f"no package with sha256 {sha256} in this registry")
        return found  # type: ignore[no-any-return]

    # -- the registry as files -------------------------------------------------------------
    @app.get("/index.json", tags=["files"], summary="The registry index")
    @on_loop
    def index_json(request: Request) -> Response:
        index = reg.index()
        # serialised (and encoded) once per change, compressed once when first asked for;
        # each kept as one (source, result) pair, so a reader never pairs stale parts
        encoded = derived.get("json")
        if encoded is None or encoded[0] is not index:
            encoded = derived["json"] = (index, index.to_json().encode())
        headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        body = encoded[1]
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            packed = derived.get("json_gz")
            if packed is None or packed[0] is not body:
                packed = derived["json_gz"] = (body, gzip.compress(body, mtime=0))
            body, headers["Content-Encoding"] = packed[1], "gzip"
        return Response(body, media_type="application/json", headers=headers)

    @app.get(
        "/models/{sha256}.zip",
        tags=["files"],
        summary="A package zip by its sha256 (ETag, Range; HEAD too)",
        response_class=Response,
    )
    @app.head("/models/{sha256}.zip", include_in_schema=False)
    @on_loop
    def blob(request: Request, sha256: Annotated[str, PathParam(pattern=SHA256)]) -> Any:
        return blob_response(request, store, by_sha(sha256), cache=blobs)

    # -- JSON API --------------------------------------------------------------------------
    @app.get("/api/v1", tags=["api"], summary="What this server is")
    @on_loop
    def info() -> dict[str, Any]:
        return {
            "zoo_version": app.version,
            "models": len(reg.index().models),
            "max_upload_bytes": max_upload_bytes,
            "index": "index.json",
        }

    @app.get("/api/v1/search", tags=["api"], summary="Search, with the filters of zoo search")
    def search(
        q: str | None = None,
        modality: str | None = None,
        noise: str | None = None,
        method: str | None = None,
        structure: str | None = None,
        pixel_size_min: float | None = None,
        pixel_size_max: float | None = None,
        include_yanked: bool = False,
    ) -> list[Hit]:
        hits = reg.search(
            q,
            modality=modality,
            noise=noise,
            method=method,
            structure=structure,
            pixel_size_min=pixel_size_min,
            pixel_size_max=pixel_size_max,
            include_yanked=include_yanked,
        )
        return [Hit(id=h.id, version=h.version, entry=h.entry) for h in hits]

    @app.get("/api/v1/models/{model_id}", tags=["api"], summary="A model and its versions")
    @on_loop
    def model(model_id: str) -> ModelInfo:
        versions = dict(reg.versions(model_id))
        return ModelInfo(
            id=model_id, newest=ModelEntry(versions=versions).newest(), versions=versions
        )

    @app.get(
        "/api/v1/models/{model_id}/{version}", tags=["api"], summary="One version and its card"
    )
    @on_loop
    def version_info(model_id: str, version: str) -> VersionInfo:
        entry = entry_of(model_id, version)
        pkg = infos.get(entry)
        return VersionInfo(
            id=model_id,
            version=version,
            entry=entry,
            card=pkg.card,
            cite=pkg.cite,
            license=pkg.license,
        )

    @app.get(
        "/api/v1/models/{model_id}/{version}/package",
        tags=["api"],
        summary="Download a version's package zip (ETag, Range; HEAD too)",
        response_class=Response,
    )
    @app.head("/api/v1/models/{model_id}/{version}/package", include_in_schema=False)
    @on_loop
    def package(request: Request, model_id: str, version: str) -> Any:
        entry = entry_of(model_id, version)
        return blob_response(
            request, store, entry, filename=f"{model_id}-{version}.zip", cache=blobs
        )

    @app.post(
        "/api/v1/publish",
        tags=["api"],
        summary="Publish a package zip (the request body); needs a token",
        status_code=201,
        responses={
            200: {"model": PublishOut, "description": "identical bytes were published already"},
            401: {"model": ApiError},
            403: {"model": ApiError},
            409: {"model": ApiError},
            413: {"model": ApiError},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def publish(
        request: Request,
        who: Writer,
        id: Annotated[str | None, Query(description="Model id (default: slug of the name)")] = None,
        version: Annotated[
            str | None, Query(description="Version (default: the package's)")
        ] = None,
    ) -> JSONResponse:
        from starlette.concurrency import run_in_threadpool

        if id is not None:
            validate_id(id)
        if version is not None:
            parse_version(version)
        with tempfile.TemporaryDirectory(prefix="zoo-upload-", dir=workdir) as tmp:
            upload = Path(tmp) / "upload.zip"
            await _receive(request, upload, max_upload_bytes)
            result = await run_in_threadpool(reg.publish, upload, model_id=id, version=version)
        logger.info("%s published %s@%s", who.name, result.id, result.version)
        out = PublishOut(
            id=result.id, version=result.version, created=result.created, entry=result.entry
        )
        return JSONResponse(out.model_dump(mode="json"), status_code=201 if result.created else 200)

    @app.post(
        "/api/v1/models/{model_id}/{version}/yank",
        tags=["api"],
        summary="Yank a version (it stays fetchable when pinned); needs a token",
        responses={401: {"model": ApiError}, 403: {"model": ApiError}, 404: {"model": ApiError}},
    )
    def yank(model_id: str, version: str, body: YankIn, who: Writer) -> YankOut:
        entry = reg.yank(f"{model_id}@{version}", body.reason)
        logger.info("%s yanked %s@%s: %s", who.name, model_id, version, body.reason)
        return YankOut(id=model_id, version=version, entry=entry)

    # -- web pages -------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def list_page(
        q: str | None = None,
        modality: str | None = None,
        noise: str | None = None,
        method: str | None = None,
        structure: str | None = None,
    ) -> str:
        query = {
            "q": q,
            "modality": modality,
            "noise": noise,
            "method": method,
            "structure": structure,
        }
        query = {k: v.strip() for k, v in query.items() if v and v.strip()}
        shown = reg.search(query.get("q"), **{k: v for k, v in query.items() if k != "q"})
        every = reg.search()
        return pages.list_page(
            [(h.id, h.version, h.entry) for h in shown],
            every=[(h.id, h.version, h.entry) for h in every],
            query=query,
        )

    @app.get("/model/{model_id}", include_in_schema=False)
    def model_redirect(model_id: str) -> RedirectResponse:
        validate_id(model_id)
        return RedirectResponse(f"{model_id}/", status_code=308)

    @app.get("/model/{model_id}/", response_class=HTMLResponse, include_in_schema=False)
    def model_page(model_id: str) -> str:
        return pages.model_page(model_id, reg.versions(model_id), infos)

    @app.get("/covers/{sha256}.{ext}", include_in_schema=False)
    def cover(sha256: Annotated[str, PathParam(pattern=SHA256)], ext: str) -> Response:
        entry = by_sha(sha256)
        found = infos.cover(entry)
        if found is None or cover_path(entry, infos.get(entry)) != f"covers/{sha256}.{ext}":
            raise errors.ModelNotFoundError(f"package {sha256} has no .{ext} cover")
        data, media = found
        return Response(
            data,
            media_type=media,
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return app


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header admits gzip (``gzip`` or ``*``, q not 0)."""
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return float(q) > 0 if params.strip().startswith("q=") else True
            except ValueError:
                return False
    return False


async def _receive(request: Request, dest: Path, limit: int) -> None:
    """Stream the request body into ``dest``, refusing it (413) as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    too_large = errors.UploadTooLargeError(
        f"the upload is larger than this server's limit of {limit} bytes "
        f"({limit / 2**20:.1f} MiB); the admin sets it with zoo serve --max-upload-mb"
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    received = 0
    with dest.open("wb") as fh:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large
            fh.write(chunk)
    if received == 0:
        raise errors.PackageError("the request body is empty: send the package zip as the body")
