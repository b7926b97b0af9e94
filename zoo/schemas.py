"""JSON Schemas of zoo's file formats, generated from the pydantic models that define them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.index import Index
from zoo.spec import ZooCard

__all__ = ["all_schemas", "render", "stale_schemas", "write_schemas"]

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


def render(schema: dict[str, Any]) -> str:
    """The text of a schema file: sorted keys, two-space indents, a final newline."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def stale_schemas(folder: Path) -> list[str]:
    """The schema files in ``folder`` that are missing or differ from :func:`all_schemas`."""
    return [
        name
        for name, schema in all_schemas().items()
        if not (folder / name).is_file() or (folder / name).read_text() != render(schema)
    ]


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema of :func:`all_schemas` into ``folder``; returns the files."""
    folder.mkdir(exist_ok=True)
    paths = []
    for name, schema in all_schemas().items():
        (folder / name).write_text(render(schema))
        paths.append(folder / name)
    return paths
