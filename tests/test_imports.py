"""The layering of the code, read statically from every import (those inside functions too).

zoo's runtime (everything but the packaging, training and CLI layers) never imports
zoo.export, not even through another module; zoo/ and scripts/ import nothing from tests/;
zoo/ imports nothing from the benchmarks; tests import no scripts/ internals; and no file
edits ``sys.path``.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

ZOO = REPO / "zoo"

NOT_RUNTIME = ("export", "train", "adapt", "cli")
"""Subpackages of zoo that are not its runtime: they may import zoo.export."""

RUNTIME_EXCEPTIONS = {
    "zoo/__main__.py": "the `python -m zoo` entry point: it only runs the CLI",
}
"""Runtime files allowed to import zoo.export (through the CLI or directly), and why."""


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (REPO / f).rglob("*.py") if ".venv" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module, names imported from it) for every import statement of ``path``, relative
    imports resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module, [alias.name for alias in node.names]


def _is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@functools.cache
def _zoo_dependencies(path: Path) -> set[str]:
    """The zoo modules that importing ``path`` imports directly (with their packages)."""
    found = set()
    for module, names in _imports(path):
        candidates = [module, *(f"{module}.{n}" for n in names)]
        for name in candidates:
            if (name == "zoo" or name.startswith("zoo.")) and _is_module(name):
                parts = name.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def _file_of(module: str) -> Path:
    path = REPO.joinpath(*module.split("."))
    return path / "__init__.py" if (path / "__init__.py").is_file() else path.with_suffix(".py")


def _path_to_export(start: str) -> list[str] | None:
    """The chain of imports from ``start`` to a zoo.export module, or None."""
    chains = {start: [start]}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for dep in sorted(_zoo_dependencies(_file_of(module))):
            if dep in chains:
                continue
            chains[dep] = [*chains[module], dep]
            if dep == "zoo.export" or dep.startswith("zoo.export."):
                return chains[dep]
            queue.append(dep)
    return None


def _runtime_files() -> list[Path]:
    return [
        p
        for p in _python_files("zoo")
        if p.relative_to(ZOO).parts[0] not in NOT_RUNTIME
        and p.relative_to(REPO).as_posix() not in RUNTIME_EXCEPTIONS
    ]


def test_the_runtime_never_imports_the_export_layer() -> None:
    runtime = _runtime_files()
    assert len(runtime) > 20 and ZOO / "inference.py" in runtime
    for name in RUNTIME_EXCEPTIONS:  # an exception for a file that is gone is stale
        assert (REPO / name).is_file(), name
    chains = [_path_to_export(_module_name(p)) for p in runtime]
    found = [" → ".join(chain) for chain in chains if chain]
    assert not found, "runtime modules import zoo.export:\n" + "\n".join(found)


def _top_level_imports(path: Path) -> set[str]:
    return {module.split(".")[0] for module, _names in _imports(path) if module}


def test_zoo_and_scripts_import_nothing_from_tests() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in _python_files("zoo", "scripts")
        if "tests" in _top_level_imports(p)
    ]
    assert not offenders


def test_zoo_imports_nothing_from_the_benchmarks() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in _python_files("zoo")
        if {"zoo_bench", "benchmarks", "scripts"} & _top_level_imports(p)
    ]
    assert not offenders


def test_tests_import_no_scripts_internals() -> None:
    scripts = {"scripts", *(p.stem for p in (REPO / "scripts").glob("*.py"))}
    offenders = [
        f"{p.relative_to(REPO)}: {sorted(scripts & _top_level_imports(p))}"
        for p in _python_files("tests")
        if scripts & _top_level_imports(p)
    ]
    assert not offenders


def _edits_sys_path(tree: ast.AST) -> bool:
    """Whether code calls sys.path.insert/append/extend/remove or assigns to sys.path or to
    an item of it; a string holding code (``python -c``) is read as code too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _EDITS and _is_sys_path(node.func.value):
                return True
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if _is_sys_path(t.value if isinstance(t, ast.Subscript) else t):
                    return True
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "sys.path" in node.value
            and _code_edits_sys_path(node.value)
        ):
            return True
    return False


_EDITS = frozenset({"insert", "append", "extend", "remove"})


def _is_sys_path(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    )


def _code_edits_sys_path(text: str) -> bool:
    try:
        return _edits_sys_path(ast.parse(text))
    except SyntaxError:  # prose, not code
        return False


def test_no_file_edits_sys_path() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for p in _python_files("zoo", "scripts", "benchmarks", "tests")
        if _edits_sys_path(_tree(p))
    ]
    assert not offenders


def test_the_sys_path_check_sees_each_form_of_edit() -> None:
    sys_path = "sys" + ".path"  # written apart, so that this file holds no edit itself
    for code in (
        "import sys\nSYS_PATH.insert(0, 'x')",
        "import sys\nSYS_PATH.append('x')",
        "import sys\nSYS_PATH += ['x']",
        "import sys\nSYS_PATH[:0] = ['x']",
        "import sys\nSYS_PATH = ['x']",
        "subprocess.run(['python', '-c', 'import sys; SYS_PATH.insert(0, \"x\")'])",
    ):
        assert _edits_sys_path(ast.parse(code.replace("SYS_PATH", sys_path))), code
    harmless = "import sys\nprint(SYS_PATH.index('x'))\nx = 'no SYS_PATH edits'"
    assert not _edits_sys_path(ast.parse(harmless.replace("SYS_PATH", sys_path)))
