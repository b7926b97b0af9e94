"""docs/python-api.md: its Python examples run as written, on the embedded registry."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGE = REPO / "docs" / "python-api.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)


def test_the_page_has_examples() -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 3
    assert all(name in blocks[0] for name in ("zoo.fetch(", "zoo.check(", "zoo.run("))


def test_the_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each block in turn, in one namespace, from a folder holding a copy of examples/."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_REGISTRY", str(REPO))
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    namespace: dict[str, object] = {}
    for block in _python_blocks():
        exec(compile(block, str(PAGE), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "match score" in printed and "n2v-ihc-careamics 0.2.1" in printed
    assert "refused:" in printed and "exists" in printed
    outputs = sorted(p.name for p in tmp_path.glob("zoo-*/*"))
    assert outputs == [
        "again.ome.tif",
        "again.ome.tif.json",
        "denoised.ome.tif",
        "denoised.ome.tif.json",
    ]
