"""The registry's web pages, rendered on the server (Jinja2): a list and a page per model.

The same templates make the live pages of ``zoo serve`` and the plain files of the static
export (:mod:`zoo.site`): every link is relative (``root`` leads from a page back to the
registry root), so a site works at any path on any static host. Package metadata a page
shows beyond the index summary (card, citation, cover) is read from the package zip's
rdf.yaml without extracting anything, and kept per sha256 (packages are immutable).
"""

from __future__ import annotations

import json
import mimetypes
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

from zoo.index import ModelEntry, VersionEntry, parse_version
from zoo.spec import Stat, ZooCard

__all__ = ["COVER_TYPES", "PackageInfo", "PackageInfos", "Pages", "read_package_info"]

COVER_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
"""Cover images shown on a page (no SVG: it could carry scripts)."""
MAX_MEMBER = 32 << 20
"""Largest rdf.yaml / cover read out of a package (bytes)."""
FILTERS = ("modality", "noise", "method", "structure")


@dataclass(frozen=True)
class PackageInfo:
    """What a model page shows from a package's rdf.yaml."""

    card: ZooCard | None = None
    cover: str | None = None
    """Zip member of the first cover image of a type a browser shows safely."""
    cite: list[dict[str, str]] = field(default_factory=list)
    """Citations: ``text`` and, where given, ``href`` (a DOI or http(s) link)."""
    license: str = ""
    problem: str | None = None
    """Why the metadata could not be read (the page says so instead of failing)."""


def _cite_entries(raw: Any) -> list[dict[str, str]]:
    entries = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        entry = {"text": str(item.get("text", ""))}
        doi, url = item.get("doi"), str(item.get("url") or "")
        if doi:
            entry |= {"href": f"https://doi.org/{doi}", "link": f"doi:{doi}"}
        elif url.startswith(("https://", "http://")):  # never javascript: or data:
            entry |= {"href": url, "link": url}
        entries.append(entry)
    return entries


def _rdf_name(zf: zipfile.ZipFile) -> str:
    names = zf.namelist()
    for name in ("rdf.yaml", *sorted(n for n in names if n.endswith("bioimageio.yaml"))):
        if name in names:
            return name
    raise KeyError("no rdf.yaml in the package")


def read_package_info(fh: IO[bytes]) -> PackageInfo:
    """Read card, cover, citation and licence from a package zip (nothing is extracted)."""
    import yaml

    try:
        with zipfile.ZipFile(fh) as zf:
            info = zf.getinfo(_rdf_name(zf))
            if info.file_size > MAX_MEMBER:
                raise ValueError(f"rdf.yaml is {info.file_size} bytes")
            rdf = yaml.safe_load(zf.read(info))
            members = set(zf.namelist())
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, yaml.YAMLError) as exc:
        return PackageInfo(problem=f"package metadata unreadable: {exc}")
    if not isinstance(rdf, dict):
        return PackageInfo(problem="package metadata unreadable: rdf.yaml is no mapping")
    card, problem = None, None
    raw_card = (rdf.get("config") or {}).get("zoo") if isinstance(rdf.get("config"), dict) else None
    if raw_card is not None:
        try:
            card = ZooCard.model_validate(raw_card)
        except ValueError as exc:
            problem = f"the zoo card is invalid: {exc}"
    cover = None
    for item in rdf.get("covers") or []:
        source = str(item.get("source", "") if isinstance(item, dict) else item)
        if source in members and PurePosixPath(source).suffix.lower() in COVER_TYPES:
            cover = source
            break
    return PackageInfo(
        card=card,
        cover=cover,
        cite=_cite_entries(rdf.get("cite")),
        license=str(rdf.get("license") or ""),
        problem=problem,
    )


class PackageInfos:
    """:class:`PackageInfo` per package sha256, read once through ``opener``."""

    def __init__(self, opener: Callable[[VersionEntry], IO[bytes]], *, size: int = 512) -> None:
        self.opener = opener
        self.size = size
        self._cache: dict[str, PackageInfo] = {}

    def get(self, entry: VersionEntry) -> PackageInfo:
        info = self._cache.get(entry.sha256)
        if info is None:
            try:
                with self.opener(entry) as fh:
                    info = read_package_info(fh)
            except OSError as exc:
                return PackageInfo(problem=f"package unavailable: {exc}")
            if len(self._cache) >= self.size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[entry.sha256] = info
        return info

    def cover(self, entry: VersionEntry) -> tuple[bytes, str] | None:
        """The cover image's bytes and media type, or None when the package has none."""
        info = self.get(entry)
        if info.cover is None:
            return None
        with self.opener(entry) as fh, zipfile.ZipFile(fh) as zf:
            member = zf.getinfo(info.cover)
            if member.file_size > MAX_MEMBER:
                return None
            data = zf.read(member)
        media = mimetypes.guess_type(info.cover)[0] or "application/octet-stream"
        return data, media


def cover_path(entry: VersionEntry, info: PackageInfo) -> str | None:
    """Where a version's cover lives, relative to the registry root."""
    if info.cover is None:
        return None
    return f"covers/{entry.sha256}{PurePosixPath(info.cover).suffix.lower()}"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def range_plot(stat: Stat, *, width: int = 320) -> dict[str, Any]:
    """Coordinates of a small SVG range plot: the training range as a bar (its ends labelled
    beside it), the typical value as a dot (labelled above it)."""
    x0, x1 = 60.0, width - 60.0
    span = stat.high - stat.low
    frac = 0.5 if span <= 0 else (stat.value - stat.low) / span
    return {
        "width": width,
        "x0": x0,
        "x1": x1,
        "xv": round(x0 + frac * (x1 - x0), 1),
        "low": _fmt(stat.low),
        "value": _fmt(stat.value),
        "high": _fmt(stat.high),
    }


def _facets(rows: Sequence[tuple[str, str, VersionEntry]]) -> dict[str, list[str]]:
    values: dict[str, set[str]] = {name: set() for name in FILTERS}
    for _id, _version, entry in rows:
        s = entry.summary
        for name, value in (
            ("modality", s.modality),
            ("noise", s.noise_type),
            ("method", s.method),
        ):
            if value:
                values[name].add(value)
        values["structure"].update(s.structures)
    return {name: sorted(v, key=str.lower) for name, v in values.items()}


class Pages:
    """Renders the list page and the model pages."""

    def __init__(self) -> None:
        from zoo.errors import require

        jinja2 = require("jinja2", "serve")
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("zoo.server", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def list_page(
        self,
        shown: Sequence[tuple[str, str, VersionEntry]],
        *,
        every: Sequence[tuple[str, str, VersionEntry]],
        query: dict[str, str],
        root: str = "",
    ) -> str:
        """The model list. ``shown`` are the rows matching ``query`` (the server filters);
        ``every`` gives the filters' choices. The page's script applies ``query`` again from
        the address, so a static copy filters the same way."""
        from zoo import __version__

        return self.env.get_template("list.html").render(
            rows=shown,
            facets=_facets(every),
            query={k: query.get(k, "") for k in ("q", *FILTERS)},
            root=root,
            zoo_version=__version__,
        )

    def model_page(
        self,
        model_id: str,
        versions: Sequence[tuple[str, VersionEntry]],
        infos: PackageInfos,
        *,
        root: str = "../../",
    ) -> str:
        """One model: the newest unyanked version's card, cover and citation; every version
        with its yanked mark and download."""
        from zoo import __version__

        ordered = sorted(versions, key=lambda kv: parse_version(kv[0]), reverse=True)
        model = ModelEntry(versions=dict(versions))
        version = model.latest() or ordered[0][0]
        entry = model.versions[version]
        info = infos.get(entry)
        card = info.card
        sections = {}
        if card is not None:
            data = card.model_dump(mode="json", exclude_none=True)
            for name in ("domain", "noise", "method", "training_data", "validation"):
                sections[name.replace("_", " ")] = data.get(name)
        fingerprint = card.fingerprint if card is not None else None
        plots = {k: range_plot(v) for k, v in (fingerprint.stats if fingerprint else {}).items()}
        return self.env.get_template("model.html").render(
            id=model_id,
            version=version,
            entry=entry,
            summary=entry.summary,
            info=info,
            sections=sections,
            fingerprint=fingerprint,
            lineage=card.lineage if card is not None else None,
            plots=plots,
            versions=ordered,
            cover=cover_path(entry, info),
            root=root,
            zoo_version=__version__,
            tojson=json.dumps,
        )
