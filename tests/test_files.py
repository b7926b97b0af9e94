"""Atomic writes: complete or absent, never half a file, normal permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zoo.files import atomic_path


def test_success_replaces_with_normal_permissions(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "file.bin"
    with atomic_path(dest) as tmp:
        tmp.write_bytes(b"new")
    assert dest.read_bytes() == b"new"
    mask = os.umask(0)
    os.umask(mask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer crashed")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
