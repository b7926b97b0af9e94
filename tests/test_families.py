"""Modality families: a model of one family never fits an image of another. Known modality:
``mismatch``; unknown: the contrast polarity warns (at least ``caution``), on real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.domain import check_image
from zoo.families import family_of, polarity, polarity_family
from zoo.imageio import Image, read_image
from zoo.match import image_families, rank_models
from zoo.registry import Registry
from zoo.runner import open_model

EM = ("em/isbi2012_train_5.png", "em/epfl_fibsem_testing0002.png")
LIGHT = ("w2s/w2s_042_1_noisy_avg1.tif", "pairs/gigadb_actin_60x_lowsnr.png",
         "fmd/fmd_R_1_noisy_raw.png", "pairs/nucleus_tracking_low_snr.tif")  # fmt: skip


def _image(shared_data: Path, rel: str) -> Image:
    return read_image(shared_data / "images" / rel)


def test_every_modality_has_its_family() -> None:
    assert family_of("widefield") == family_of("two-photon") == family_of("tirf") == "light"
    assert family_of("FIB-SEM") == family_of("TEM") == family_of("cryo-EM") == "electron"
    assert family_of("DIC") == family_of("brightfield") == "transmitted"
    assert family_of("synthetic") is None and family_of(None) is None


@pytest.mark.parametrize("rel", EM)
def test_electron_micrographs_are_dark_on_bright_even_noisy(shared_data: Path, rel: str) -> None:
    plane = _image(shared_data, rel).data.astype(np.float64)
    rng = np.random.default_rng(0)
    for sigma in (0.0, 0.5 * plane.std(), 1.0 * plane.std()):
        value = polarity(plane + rng.normal(0, sigma, plane.shape) if sigma else plane)
        assert "light" not in polarity_family(value), (rel, sigma, value)


@pytest.mark.parametrize("rel", LIGHT)
def test_fluorescence_is_bright_on_dark(shared_data: Path, rel: str) -> None:
    assert polarity_family(polarity(_image(shared_data, rel).data)) == ("light",)


def test_polarity_ignores_gain_and_offset(shared_data: Path) -> None:
    plane = _image(shared_data, LIGHT[0]).data.astype(np.float64)
    assert polarity(3.0 * plane + 100) == pytest.approx(polarity(plane), rel=1e-4)


def _by_name(report: object, name: str) -> object:
    return next(c for c in report.checks if c.name == name)  # type: ignore[attr-defined]


def test_an_em_image_with_a_fluorescence_model(shared_data: Path) -> None:
    package = open_model("care-widefield-w2s").package
    image = _image(shared_data, EM[0])
    known = check_image(package, image, modality="TEM")
    assert known.verdict == "mismatch"
    check = _by_name(known, "modality")
    assert check.status == "fail" and "electron microscopy" in check.message  # type: ignore[attr-defined]
    unknown = check_image(package, image)
    assert unknown.verdict in ("caution", "mismatch")
    assert _by_name(unknown, "polarity").status == "warn"  # type: ignore[attr-defined]


EM_MODELS = ("n2v2-fibsem-em", "care-em-generalist")


@pytest.mark.parametrize("model", EM_MODELS)
def test_a_fluorescence_image_with_an_em_model(shared_data: Path, model: str) -> None:
    package = open_model(model).package
    image = _image(shared_data, LIGHT[0])
    known = check_image(package, image, modality="widefield")
    assert known.verdict == "mismatch" and _by_name(known, "modality").status == "fail"  # type: ignore[attr-defined]
    unknown = check_image(package, image)
    assert unknown.verdict in ("caution", "mismatch")
    assert _by_name(unknown, "polarity").status == "warn"  # type: ignore[attr-defined]
    same = check_image(package, _image(shared_data, EM[1]))
    assert _by_name(same, "polarity").status == "ok"  # type: ignore[attr-defined]


def test_the_same_family_is_not_a_mismatch_by_modality_alone(shared_data: Path) -> None:
    package = open_model("care-widefield-w2s").package
    image = _image(shared_data, LIGHT[0])
    report = check_image(package, image, modality="confocal")
    assert report.verdict != "mismatch"
    modality = _by_name(report, "modality")
    assert modality.distance >= 1 and "confocal" in modality.message  # type: ignore[attr-defined]
    alone = check_image(package, image, modality="confocal", learned=False)
    assert _by_name(alone, "modality").status == "warn"  # type: ignore[attr-defined]


def test_match_ranks_the_image_s_family_first(shared_data: Path) -> None:
    registry = Registry()
    em = _image(shared_data, EM[0])
    assert image_families(em) == ("electron", "transmitted")
    ranked = rank_models(em, registry)
    assert {m.id for m in ranked[:2]} == set(EM_MODELS)
    assert not any(m.other_family for m in ranked[:2])
    assert all(m.other_family for m in ranked[2:] if m.summary.get("family") == "light")
    light = _image(shared_data, LIGHT[3])
    ranked = rank_models(light, registry, modality="widefield")
    assert {m.id for m in ranked[-2:]} == set(EM_MODELS)
    for last in ranked[-2:]:
        assert last.other_family and last.verdict == "mismatch"
        assert last.to_dict()["family"] == "electron"


def test_on_small_images_only_bright_on_dark_is_judged(shared_data: Path) -> None:
    """128² to 256²: a fluorescence field given to an EM model warns; a dark-on-bright
    reading (an EM crop, as dense fluorescence fields of that size also read) does not warn
    a fluorescence model; under 128² nothing is judged."""
    light = _image(shared_data, LIGHT[0]).data[:160, :160]
    em = _image(shared_data, EM[0]).data[:160, :160]
    em_model = open_model("care-em-generalist").package
    light_model = open_model("care-fluorescence-generalist").package
    small = check_image(em_model, Image(light, "yx"))
    assert _by_name(small, "polarity").status == "warn"  # type: ignore[attr-defined]
    assert polarity(em) < 0
    fine = check_image(light_model, Image(em, "yx"))
    assert _by_name(fine, "polarity").status == "ok"  # type: ignore[attr-defined]
    tiny = check_image(em_model, Image(light[:100, :100], "yx"))
    assert not [c for c in tiny.checks if c.name == "polarity"]
