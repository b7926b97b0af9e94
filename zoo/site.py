"""``zoo export-site``: the registry as plain files for any static host or object store.

The folder holds what a zoo client reads (``index.json``, ``models/<sha256>.zip``) and the
web pages (``index.html``, ``model/<id>/index.html``, ``covers/<sha256>.<ext>``), with
relative links, so it can be served from any path: ``python -m http.server``, GitHub Pages,
an S3 bucket. ``zoo fetch`` and ``zoo search`` work against its URL like against a server.

Every package is copied to a temporary name, verified by sha256 and renamed; pages are
written atomically; ``index.json`` is written last, so a client never sees a version whose
package is not there yet. Re-exporting into the same folder copies only new packages.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from zoo.errors import IntegrityError, SpecError
from zoo.files import atomic_path
from zoo.hashes import sha256_file
from zoo.index import Index, VersionEntry
from zoo.registry import Registry
from zoo.store import blob_location

__all__ = ["SiteExport", "export_site"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteExport:
    """What an export wrote."""

    root: Path
    models: int
    versions: int
    copied: int
    """Packages copied (the others were in the folder already, verified)."""
    pages: int


def _copy_blob(registry: Registry, entry: VersionEntry, dest: Path) -> bool:
    """Copy one package into ``dest`` unless a verified copy is there; True when copied."""
    if dest.is_file() and sha256_file(dest) == entry.sha256:
        return False
    with atomic_path(dest) as tmp:
        with tmp.open("wb") as fh:
            for chunk in registry.store.read_blob(entry.location):
                fh.write(chunk)
        actual = sha256_file(tmp)
        if actual != entry.sha256:
            raise IntegrityError(
                f"package {entry.location} of {registry.source} has sha256 {actual}, expected "
                f"{entry.sha256}; the export stopped and left {dest.parent.parent} as it was "
                "except for verified packages"
            )
    return True


def _write(path: Path, data: str | bytes) -> None:
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def export_site(
    output: str | os.PathLike[str], *, registry: Registry | str | None = None
) -> SiteExport:
    """Write the registry (default: ``ZOO_REGISTRY``, else the embedded one) as a static site."""
    from zoo.server.web import PackageInfos, Pages, cover_path

    reg = registry if isinstance(registry, Registry) else Registry(registry)
    root = Path(output)
    if root.exists() and not root.is_dir():
        raise SpecError(f"{root} is a file; export-site needs a folder (new or a former export)")
    source = reg.index()
    index = Index.model_validate(source.model_dump())  # a private copy to re-locate
    copied = 0
    for model in index.models.values():
        for entry in model.versions.values():
            location = blob_location(entry.sha256)
            copied += _copy_blob(reg, entry, root / location)
            entry.location = location

    def opener(entry: VersionEntry) -> IO[bytes]:
        return (root / entry.location).open("rb")

    infos = PackageInfos(opener)
    pages = Pages()
    newest = {mid: model.newest() for mid, model in sorted(index.models.items())}
    hits = [(mid, v, index.models[mid].versions[v]) for mid, v in newest.items() if v]
    _write(root / "index.html", pages.list_page(hits, every=hits, query={}))
    n_pages = 1
    for model_id, model in index.models.items():
        versions = list(model.versions.items())
        _write(
            root / "model" / model_id / "index.html", pages.model_page(model_id, versions, infos)
        )
        n_pages += 1
        for _version, entry in versions:
            info = infos.get(entry)
            where = cover_path(entry, info)
            cover = infos.cover(entry) if where else None
            if where and cover and not (root / where).is_file():
                _write(root / where, cover[0])
    _write(root / "index.json", index.to_json())
    n_versions = sum(len(m.versions) for m in index.models.values())
    logger.info(
        "exported %d model(s) to %s (%d package(s) copied)", len(index.models), root, copied
    )
    return SiteExport(root, len(index.models), n_versions, copied, n_pages)
