"""The family reading (zoo/families.json, :mod:`zoo.families`): fitted on windows of the
training split alone, it keeps an EM model off a saturated fluorescence field that the
contrast polarity alone reads as an electron micrograph (the leave-one-source-out
benchmark's reading of each source by a reading that never saw it: test_domain_benchmark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.checks import check_polarity, image_polarity
from zoo.domain import check_image
from zoo.families import (
    CLIPPED,
    READING,
    Polarity,
    dark_probability,
    fits_family,
    polarity,
    polarity_family,
)
from zoo.imageio import Image, read_image
from zoo.runner import open_model

TRAINING_SOURCES = {"W2S", "nucleus tracking", "GigaDB", "FLIM", "hiPSC", "RCAN3D", "EM-ISBI",
                    "EM-EPFL"}  # fmt: skip


def test_a_saturated_fluorescence_field_reads_as_no_family(shared_data: Path) -> None:
    """A held-out W2S field at four times its gain (two thirds of it clipped): the polarity
    alone reads it dark on bright; clipped, its contrast reads as no family, so an EM model
    warns and a fluorescence model is not warned by it."""
    plane = read_image(shared_data / "images" / "w2s" / "w2s_042_1_noisy_avg1.tif").data
    saturated = np.clip(plane.astype(np.float64) * 4, 0, 255).astype(np.uint8)
    assert polarity_family(polarity(saturated), fitted={}) == ("electron", "transmitted")
    read = image_polarity(Image(saturated, "yx"))
    assert read is not None and read.dark is not None and read.clipped >= CLIPPED
    assert len(polarity_family(read.value, dark=read.dark, clipped=read.clipped)) == 3
    report = check_image(open_model("care-em-generalist").package, Image(saturated, "yx"))
    check = next(c for c in report.checks if c.name == "polarity")
    assert check.status == "warn" and "clipped" in check.message
    assert report.verdict in ("caution", "mismatch")
    light = check_image(open_model("care-widefield-w2s").package, Image(saturated, "yx"))
    assert next(c for c in light.checks if c.name == "polarity").status == "ok"


def test_an_em_model_needs_an_image_that_reads_dark_on_bright() -> None:
    """A reading between the two cuts fits a fluorescence model, not an EM one (every
    electron micrograph of the training split reads dark on bright; dense or zoomed
    fluorescence reads in between); a clearly dark reading fits the EM model only."""
    em, light = {"electron"}, {"light"}
    between = (READING["light_below"] + READING["dark_above"]) / 2
    assert fits_family(light, 0.1, dark=between) and not fits_family(em, 0.1, dark=between)
    assert not fits_family(em, 0.1, dark=between, small=True)  # small planes too
    assert fits_family(light, -0.2, dark=0.99, small=True)  # where dark reads say nothing
    dark = READING["dark_above"] + 0.01
    assert fits_family(em, -0.2, dark=dark) and not fits_family(light, -0.2, dark=dark)
    assert fits_family(light, -0.2, dark=dark, clipped=CLIPPED)  # clipped: no family
    assert not fits_family(em, 0.5)  # clearly bright on dark, whatever the reading
    package = open_model("care-em-generalist").package
    [check] = check_polarity(package, Polarity(0.1, dark=between))
    assert check.status == "warn" and "in between" in check.message


def test_electron_micrographs_keep_the_em_model(shared_data: Path) -> None:
    """The held-out EM slices read dark on bright: the EM model's polarity check holds."""
    package = open_model("care-em-generalist").package
    for rel in ("em/isbi2012_train_5.png", "em/epfl_fibsem_testing0002.png"):
        image = read_image(shared_data / "images" / rel)
        read = image_polarity(image)
        assert read is not None and read.dark is not None and read.dark > READING["dark_above"]
        report = check_image(package, image)
        assert next(c for c in report.checks if c.name == "polarity").status == "ok", rel


@pytest.mark.slow
def test_the_shipped_reading_is_fitted_on_the_training_windows_alone() -> None:
    """zoo/families.json is the fit of :func:`reading.windows` (the training split of
    SPLITS.md and the benchmark's variants); its cuts let at most ``READ_AS_OTHER`` of each
    family's windows read as the other; a reading fitted without a source never saw it."""
    from zoo_bench.domain import reading

    ws = reading.windows(log=lambda _: None)
    assert {w.source for w in ws} == TRAINING_SOURCES
    fitted = reading.shipped_reading(ws)  # raises unless zoo/families.json is this fit
    for key in ("light_below", "dark_above"):
        assert fitted[key] == pytest.approx(READING[key])
    dark = np.array([w.dark for w in ws])
    prob = np.array([dark_probability(w.features) for w in ws])
    assert (prob[dark] < READING["light_below"]).mean() <= reading.READ_AS_OTHER
    assert (prob[~dark] > READING["dark_above"]).mean() <= reading.READ_AS_OTHER
    without = reading.readings(ws, ["W2S", "FMD"])
    assert "W2S" not in without["W2S"]["windows"] and without["W2S"]["left_out"] == "W2S"
    assert without["FMD"]["coefficients"] == fitted["coefficients"]  # no window of FMD


def test_a_small_fluorescence_field_in_between_keeps_an_em_model_off(shared_data: Path) -> None:
    """A 128² field of the held-out nucleus-tracking rows whose contrast reads in between:
    an EM model warns (small planes too need a dark-on-bright reading for it); a 128²
    crop of a held-out EM slice keeps the EM model's polarity check."""
    plane = read_image(shared_data / "images" / "pairs" / "nucleus_tracking_low_snr.tif").data
    field = Image(np.ascontiguousarray(plane[768:896, 512:640]), "yx")
    read = image_polarity(field)
    assert read is not None and read.small and read.dark is not None
    assert READING["light_below"] <= read.dark <= READING["dark_above"]
    package = open_model("care-em-generalist").package
    check = next(c for c in check_image(package, field).checks if c.name == "polarity")
    assert check.status == "warn"
    em = read_image(shared_data / "images" / "em" / "isbi2012_train_5.png").data
    crop = Image(np.ascontiguousarray(em[192:320, 192:320]), "yx")
    check = next(c for c in check_image(package, crop).checks if c.name == "polarity")
    assert check.status == "ok"
