"""The web pages of ``zoo serve``: the model list, a page per model and the cover images.

The pages themselves are rendered by :mod:`zoo.server.web` (shared with the static export);
these handlers read the registry and hand the rows over.
"""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zoo import errors
from zoo.index import SHA256, validate_id
from zoo.registry import Registry
from zoo.server.api import ERROR_RESPONSES
from zoo.server.web import Pages, cover_path

__all__ = ["router"]

router = APIRouter(include_in_schema=False, responses=ERROR_RESPONSES)


@router.get("/", response_class=HTMLResponse)
def list_page(
    request: Request,
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
    registry: Registry = request.app.state.registry
    pages: Pages = request.app.state.pages
    shown = registry.search(query.get("q"), **{k: v for k, v in query.items() if k != "q"})
    every = registry.search()
    return pages.list_page(
        [(h.id, h.version, h.entry) for h in shown],
        every=[(h.id, h.version, h.entry) for h in every],
        query=query,
    )


@router.get("/model/{model_id}")
def model_redirect(model_id: str) -> RedirectResponse:
    validate_id(model_id)
    return RedirectResponse(f"{model_id}/", status_code=308)


@router.get("/model/{model_id}/", response_class=HTMLResponse)
def model_page(request: Request, model_id: str) -> str:
    state = request.app.state
    pages: Pages = state.pages
    return pages.model_page(model_id, state.registry.versions(model_id), state.infos)


@router.get("/covers/{sha256}.{ext}")
def cover(
    request: Request, sha256: Annotated[str, PathParam(pattern=SHA256)], ext: str
) -> Response:
    state = request.app.state
    entry = state.index_cache.entry(sha256)
    found = state.infos.cover(entry)
    if found is None or cover_path(entry, state.infos.get(entry)) != f"covers/{sha256}.{ext}":
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
