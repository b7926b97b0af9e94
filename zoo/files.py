"""Atomic writes: a temporary file (or folder) beside the destination, then a rename.

A reader never sees half a file: the destination is either absent (or its old version) or
complete. On any error the temporary file is removed.

Private scratch folders (:func:`private_tempdir`) carry the owning process id in their name,
so that the folders of a zoo process killed before it could clean up (SIGKILL, power loss)
are removed by the next one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "private_tempdir"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(dest: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in ``dest``'s folder; move it onto ``dest`` if the block succeeds.

    The file gets the permissions a normal ``open(dest, "w")`` would (0666 minus the umask),
    not mkstemp's private 0600. ``suffix`` ends the temporary name (for writers that insist
    on an extension, like bioimageio.spec's zip writer).
    """
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; rename it onto ``dest`` if the block succeeds.

    An existing ``dest`` is moved aside first and removed only once the new folder is in
    place, so ``dest`` is always either the old or the new complete folder (between the two
    renames, briefly absent). On any error the temporary folder is removed.
    """
    import shutil

    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def private_tempdir(kind: str) -> Iterator[Path]:
    """A private scratch folder ``zoo-KIND-PID-…`` in the system temp dir, removed after the
    block. Folders of the same kind left by zoo processes that no longer run (killed before
    they could remove them) are removed first; other users' folders are never touched."""
    base = Path(tempfile.gettempdir())
    _sweep(base, kind)
    with tempfile.TemporaryDirectory(prefix=f"zoo-{kind}-{os.getpid()}-", dir=base) as tmp:
        yield Path(tmp)


def _sweep(base: Path, kind: str) -> None:
    pattern = re.compile(rf"zoo-{re.escape(kind)}-(\d+)-.+")
    uid = os.getuid() if hasattr(os, "getuid") else None
    for path in base.glob(f"zoo-{kind}-*"):
        found = pattern.fullmatch(path.name)
        try:
            if not found or (uid is not None and path.stat().st_uid != uid):
                continue
        except OSError:
            continue
        if not _alive(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a reused pid counts as alive: nothing is removed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
