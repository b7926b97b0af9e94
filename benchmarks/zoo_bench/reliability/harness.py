"""Shared parts of the reliability harness (fault, concurrency, soak): a tiny real package
padded to a chosen size, variants of it with distinct bytes, and a full check of a registry
folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


def base_package(folder: Path, *, pad_bytes: int = 0) -> Path:
    """The tests' tiny ONNX package with a full card, plus an attachment of ``pad_bytes``
    random bytes (so that copying and hashing the package takes a while)."""
    import yaml

    from zoo.spec import ZooCard
    from zoo_bench.fixtures import build_tiny_package, card_dict

    tiny = build_tiny_package(folder / "build", ZooCard.model_validate(card_dict()))
    if not pad_bytes:
        return tiny
    pad = os.urandom(pad_bytes)
    out = folder / "padded.zip"
    with zipfile.ZipFile(tiny) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "rdf.yaml":
                rdf = yaml.safe_load(data)
                digest = hashlib.sha256(pad).hexdigest()
                rdf["attachments"] = [{"source": "pad.bin", "sha256": digest}]
                data = yaml.safe_dump(rdf, sort_keys=False).encode()
            dst.writestr(name, data)
        dst.writestr("pad.bin", pad)
    return out


def variant(base: Path, out: Path, n: int) -> Path:
    """``base`` with the zip comment ``variant n``: the same package, other bytes."""
    out.write_bytes(base.read_bytes())
    with zipfile.ZipFile(out, "a") as zf:
        zf.comment = f"variant {n}".encode()
    return out


def temp_files(root: Path) -> list[str]:
    """Temporary files of interrupted writes in a registry folder."""
    found = [*root.glob(".index.json.*.tmp"), *(root / "models").glob(".*.tmp")]
    return sorted(p.relative_to(root).as_posix() for p in found)


@dataclass
class RegistryCheck:
    """What :func:`check_registry` found."""

    index_loads: bool = False
    entries: int = 0
    verified: int = 0
    bad_blobs: list[str] = field(default_factory=list)
    """Entries whose blob is missing or does not match its sha256 / size."""
    lost: list[str] = field(default_factory=list)
    """Acknowledged publishes missing from the index (or with another sha256)."""
    temp_files: list[str] = field(default_factory=list)
    orphan_blobs: int = 0
    """Complete blobs no entry lists (a publish killed between blob and index): harmless,
    reused when the same bytes are published again."""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.index_loads and not (self.bad_blobs or self.lost or self.error)

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"ok": self.ok})


def check_registry(
    root: Path,
    *,
    acknowledged: dict[str, str] | None = None,
    verified: set[str] | None = None,
) -> RegistryCheck:
    """Load the index of the registry at ``root``, verify every listed blob (sha256 and
    size; those whose sha256 is in ``verified`` only for size, they were hashed before) and
    that every ``acknowledged`` publish (``id@version`` → sha256) is listed."""
    from zoo.hashes import sha256_file
    from zoo.store import LocalStore

    result = RegistryCheck()
    try:
        index = LocalStore(str(root)).read_index(fresh=True)
    except Exception as exc:  # the check reports any failure to load
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    result.index_loads = True
    listed: dict[str, str] = {}
    locations = set()
    for model_id, model in index.models.items():
        for version, entry in model.versions.items():
            result.entries += 1
            ref = f"{model_id}@{version}"
            listed[ref] = entry.sha256
            locations.add(entry.location)
            blob = root / entry.location
            if not blob.is_file() or blob.stat().st_size != entry.size:
                result.bad_blobs.append(ref)
                continue
            if verified is None or entry.sha256 not in verified:
                if sha256_file(blob) != entry.sha256:
                    result.bad_blobs.append(ref)
                    continue
                if verified is not None:
                    verified.add(entry.sha256)
            result.verified += 1
    for ref, sha in (acknowledged or {}).items():
        if listed.get(ref) != sha:
            result.lost.append(ref)
    result.temp_files = temp_files(root)
    blobs = {f"models/{p.name}" for p in (root / "models").glob("*.zip")}
    result.orphan_blobs = len(blobs - locations)
    return result


def report_figures(figures: dict, json_path: Path | None, work: Path) -> int:
    """Print ``figures`` as JSON (and write them to ``json_path``), remove the run's ``work``
    folder; the exit code: 0 when the figures list no failures, else 1."""
    text = json.dumps(figures, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text + "\n")
    with contextlib.suppress(OSError):
        shutil.rmtree(work)
    return 0 if not figures["failures"] else 1
