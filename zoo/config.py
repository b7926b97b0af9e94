"""Settings: explicit argument > ``ZOO_*`` environment variable > default, read when called."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EMBEDDED_REGISTRY", "cache_dir", "registry_source", "registry_token"]


def _embedded_registry() -> Path:
    """The installed copy (``zoo/_registry/``, which setup.py puts into a built wheel), else
    the checkout's root (an editable install or a source tree)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_registry"
    return packaged if (packaged / "index.json").is_file() else here.parent


EMBEDDED_REGISTRY = _embedded_registry()
"""The registry shipped with zoo: this repository's ``index.json`` and ``models/``, which
an installed wheel carries as ``zoo/_registry/``."""


def _settings():  # type: ignore[no-untyped-def]
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="ZOO_", extra="ignore")
        cache: Path | None = None
        registry: str | None = None
        token: str | None = None

    return Settings()


def cache_dir(explicit: str | Path | None = None) -> Path:
    """Where verified packages and index copies are cached (``ZOO_CACHE``, else platformdirs)."""
    if explicit is not None:
        return Path(explicit)
    configured = _settings().cache
    if configured is not None:
        return configured
    import platformdirs

    return platformdirs.user_cache_path("zoo")


def registry_source(explicit: str | None = None) -> str:
    """The registry to use: a directory or an http(s) URL (``ZOO_REGISTRY``, else embedded)."""
    if explicit:
        return explicit
    return _settings().registry or str(EMBEDDED_REGISTRY)


def registry_token(explicit: str | None = None) -> str | None:
    """The bearer token for publishing to / yanking on a registry server (``ZOO_TOKEN``)."""
    if explicit:
        return explicit
    return _settings().token or None
