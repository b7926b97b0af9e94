"""JSON Schemas of zoo's file formats, generated from the pydantic models that define them."""

from __future__ import annotations

from typing import Any

from zoo.index import Index
from zoo.spec import ZooCard

__all__ = ["all_schemas"]

SCHEMA_BASE = "https://zoo.invalid/schemas/"
"""Base of the ``$id`` of each schema (a placeholder host: schemas are shipped, not served)."""


def _schema(model: Any, filename: str, title: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_BASE + filename
    schema["title"] = title
    return schema


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name in schemas/ → JSON Schema."""
    return {
        "card.schema.json": _schema(
            ZooCard, "card.schema.json", "zoo denoiser card (config.zoo of a bioimage.io model)"
        ),
        "index.schema.json": _schema(Index, "index.schema.json", "zoo registry index (index.json)"),
    }
