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


def test_private_tempdirs_of_dead_zoo_processes_are_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder named after a process that no longer runs (a killed publisher) is removed
    when the next private folder of its kind is made; live processes' folders, other kinds
    and foreign names stay."""
    import subprocess
    import sys
    import tempfile

    from zoo.files import private_tempdir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / f"zoo-publish-{gone.stdout.strip()}-abc"
    live = tmp_path / f"zoo-publish-{os.getpid()}-def"
    other_kind = tmp_path / f"zoo-onnx-{gone.stdout.strip()}-ghi"
    foreign = tmp_path / "zoo-publish-notapid"
    for folder in (dead, live, other_kind, foreign):
        (folder / "sub").mkdir(parents=True)
    with private_tempdir("publish") as scratch:
        assert scratch.parent == tmp_path and scratch.name.startswith(f"zoo-publish-{os.getpid()}-")
        assert not dead.exists()
        assert live.is_dir() and other_kind.is_dir() and foreign.is_dir()
    assert not scratch.exists()
