"""The registry index (``index.json``): every model id, its versions and their card summaries.

The index is the whole catalogue of a registry; packages themselves are content-addressed
blobs beside it. Its JSON Schema is ``schemas/index.schema.json``. Ids are readable slugs,
versions are immutable semantic versions; a version is yanked, never deleted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from zoo.errors import SpecError
from zoo.spec import ZooCard

__all__ = [
    "INDEX_FORMAT_VERSION",
    "CardSummary",
    "Compatibility",
    "Index",
    "ModelEntry",
    "ToolCheck",
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


class ToolCheck(_Node):
    """One tool's verdict on a package: did it run the package, and with which version."""

    tool: str
    """What ran it, e.g. "zoo (ONNX Runtime)", "bioimageio.core test_model"."""
    format: str | None = None
    """The weight format it ran (``onnx``, ``torchscript``, ``pytorch_state_dict``)."""
    version: str | None = None
    """Version of the tool (the runtime), e.g. "onnxruntime 1.20.1"."""
    status: Literal["passed", "failed", "not run"]
    """``not run`` when the publisher could not run it (the reason is in ``detail``)."""
    detail: str = ""
    """Why it failed or was not run, or what passing measured."""


class Compatibility(_Node):
    """Which runtimes and formats run a version: computed by whoever published it, at
    publish time (docs/registry.md)."""

    checked: datetime
    """When the checks ran (UTC)."""
    publisher: str
    """Where they ran: zoo's version, Python, the platform."""
    checks: list[ToolCheck] = Field(default_factory=list)
    """One verdict per tool and weight format."""

    def summary(self) -> str:
        """One line for listings, e.g. "7/9 passed, 2 not run"."""
        counts = {s: sum(c.status == s for c in self.checks) for s in ("failed", "not run")}
        parts = [f"{sum(c.status == 'passed' for c in self.checks)}/{len(self.checks)} passed"]
        return ", ".join(parts + [f"{n} {s}" for s, n in counts.items() if n])


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
    compatibility: Compatibility | None = None
    """Which runtimes ran the package when it was published; absent in entries published
    before zoo kept it (and left out of index.json then)."""

    @model_serializer(mode="wrap")
    def _without_absent_report(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.compatibility is None:
            data.pop("compatibility", None)
        return data


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

    def latest(self) -> str | None:
        """The newest unyanked version, or the newest yanked one when every version is
        yanked: the version to show (the web page) or to measure pinned (benchmarks)."""
        return self.newest() or self.newest(include_yanked=True)


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
