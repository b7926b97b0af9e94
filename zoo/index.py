"""The registry index (``index.json``): every model id, its versions and their card summaries.

The index is the whole catalogue of a registry; packages themselves are content-addressed
blobs beside it. Its JSON Schema is ``schemas/index.schema.json``. Ids are readable slugs,
versions are immutable semantic versions; a version is yanked, never deleted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from zoo.errors import SpecError
from zoo.spec import ZooCard

__all__ = [
    "INDEX_FORMAT_VERSION",
    "CardSummary",
    "Index",
    "ModelEntry",
    "VersionEntry",
    "parse_ref",
    "parse_version",
    "validate_id",
]

INDEX_FORMAT_VERSION = "1"

ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ID_MAX = 64
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$"
)
SHA256 = r"^[0-9a-f]{64}$"
LOCATION = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$"


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class CardSummary(_Node):
    """The searchable part of a package: from its card and its bioimage.io description."""

    name: str
    """Package name."""
    description: str = ""
    """One-line description."""
    modality: str | None = None
    """Imaging modality (card domain.modality)."""
    structures: list[str] = Field(default_factory=list)
    """What the images show."""
    noise_type: str | None = None
    """Noise type the model was trained for."""
    method: str | None = None
    """Training method (n2v, care, …)."""
    dimensionality: int | None = None
    """2 or 3."""
    dtype: str | None = None
    """Raw data type of the training images."""
    pixel_size_um: float | None = None
    """Training pixel size along x, in micrometres."""
    license: str = ""
    """Licence of the package (bioimage.io ``license``)."""
    authors: list[str] = Field(default_factory=list)
    """Author names."""
    tags: list[str] = Field(default_factory=list)
    """bioimage.io tags."""
    weight_formats: list[str] = Field(default_factory=list)
    """Weight formats in the package."""


class VersionEntry(_Node):
    """One immutable published version."""

    sha256: Annotated[str, Field(pattern=SHA256)]
    """sha256 of the package zip."""
    size: Annotated[int, Field(ge=0)]
    """Size of the package zip in bytes."""
    location: Annotated[str, Field(pattern=LOCATION)]
    """Path of the zip relative to the registry root, e.g. ``models/<sha256>.zip``: no URL,
    absolute path or component starting with a dot (``..``), so it stays in the registry."""
    created: datetime
    """When it was published (UTC)."""
    yanked: bool = False
    """A yanked version is only fetched when pinned, with a warning."""
    yank_reason: str | None = None
    """Why it was yanked."""
    summary: CardSummary
    """Searchable card summary."""


class ModelEntry(_Node):
    """All versions of one model id."""

    versions: dict[str, VersionEntry] = Field(default_factory=dict)
    """Version string → entry."""

    def newest(self, *, include_yanked: bool = False) -> str | None:
        """Highest version in semver order, skipping yanked ones unless asked.

        Pre-releases (``1.0.0-rc.1``) are chosen only when no release qualifies, as pip does.
        """
        candidates = [v for v, e in self.versions.items() if include_yanked or not e.yanked]
        releases = [v for v in candidates if "-" not in v]
        pool = releases or candidates
        return max(pool, key=parse_version) if pool else None


class Index(_Node):
    """The content of ``index.json``."""

    format_version: str = INDEX_FORMAT_VERSION
    """Index format version."""
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    """Model id → its versions."""

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def validate_id(model_id: str) -> str:
    """Return ``model_id`` if it is a readable slug, else raise :class:`SpecError`."""
    if len(model_id) > ID_MAX or not re.fullmatch(ID_PATTERN, model_id):
        raise SpecError(
            f"invalid model id {model_id[:80]!r}: expected a lowercase slug of letters, digits "
            f"and single hyphens, at most {ID_MAX} characters (e.g. n2v-fluo-nuclei)"
        )
    return model_id


def parse_version(version: str) -> tuple[Any, ...]:
    """Sort key of a semantic version; :class:`SpecError` if it is not one.

    A pre-release sorts before its release (1.0.0-rc.1 < 1.0.0).
    """
    match = SEMVER.fullmatch(version) if len(version) <= 64 else None
    if not match:
        raise SpecError(f"invalid version {version[:80]!r}: expected semver like 1.2.0")
    major, minor, patch, pre = match.groups()
    pre_key: tuple[Any, ...] = (1,)
    if pre:
        parts = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")]
        pre_key = (0, *parts)
    return (int(major), int(minor), int(patch), pre_key)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split ``ID[@VERSION]`` and validate both parts."""
    model_id, sep, version = ref.partition("@")
    validate_id(model_id)
    if sep:
        parse_version(version)
        return model_id, version
    return model_id, None


def summarize(descr: Any, card: ZooCard | None) -> CardSummary:
    """The searchable summary of a package."""
    formats = [fmt for fmt, entry in descr.weights if entry is not None]
    summary: dict[str, Any] = {
        "name": str(descr.name),
        "description": str(descr.description),
        "license": str(descr.license or ""),
        "authors": [str(a.name) for a in descr.authors],
        "tags": [str(t) for t in descr.tags],
        "weight_formats": formats,
    }
    if card is not None:
        px = card.domain.pixel_size
        summary |= {
            "modality": card.domain.modality.value,
            "structures": list(card.domain.structures),
            "noise_type": card.noise.type.value,
            "method": card.method.name.value,
            "dimensionality": card.domain.dimensionality,
            "dtype": card.domain.dtype,
            "pixel_size_um": px.in_um()[0] if px else None,
        }
    return CardSummary.model_validate(summary)


def now() -> datetime:
    """The current UTC time, to the second."""
    return datetime.now(UTC).replace(microsecond=0)
