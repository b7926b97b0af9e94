"""sha256 of files and bytes, streamed so big files never sit in memory whole."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from zoo.errors import IntegrityError

__all__ = ["check_sha256", "sha256_bytes", "sha256_file", "sha256_path"]

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_path(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, or of a folder (e.g. OME-Zarr): of its files' relative paths and
    sha256s, one ``path\0sha256\n`` line each, in sorted order."""
    p = Path(path)
    if not p.is_dir():
        return sha256_file(p)
    digest = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        digest.update(f"{f.relative_to(p).as_posix()}\0{sha256_file(f)}\n".encode())
    return digest.hexdigest()


def check_sha256(path: str | os.PathLike[str], expected: str) -> None:
    """Raise :class:`IntegrityError` unless the file's sha256 is ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise IntegrityError(
            f"sha256 mismatch for {Path(path).name}: expected {expected} but got {actual}; "
            "the file is corrupt or was changed after its hash was recorded"
        )
