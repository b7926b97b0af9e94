"""Markdown documents rendered from Jinja2 templates: one set-up for every generated doc."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def render_markdown(
    template: Path, values: Mapping[str, Any], *, filters: Mapping[str, Callable] | None = None
) -> str:
    """``template`` filled with ``values``: block tags leave no blank lines behind, a missing
    value is an error, nothing is escaped; ``fmt`` is Python's :func:`format`."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template.parent),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters |= {"fmt": format, **(filters or {})}
    return env.get_template(template.name).render(values)
