"""The family reading (zoo/families.json, :mod:`zoo.families`): fitted on windows of the
training split alone, it reads a saturated fluorescence field as light microscopy where the
contrast polarity alone reads it as an electron micrograph (the leave-one-source-out
benchmark's reading of each source by a reading that never saw it: test_domain_benchmark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.checks import image_polarity
from zoo.domain import check_image
from zoo.families import READING, dark_probability, polarity, polarity_family
from zoo.imageio import Image, read_image
from zoo.runner import open_model

TRAINING_SOURCES = {"W2S", "nucleus tracking", "GigaDB", "FLIM", "hiPSC", "RCAN3D", "EM-ISBI",
                    "EM-EPFL"}  # fmt: skip


def test_a_saturated_fluorescence_field_reads_as_light(shared_data: Path) -> None:
    """A held-out W2S field at four times its gain (saturated plateaus): the polarity alone
    reads it dark on bright, the reading as fluorescence, and an EM model warns."""
    plane = read_image(shared_data / "images" / "w2s" / "w2s_042_1_noisy_avg1.tif").data
    saturated = np.clip(plane.astype(np.float64) * 4, 0, 255).astype(np.uint8)
    assert polarity_family(polarity(saturated), fitted={}) == ("electron", "transmitted")
    read = image_polarity(Image(saturated, "yx"))
    assert read is not None and read.dark is not None
    assert polarity_family(read.value, dark=read.dark) == ("light",)
    report = check_image(open_model("care-em-generalist").package, Image(saturated, "yx"))
    check = next(c for c in report.checks if c.name == "polarity")
    assert check.status == "warn" and "probability" in check.message
    assert report.verdict in ("caution", "mismatch")


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
