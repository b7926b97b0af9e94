"""The card's validators: each rejects with a message that says how to fix it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from zoo.spec import PixelSize, ZooCard
from zoo_bench.fixtures import card_dict


def test_full_card_validates_and_keeps_values() -> None:
    card = ZooCard.model_validate(card_dict())
    assert card.domain.modality == "widefield"
    assert card.domain.pixel_size is not None
    assert card.domain.pixel_size.in_um() == (0.1625, 0.1625, None)
    assert card.format_version == "0.1.0"


def test_minimal_card_needs_only_required_fields() -> None:
    minimal = {
        "domain": {"modality": "TEM", "dimensionality": 2, "dtype": "uint8", "structures": ["x"]},
        "noise": {"type": "unknown"},
        "method": {"name": "n2v", "framework": "careamics 0.3.5"},
        "training_data": {"description": "d", "license": "CC0-1.0"},
        "validation": {"intended_use": "u"},
    }
    card = ZooCard.model_validate(minimal)
    assert card.fingerprint is None
    assert card.domain.pixel_size is None


@pytest.mark.parametrize(
    ("section", "patch", "match"),
    [
        ("domain", {"pixel_size": {"x": 1, "y": 1, "z": 2}}, "dimensionality is 2"),
        ("domain", {"structures": ["  "]}, "non-empty names"),
        ("noise", {"type": "gaussian", "structn2v_mask": [[0, 0, 0]]}, "centre"),
        ("noise", {"type": "gaussian", "structn2v_mask": [[1, 1, 1], [1]]}, "rectangle"),
    ],
)
def test_validators_explain_the_fix(section: str, patch: dict, match: str) -> None:
    data = card_dict()
    data[section] = {**data[section], **patch}
    with pytest.raises(ValidationError, match=match):
        ZooCard.model_validate(data)


def test_fingerprint_stats_must_be_ordered() -> None:
    fp = {
        "zoo_version": "0.1.0",
        "n_images": 1,
        "stats": {"noise_sigma": {"value": 1, "low": 2, "high": 3}},
    }
    with pytest.raises(ValidationError, match="low <= value <= high"):
        ZooCard.model_validate(card_dict(fingerprint=fp))


def test_fingerprint_percentile_keys() -> None:
    fp = {"zoo_version": "0.1.0", "n_images": 1, "percentiles": {"median": 3.0}}
    with pytest.raises(ValidationError, match="percentile keys"):
        ZooCard.model_validate(card_dict(fingerprint=fp))


def test_pixel_size_units() -> None:
    assert PixelSize(x=100, y=50, unit="nm").in_um() == (0.1, 0.05, None)
