"""Ids, versions and the index format."""

from __future__ import annotations

import pytest

from zoo.errors import SpecError
from zoo.index import Index, ModelEntry, parse_ref, parse_version, validate_id


@pytest.mark.parametrize("good", ["n2v-fluo-nuclei", "care2", "a"])
def test_valid_ids(good: str) -> None:
    assert validate_id(good) == good


@pytest.mark.parametrize("bad", ["", "N2V", "a--b", "-a", "a-", "a/b", "../x", "a" * 65, "a b"])
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(SpecError, match="invalid model id"):
        validate_id(bad)


def test_semver_order() -> None:
    ordered = ["0.1.0", "0.2.0", "0.10.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0"]
    assert sorted(reversed(ordered), key=parse_version) == ordered


@pytest.mark.parametrize("bad", ["1", "1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0+" * 20])
def test_invalid_versions(bad: str) -> None:
    with pytest.raises(SpecError, match="invalid version"):
        parse_version(bad)


def test_parse_ref() -> None:
    assert parse_ref("x") == ("x", None)
    assert parse_ref("x@1.2.3") == ("x", "1.2.3")


def test_empty_index_round_trips() -> None:
    index = Index(models={"x": ModelEntry()})
    assert Index.model_validate_json(index.to_json()) == index
