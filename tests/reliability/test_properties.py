"""Property-based tests (hypothesis) of the id/version parser and the card parser: on any
input they answer or raise SpecError, never anything else; what they accept is safe to use
as a path component; valid values round-trip; semver order is the reference order."""

from __future__ import annotations

import contextlib
import functools
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.cardfile import load_card
from zoo.errors import SpecError
from zoo.index import ID_PATTERN, ModelEntry, parse_ref, parse_version, validate_id
from zoo.spec import MethodName, Modality, NoiseType, ZooCard

PROPS = settings(
    max_examples=300,
    deadline=None,  # the machine is shared; time is not the property
    database=None,  # no .hypothesis folder in the checkout
    suppress_health_check=[HealthCheck.too_slow],
)
FILES = settings(PROPS, max_examples=60)

# -- ids and versions --------------------------------------------------------------------------

ids = st.from_regex(ID_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 64)
numbers = st.integers(0, 10**6).map(str)
pre_ids = st.one_of(numbers, st.from_regex(r"\A[0-9]*[A-Za-z-][0-9A-Za-z-]*\Z").map(str))
versions = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{'.'.join(pre)}" if pre else ""),
    numbers,
    numbers,
    numbers,
    st.lists(pre_ids, max_size=3),
).filter(lambda v: len(v) <= 64)
junk = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="abc-019./@\\:\0 \u2010A", max_size=80),
    st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=20), st.text(max_size=20)),
)


@PROPS
@given(junk)
def test_validate_id_accepts_only_path_safe_slugs(text: str) -> None:
    try:
        accepted = validate_id(text)
    except SpecError:
        return
    assert accepted == text and 0 < len(text) <= 64
    assert re.fullmatch(r"[a-z0-9-]+", text) and not text.startswith("-")
    assert Path(text).name == text and text not in (".", "..")


@PROPS
@given(ids)
def test_every_slug_is_an_id(model_id: str) -> None:
    assert validate_id(model_id) == model_id


@PROPS
@given(junk)
def test_parse_version_answers_or_raises_spec_error(text: str) -> None:
    try:
        key = parse_version(text)
    except SpecError:
        return
    assert isinstance(key, tuple)
    assert not set(text) & set("/\\@ \0") and ".." not in text


@PROPS
@given(ids, versions)
def test_refs_round_trip(model_id: str, version: str) -> None:
    assert parse_ref(f"{model_id}@{version}") == (model_id, version)
    assert parse_ref(model_id) == (model_id, None)


@PROPS
@given(junk)
def test_parse_ref_answers_or_raises_spec_error(text: str) -> None:
    try:
        model_id, version = parse_ref(text)
    except SpecError:
        return
    assert validate_id(model_id) == model_id
    assert version is None or parse_version(version)


def _semver_cmp(a: str, b: str) -> int:
    """Precedence by the SemVer 2.0 text (section 11), written independently of zoo's."""

    def split(v: str) -> tuple[list[int], list[str] | None]:
        core, _, pre = v.partition("-")
        return [int(x) for x in core.split(".")], (pre.split(".") if pre else None)

    (ca, pa), (cb, pb) = split(a), split(b)
    if ca != cb:
        return -1 if ca < cb else 1
    if pa is None or pb is None:
        return (pa is None) - (pb is None)
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


@PROPS
@given(st.lists(versions, min_size=2, max_size=8, unique=True))
def test_version_order_is_semver_precedence(vs: list[str]) -> None:
    for a in vs:
        for b in vs:
            ours = (parse_version(a) > parse_version(b)) - (parse_version(a) < parse_version(b))
            assert ours == _semver_cmp(a, b), (a, b)
    ordered = sorted(vs, key=parse_version)
    assert ordered == sorted(vs, key=functools.cmp_to_key(_semver_cmp))


@PROPS
@given(st.lists(versions, min_size=1, max_size=6, unique=True), st.data())
def test_newest_is_the_highest_unyanked_release_first(vs: list[str], data: Any) -> None:
    from datetime import UTC, datetime

    from zoo.index import CardSummary, VersionEntry

    yanked = data.draw(st.lists(st.booleans(), min_size=len(vs), max_size=len(vs)))
    entry = {
        "sha256": "0" * 64,
        "size": 1,
        "location": "models/x.zip",
        "created": datetime(2026, 1, 1, tzinfo=UTC),
        "summary": CardSummary(name="x"),
    }
    model = ModelEntry(
        versions={v: VersionEntry(**entry, yanked=y) for v, y in zip(vs, yanked, strict=True)}
    )
    live = [v for v, y in zip(vs, yanked, strict=True) if not y]
    releases = [v for v in live if "-" not in v]
    pool = releases or live
    expected = max(pool, key=functools.cmp_to_key(_semver_cmp)) if pool else None
    assert model.newest() == expected


# -- the card ----------------------------------------------------------------------------------

words = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")
positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def cards(draw: Any) -> dict[str, Any]:
    """Valid card data, with a random choice of the optional fields."""
    dims = draw(st.sampled_from([2, 3]))
    domain: dict[str, Any] = {
        "modality": draw(st.sampled_from([m.value for m in Modality])),
        "dimensionality": dims,
        "channels": draw(st.integers(1, 4)),
        "dtype": draw(st.sampled_from(["uint8", "uint16", "float32"])),
        "structures": draw(st.lists(words, min_size=1, max_size=3)),
    }
    if draw(st.booleans()):
        px = {"x": draw(positive), "y": draw(positive), "unit": draw(st.sampled_from(["nm", "um"]))}
        if dims == 3 and draw(st.booleans()):
            px["z"] = draw(positive)
        domain["pixel_size"] = px
    if draw(st.booleans()):
        domain["sample"] = draw(words)
    noise: dict[str, Any] = {"type": draw(st.sampled_from([n.value for n in NoiseType]))}
    if draw(st.booleans()):
        noise["gain"] = draw(positive)
    return {
        "domain": domain,
        "noise": noise,
        "method": {
            "name": draw(st.sampled_from([m.value for m in MethodName])),
            "framework": draw(words),
            "hyperparameters": draw(
                st.dictionaries(words, st.one_of(st.integers(), words, st.booleans()), max_size=3)
            ),
        },
        "training_data": {"description": draw(words), "license": draw(words)},
        "validation": {
            "intended_use": draw(words),
            "limitations": draw(st.lists(words, max_size=2)),
        },
    }


def _load_text(text: bytes | str) -> ZooCard:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "card.yaml"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return load_card(path)


@FILES
@given(cards())
def test_valid_cards_round_trip_through_yaml(data: dict[str, Any]) -> None:
    card = ZooCard.model_validate(data)
    # dumped as zoo dumps YAML (escaped non-ASCII): PyYAML's allow_unicode=True writes a
    # U+0085 (NEL) raw into a plain scalar and reads it back as a space, a PyYAML quirk
    again = _load_text(yaml.safe_dump(card.to_yaml_dict(), sort_keys=False))
    assert again == card


yamlish = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@PROPS
@given(yamlish)
def test_any_data_is_a_card_or_a_spec_error(data: Any) -> None:
    from zoo.package import card_problems

    problems = card_problems(data)  # never raises
    try:
        ZooCard.model_validate(data)
    except Exception as exc:
        assert problems, exc
    else:
        assert problems == []


@FILES
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), yamlish.map(yaml.safe_dump)))
def test_any_card_file_is_a_card_or_a_spec_error(content: bytes | str) -> None:
    with contextlib.suppress(SpecError):
        _load_text(content)


def _mappings(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path] if isinstance(node, dict) else []
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "hyperparameters":  # free-form by design
                out += _mappings(value, (*path, key))
    return out


@PROPS
@given(cards(), st.data())
def test_an_unknown_key_anywhere_is_named(data: dict[str, Any], draw: Any) -> None:
    where = draw.draw(st.sampled_from(_mappings(data)))
    node = data
    for key in where:
        node = node[key]
    node["zz_unknown"] = 1
    with pytest.raises(SpecError, match="zz_unknown"):
        load_card(None, overrides=[], defaults=data)


@PROPS
@given(cards(), st.data())
def test_a_missing_required_field_is_named(data: dict[str, Any], draw: Any) -> None:
    required = [
        ("domain", "modality"),
        ("domain", "structures"),
        ("noise", "type"),
        ("method", "name"),
        ("training_data", "license"),
        ("validation", "intended_use"),
    ]
    section, field = draw.draw(st.sampled_from(required))
    del data[section][field]
    with pytest.raises(SpecError, match=rf"{section}\.{field}"):
        load_card(None, defaults=data)
