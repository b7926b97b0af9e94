"""How each case of the catalogue of bad inputs is tried.

Every case (:class:`Case`, declared in a :class:`Family`; both from
:mod:`zoo_bench.reliability.catalogue`) names the bad input, the zoo error the library must
raise (with a message matching ``match``) and the exit code of the same attempt through the
``zoo`` command. An :class:`Attempt` is the library call and the command line of one case;
:func:`refused` runs both and checks that the registry, the cache and every watched path (the
input, the output folder) are byte-identical afterwards. ``scripts/reliability_report.py``
turns the catalogue and a fresh test run into the table of docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zoo.cli import app
from zoo.registry import Registry
from zoo_bench.reliability.catalogue import FAMILIES, Case, Family

__all__ = [
    "FAMILIES",
    "Attempt",
    "Case",
    "Family",
    "World",
    "ids",
    "publish",
    "refused",
    "tree_hash",
]

runner = CliRunner()


def _digest(p: Path) -> str:
    mode = p.lstat().st_mode
    if stat.S_ISLNK(mode):
        return f"symlink → {p.readlink()}"
    if stat.S_ISDIR(mode):
        return "<dir>"
    if not stat.S_ISREG(mode):
        return f"<special {stat.S_IFMT(mode):o}>"  # a FIFO is not read
    info = p.stat()
    if info.st_size > 1 << 30 and info.st_blocks * 512 < info.st_size // 2:
        return f"<sparse file of {info.st_size} bytes>"  # not read
    return hashlib.sha256(p.read_bytes()).hexdigest()


def tree_hash(path: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under ``path`` (a file: itself under "."),
    with folders, symlinks and special files listed too, so that an empty folder or a
    stray temporary file left behind is noticed."""
    if not (path.exists() or path.is_symlink()):
        return {}
    if not path.is_dir() or path.is_symlink():
        return {".": _digest(path)}
    return {p.relative_to(path).as_posix(): _digest(p) for p in sorted(path.rglob("*"))}


@dataclass
class World:
    """A registry with one published package, a cache that fetched it, a scratch folder."""

    tmp: Path
    registry: Path
    cache: Path
    tiny: Path
    """A valid package zip (the registry holds it as tiny-mean@0.1.0)."""
    folder: Path
    """The same package as a folder (rdf.yaml and its files)."""

    def reg(self) -> Registry:
        return Registry(self.registry, cache=self.cache)

    def snapshot(self, *watch: Path) -> dict[str, dict[str, str]]:
        return {str(p): tree_hash(p) for p in (self.registry, self.cache, *watch)}

    def zoo(self, *args: str) -> list[str]:
        return [*args, "--registry", str(self.registry), "--cache", str(self.cache)]


@dataclass
class Attempt:
    """How one case is tried: the library call, the command line, the paths to watch."""

    call: Callable[[], Any]
    argv: list[str] | None
    """The ``zoo`` command line; None where no command sends this input."""
    watch: list[Path] = field(default_factory=list)
    after: Callable[[], None] | None = None
    """A last check once both were refused (e.g. that no connection was made)."""


def publish(
    world: World, package: Path, *, model_id: str | None = "candidate", **kw: Any
) -> Attempt:
    """Publish ``package`` into the world's registry (library and ``zoo publish``), as a new
    model id, so that only what is wrong with the package can refuse it."""
    flags = ["--id", model_id] if model_id is not None else []
    if kw.get("version") is not None:
        flags += ["--version", kw["version"]]
    return Attempt(
        lambda: world.reg().publish(package, model_id=model_id, **kw),
        world.zoo("publish", str(package), *flags),
        [package],
    )


def refused(world: World, case: Case, attempt: Attempt) -> None:
    """The library raises the case's error, the command exits with its code and the same
    message, and nothing under the registry, the cache or the watched paths changed."""
    before = world.snapshot(*attempt.watch)
    with pytest.raises(case.error) as info:
        attempt.call()
    assert re.search(case.match, str(info.value), re.S), str(info.value)
    assert (attempt.argv is None) == (case.exit is None)
    if attempt.argv is not None:
        result = runner.invoke(app, attempt.argv)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"the command crashed: {result.exception!r}\n{result.output}"
        )
        assert result.exit_code == case.exit, result.output
        message = result.stderr
        assert "error:" in message and re.search(case.match, message, re.S), message
    assert world.snapshot(*attempt.watch) == before, "a refused input changed files"
    if attempt.after is not None:
        attempt.after()


def ids(cases: list[Case]) -> list[Any]:
    """``pytest.param`` of each case, with its id."""
    return [pytest.param(c, id=c.id) for c in cases]
