"""docs/reliability.md is not stale: its table lists exactly the cases of the catalogue, and
the count it states is theirs (``python scripts/reliability_report.py`` regenerates it). The
rows are the ones the report counts (:func:`zoo_bench.reliability.catalogue.rows`)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from zoo_bench.reliability.catalogue import rows

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def _catalogue() -> dict[str, str]:
    """Case id → family, with every family module imported (pytest may collect only one)."""
    modules = [
        importlib.import_module(f"tests.reliability.{path.stem}")
        for path in sorted(Path(__file__).parent.glob("test_*.py"))
    ]
    found = rows(modules)
    assert all(row.module for row in found), "a family declared outside tests/reliability"
    return {row.id: row.family for row in found}


def test_the_reliability_doc_lists_every_case_of_the_catalogue() -> None:
    cases = _catalogue()
    text = DOC.read_text()
    table = re.findall(r"^\| ([\w-]+) \| `([^`]+)` \|", text, re.M)
    listed = {case_id: family for family, case_id in table}
    regenerate = "stale: run python scripts/reliability_report.py"
    assert sorted(set(cases) - set(listed)) == [], f"cases missing from {DOC.name}; {regenerate}"
    assert sorted(set(listed) - set(cases)) == [], f"cases no longer in the catalogue; {regenerate}"
    assert listed == cases, f"families differ; {regenerate}"
    assert len(table) == len(cases)
    count = re.search(r"\*\*(\d+) distinct cases\*\*", text)
    assert count is not None and int(count[1]) == len(cases), regenerate
