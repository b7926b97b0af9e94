"""The size limits of the code (issue 26): a module of zoo/ holds one idea in at most 500
lines; a function of zoo/, benchmarks/ or scripts/ reads in one screen, at most 80 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def test_no_module_of_zoo_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for p in _sources("zoo")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these modules by concept: {long}"


def test_no_function_is_over_80_lines() -> None:
    long = {}
    for path in _sources("zoo", "benchmarks", "scripts"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = lines
    assert not long, f"split these functions into named steps: {long}"
