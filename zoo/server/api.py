"""The JSON API of ``zoo serve`` (``/api/v1/…``): its router, its bodies, and how a zoo
error becomes a status code.

Reading is public; publishing and yanking need a bearer token. Every refusal is
``{"detail": "…", "error": "<zoo error name>"}``, so the client raises the same error again
(``zoo.store._api_result``).
"""

import logging
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from zoo import errors
from zoo.index import (
    Compatibility,
    ModelEntry,
    VersionEntry,
    parse_ref,
    parse_version,
    validate_id,
)
from zoo.registry import Registry
from zoo.server.download import blob_response
from zoo.server.state import on_loop
from zoo.server.tokens import TokenRecord, TokenStore
from zoo.spec import ZooCard

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "Hit",
    "MissingTokenError",
    "ModelInfo",
    "PublishOut",
    "VersionInfo",
    "YankIn",
    "YankOut",
    "error_response",
    "router",
    "zoo_error_handler",
]

logger = logging.getLogger(__name__)

STATUS: dict[type[errors.ZooError], int] = {
    errors.UploadTooLargeError: 413,
    errors.ModelNotFoundError: 404,
    errors.RegistryError: 409,
    errors.SpecError: 422,
    errors.PackageError: 422,
    errors.IntegrityError: 422,
    errors.AuthError: 403,  # MissingTokenError: 401, see _error
    errors.DependencyError: 500,
}


class ApiError(BaseModel):
    """Every refusal: the message (what was expected, what to do) and the zoo error's name."""

    detail: str
    error: str


class Hit(BaseModel):
    """One search result: a model's newest matching version."""

    id: str
    version: str
    entry: VersionEntry


class ModelInfo(BaseModel):
    """A model id with all its versions."""

    id: str
    newest: str | None = Field(description="Newest unyanked version (None: all yanked).")
    versions: dict[str, VersionEntry]


class VersionInfo(BaseModel):
    """One version: its index entry and the full card of the package."""

    id: str
    version: str
    entry: VersionEntry
    card: ZooCard | None
    cite: list[dict[str, str]]
    license: str


class PublishOut(BaseModel):
    """What a publish did (``created`` is false when identical bytes were published)."""

    id: str
    version: str
    created: bool
    entry: VersionEntry


class YankIn(BaseModel):
    """Why a version is yanked."""

    reason: str = Field(min_length=1, max_length=2000)


class YankOut(BaseModel):
    id: str
    version: str
    entry: VersionEntry


class MissingTokenError(errors.AuthError):
    """A write came without a bearer token (401; an unknown token is 403)."""


def error_response(request: Request, exc: errors.ZooError, *, hide: str) -> Response:
    """The status and message of a refusal; the server's own paths are not shown."""
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    if isinstance(exc, MissingTokenError):
        status = 401
    detail = str(exc).replace(f"registry {hide}", "this registry").replace(hide, "<registry>")
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    ):
        from html import escape

        root = request.scope.get("root_path", "")
        page = f"<h1>{status}</h1><p>{escape(detail)}</p><p><a href='{root}/'>all models</a></p>"
        return HTMLResponse(page, status_code=status, headers=headers)
    body = ApiError(detail=detail, error=type(exc).__name__)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def zoo_error_handler(request: Request, exc: errors.ZooError) -> Response:
    """The application's handler of :class:`~zoo.errors.ZooError` (:func:`error_response`)."""
    return error_response(request, exc, hide=request.app.state.registry.source)


def writer(request: Request) -> TokenRecord:
    """The token record of the request's bearer token (401 without one, 403 if unknown)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingTokenError(
            "writing needs a bearer token (Authorization: Bearer TOKEN); "
            "an admin makes one with: zoo token add NAME"
        )
    tokens: TokenStore = request.app.state.tokens
    record = tokens.verify(token.strip())
    if record is None:
        raise errors.AuthError("this token is unknown or was revoked")
    return record


Writer = Annotated[TokenRecord, Depends(writer)]


def _entry(registry: Registry, model_id: str, version: str) -> VersionEntry:
    parse_ref(f"{model_id}@{version}")
    found = registry.index().models.get(model_id, ModelEntry()).versions.get(version)
    if found is None:
        raise errors.ModelNotFoundError(f"no {model_id}@{version} in this registry")
    return found


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {422: {"model": ApiError}}
"""What every route of the OpenAPI description may answer besides its own responses."""

router = APIRouter(tags=["api"], responses=ERROR_RESPONSES)


@router.get("/api/v1", summary="What this server is")
@on_loop
def info(request: Request) -> dict[str, Any]:
    return {
        "zoo_version": request.app.version,
        "models": len(request.app.state.registry.index().models),
        "max_upload_bytes": request.app.state.settings.max_upload_bytes,
        "index": "index.json",
    }


@router.get("/api/v1/search", summary="Search, with the filters of zoo search")
def search(
    request: Request,
    q: str | None = None,
    modality: str | None = None,
    noise: str | None = None,
    method: str | None = None,
    structure: str | None = None,
    pixel_size_min: float | None = None,
    pixel_size_max: float | None = None,
    include_yanked: bool = False,
) -> list[Hit]:
    hits = request.app.state.registry.search(
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


@router.get("/api/v1/models/{model_id}", summary="A model and its versions")
@on_loop
def model(request: Request, model_id: str) -> ModelInfo:
    versions = dict(request.app.state.registry.versions(model_id))
    return ModelInfo(id=model_id, newest=ModelEntry(versions=versions).newest(), versions=versions)


@router.get("/api/v1/models/{model_id}/{version}", summary="One version and its card")
@on_loop
def version_info(request: Request, model_id: str, version: str) -> VersionInfo:
    state = request.app.state
    entry = _entry(state.registry, model_id, version)
    pkg = state.infos.get(entry)
    return VersionInfo(
        id=model_id,
        version=version,
        entry=entry,
        card=pkg.card,
        cite=pkg.cite,
        license=pkg.license,
    )


@router.get(
    "/api/v1/models/{model_id}/{version}/package",
    summary="Download a version's package zip (ETag, Range; HEAD too)",
    response_class=Response,
)
@router.head("/api/v1/models/{model_id}/{version}/package", include_in_schema=False)
@on_loop
def package(request: Request, model_id: str, version: str) -> Any:
    state = request.app.state
    registry: Registry = state.registry
    entry = _entry(registry, model_id, version)
    filename = f"{model_id}-{version}.zip"
    return blob_response(request, registry.store, entry, filename=filename, cache=state.blobs)


@router.post(
    "/api/v1/publish",
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
    version: Annotated[str | None, Query(description="Version (default: the package's)")] = None,
    allow_placeholders: Annotated[
        bool, Query(description="Accept placeholder metadata (authors 'unknown', …)")
    ] = False,
    x_zoo_compatibility: Annotated[
        str | None,
        Header(description="The compatibility report the client computed (JSON), stored as is"),
    ] = None,
) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    if id is not None:
        validate_id(id)
    if version is not None:
        parse_version(version)
    report = _client_report(x_zoo_compatibility)
    state = request.app.state
    limit = state.settings.max_upload_bytes
    with tempfile.TemporaryDirectory(prefix="zoo-upload-", dir=state.settings.workdir) as tmp:
        upload = Path(tmp) / "upload.zip"
        await _receive(request, upload, limit)
        result = await run_in_threadpool(
            state.registry.publish,
            upload,
            model_id=id,
            version=version,
            compatibility=report,
            check_compatibility=False,  # the publisher's to run, not the server's
            allow_placeholders=allow_placeholders,
        )
    logger.info("%s published %s@%s", who.name, result.id, result.version)
    out = PublishOut(
        id=result.id, version=result.version, created=result.created, entry=result.entry
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if result.created else 200)


@router.post(
    "/api/v1/models/{model_id}/{version}/yank",
    summary="Yank a version (it stays fetchable when pinned); needs a token",
    responses={401: {"model": ApiError}, 403: {"model": ApiError}, 404: {"model": ApiError}},
)
def yank(request: Request, model_id: str, version: str, body: YankIn, who: Writer) -> YankOut:
    entry = request.app.state.registry.yank(f"{model_id}@{version}", body.reason)
    logger.info("%s yanked %s@%s: %s", who.name, model_id, version, body.reason)
    return YankOut(id=model_id, version=version, entry=entry)


def _client_report(header: str | None) -> Compatibility | None:
    """The compatibility report a client sent with its upload (None when it sent none)."""
    if header is None:
        return None
    try:
        return Compatibility.model_validate_json(header)
    except ValidationError as exc:
        raise errors.SpecError(
            f"the X-Zoo-Compatibility header is not a compatibility report: {exc.errors()[0]}; "
            "send the JSON of zoo.index.Compatibility, or no header"
        ) from exc


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
