"""Atomic file writes: temporary file beside the destination, then ``os.replace``.

A reader never sees half a file: the destination is either absent (or its old version) or
complete. On any error the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path"]


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
