"""The registry as files, at the layout of a static registry: ``index.json`` (gzipped for
clients that accept it) and the package zips by sha256 (:mod:`zoo.server.download`)."""

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from zoo.index import SHA256
from zoo.server.api import ERROR_RESPONSES
from zoo.server.download import blob_response
from zoo.server.state import on_loop

__all__ = ["accepts_gzip", "router"]

router = APIRouter(tags=["files"], responses=ERROR_RESPONSES)


@router.get("/index.json", summary="The registry index")
@on_loop
def index_json(request: Request) -> Response:
    gzipped = accepts_gzip(request.headers.get("accept-encoding", ""))
    body = request.app.state.index_cache.json(gzipped=gzipped)
    headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/models/{sha256}.zip",
    summary="A package zip by its sha256 (ETag, Range; HEAD too)",
    response_class=Response,
)
@router.head("/models/{sha256}.zip", include_in_schema=False)
@on_loop
def blob(request: Request, sha256: Annotated[str, PathParam(pattern=SHA256)]) -> Any:
    state = request.app.state
    entry = state.index_cache.entry(sha256)
    return blob_response(request, state.registry.store, entry, cache=state.blobs)


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
