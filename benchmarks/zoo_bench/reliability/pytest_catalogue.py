"""A pytest plugin that writes the catalogue of bad inputs the collected tests declare, as
JSON rows (:class:`~zoo_bench.reliability.catalogue.Row`), once collection is done:

    pytest tests/reliability -p zoo_bench.reliability.pytest_catalogue --catalogue-json FILE

so that :mod:`zoo_bench.reliability.report` counts the tests' own cases without importing them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from zoo_bench.reliability.catalogue import rows


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--catalogue-json", help="write the catalogue of bad inputs here (JSON)")


def pytest_collection_finish(session: pytest.Session) -> None:
    path = session.config.getoption("catalogue_json")
    if not path:
        return
    modules = {id(m): m for m in (getattr(item, "module", None) for item in session.items) if m}
    found = [asdict(row) for row in rows(modules.values())]
    Path(path).write_text(json.dumps(found, indent=1) + "\n")
