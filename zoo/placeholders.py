"""Placeholder metadata: what zoo filled in because a package's author did not say.

``zoo package`` fills a missing description, licence or author list (bioimage.io requires
them) and records which in the card (``ZooCard.placeholders``); ``zoo card init`` leaves
``TODO`` in every card field the weights cannot tell. A registry refuses to publish either
unless told to (``zoo publish --allow-placeholders``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoo.errors import SpecError
from zoo.spec import ZooCard

__all__ = [
    "PLACEHOLDER_HINTS",
    "PLACEHOLDER_TEXT",
    "find_placeholders",
    "keep_placeholders",
    "placeholder_advice",
    "refuse_placeholders",
]

PLACEHOLDER_TEXT = "TODO"
"""The value ``zoo card init`` leaves in every field the weights cannot tell."""

PLACEHOLDER_HINTS = {
    "authors": "zoo package --author NAME (repeatable)",
    "license": "zoo package --license SPDX-ID (the licence of the weights)",
    "description": "zoo package --description TEXT",
}
"""How to give each package field zoo fills with a placeholder."""


def find_placeholders(
    card: ZooCard | None, *, description: str = "", authors: Sequence[str] = ()
) -> list[str]:
    """The fields of a package that hold placeholders, not the author's metadata.

    Those the card records (``placeholders``), card values left ``TODO``, authors named
    "unknown" and descriptions zoo wrote ("… denoiser packaged by zoo"): each as its name
    (``authors``, ``card.training_data.description``, …).
    """
    found = list(card.placeholders or []) if card is not None else []
    if any(a.strip().lower() in ("", "unknown") for a in authors):
        found.append("authors")
    if description.strip().endswith("packaged by zoo"):
        found.append("description")
    if card is not None:
        data = card.model_dump(mode="json", exclude={"placeholders", "fingerprint"})
        found += [f"card.{key}" for key in _todo_keys(data)]
    return list(dict.fromkeys(found))


def _todo_keys(data: Any, prefix: str = "") -> list[str]:
    """Dotted keys of ``data`` whose value (or list item) is ``TODO``."""
    if isinstance(data, dict):
        return [k for key, v in data.items() for k in _todo_keys(v, f"{prefix}{key}.")]
    if isinstance(data, list):
        return [prefix.rstrip(".")] if any(_todo_keys(v, prefix) for v in data) else []
    is_todo = isinstance(data, str) and data.strip().upper() == PLACEHOLDER_TEXT
    return [prefix.rstrip(".")] if is_todo else []


def placeholder_advice(fields: Sequence[str]) -> str:
    """One line per placeholder field: its name and how to set it."""
    lines = []
    for name in fields:
        hint = PLACEHOLDER_HINTS.get(name)
        if hint is None and name.startswith("card."):
            hint = f"fill it in the card YAML (or --set {name.removeprefix('card.')}=…)"
        lines.append(f"  {name}: {hint or 'set it'}")
    return "\n".join(lines)


def refuse_placeholders(
    card: ZooCard | None, description: str, authors: Sequence[str], source: object
) -> None:
    """Raise :class:`SpecError` naming the placeholder metadata of the package at ``source``
    (:func:`find_placeholders`) and how to set each field."""
    fields = find_placeholders(card, description=description, authors=authors)
    if fields:
        raise SpecError(
            f"{source} holds placeholder metadata, not its author's; refusing to publish:\n"
            f"{placeholder_advice(fields)}\nRebuild the package with them, or publish anyway "
            "with --allow-placeholders (allow_placeholders=True)"
        )


def keep_placeholders(card: ZooCard | None, old: ZooCard | None) -> ZooCard | None:
    """``card`` (attached to a package in place of ``old``) keeping the package fields
    ``old`` records as placeholders: a new card does not make them the author's."""
    recorded = [f for f in (old.placeholders or []) if f in PLACEHOLDER_HINTS] if old else []
    if card is None or not recorded:
        return card
    merged = list(dict.fromkeys([*(card.placeholders or []), *recorded]))
    return card.model_copy(update={"placeholders": merged})
