"""Shared fixtures: where the real data lives (../shared/data), never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ZOO_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data of ../shared/data (its MANIFEST.md says what each file is)."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.fail(f"real test data expected at {SHARED_DATA} (set ZOO_SHARED_DATA)")
    return SHARED_DATA


EXAMPLE_ID = "n2v-ihc-careamics"


@pytest.fixture(scope="session")
def example_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package of the embedded registry, fetched into a private cache."""
    from zoo.registry import Registry

    cache = tmp_path_factory.mktemp("example-cache")
    return Registry(REPO, cache=cache).fetch(EXAMPLE_ID)
