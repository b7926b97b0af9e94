"""The bodies of ``zoo serve``'s API and how a zoo error becomes a status code.

Every refusal is ``{"detail": "…", "error": "<zoo error name>"}``, so the client raises the
same error again (``zoo.store._api_result``).
"""

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from zoo import errors
from zoo.index import VersionEntry
from zoo.spec import ZooCard

__all__ = [
    "ApiError",
    "Hit",
    "MissingTokenError",
    "ModelInfo",
    "PublishOut",
    "VersionInfo",
    "YankIn",
    "YankOut",
    "error_response",
]

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
