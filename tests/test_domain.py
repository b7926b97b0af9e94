"""The domain check on real images: match in domain, and the right check named when not.

A "domain" here is a real image of ../shared/data: its left half is the training data (the
card's fingerprint, dtype, modality and pixel size describe it), its right half is a held-out
image of the same domain. Each departure the issue names is then made from the held-out half
(or is a real image with that property) and must be flagged by the check that measures it.
The network is the example package's; the check never runs it.

These are the checks themselves, judged by their thresholds (``learned=False``); the verdict
zoo gives, where the learned score decides which warnings stand, is tests/test_learned.py's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from zoo.domain import DomainReport
from zoo.domain import check_image as shipped_check
from zoo.fingerprint import fingerprint, image_statistics
from zoo.imageio import Image, read_image
from zoo.inference import _test_tensors
from zoo.package import Package, load_package
from zoo.spec import ZooCard

PIXEL_UM = 0.1

DOMAINS = {
    # real 16-bit photon-limited fluorescence images with pixel-independent noise
    "bacteria": ("images/other/bacteria_noisy_avg1_16bit.png", "widefield"),
    "hipsc": ("images/fluo3d/bbbc034_aics_12_134_C0_slice.tif", "spinning-disk"),
}


@pytest.fixture(scope="module")
def example(example_zip: Path) -> Package:
    return load_package(example_zip)


def _domain(example: Package, shared_data: Path, name: str) -> tuple[Package, np.ndarray]:
    """(a package whose card describes the left half of a real image, the right half)."""
    path, modality = DOMAINS[name]
    data = read_image(shared_data / path).data
    half = data.shape[1] // 2
    train, held_out = data[:, :half], data[:, half:]
    card = example.card.model_dump(mode="json")
    card["domain"].update(
        modality=modality, dtype=str(data.dtype), pixel_size={"x": PIXEL_UM, "y": PIXEL_UM}
    )
    card["fingerprint"] = fingerprint([train]).model_dump(mode="json")
    return dataclasses.replace(example, card=ZooCard.model_validate(card)), held_out


@pytest.fixture(scope="module", params=sorted(DOMAINS))
def domain(request, example: Package, shared_data: Path) -> tuple[Package, np.ndarray]:
    return _domain(example, shared_data, request.param)


def check_image(*args, **kwargs) -> DomainReport:
    """The checks judged by their own thresholds, without the learned score."""
    return shipped_check(*args, learned=False, **kwargs)


def _flagged(report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks if c.status in ("warn", "fail")}


def _image(data: np.ndarray, **kwargs) -> Image:
    kwargs.setdefault("pixel_size", {"y": PIXEL_UM, "x": PIXEL_UM})
    return Image(data, "yx", **kwargs)


def test_own_test_input_matches(example: Package) -> None:
    x, _ = _test_tensors(example)
    report = check_image(example, Image(x[0, 0], "yx"))
    assert report.verdict == "match", _flagged(report)
    assert shipped_check(example, Image(x[0, 0], "yx")).verdict == "match"
    assert report.reference.startswith("card fingerprint")


def test_held_out_image_of_the_domain_matches(domain) -> None:
    package, held_out = domain
    report = check_image(package, _image(held_out))
    assert report.verdict == "match", _flagged(report)
    assert report.score < 1.0
    assert shipped_check(package, _image(held_out)).verdict == "match"


def test_other_modality_in_metadata(domain) -> None:
    package, held_out = domain
    report = check_image(package, _image(held_out, modality="confocal"))
    assert report.verdict == "caution"
    assert _flagged(report) == {"modality": "warn"}
    check = next(c for c in report.checks if c.name == "modality")
    assert check.measured == "confocal" and "not confocal" in check.message


def test_four_times_the_pixel_size(domain) -> None:
    """4 × 4 binning: the same field seen with pixels 4× larger (and said so in metadata)."""
    package, held_out = domain
    h, w = (s // 4 * 4 for s in held_out.shape)
    binned = held_out[:h, :w].astype(np.float64).reshape(h // 4, 4, w // 4, 4).mean((1, 3))
    image = _image(binned.astype(held_out.dtype), pixel_size={"y": 0.4, "x": 0.4})
    report = check_image(package, image)
    flagged = _flagged(report)
    assert report.verdict != "match"
    assert flagged["pixel_size"] == "warn"
    check = next(c for c in report.checks if c.name == "pixel_size")
    assert "4×" in check.message
    # the statistics see it too, without the metadata
    blind = check_image(package, Image(image.data, "yx"))
    assert blind.verdict != "match"
    assert {"structure_scale", "noise_sigma"} & set(_flagged(blind))


def test_strong_gaussian_noise_on_a_photon_limited_domain(domain) -> None:
    package, held_out = domain
    sigma = image_statistics(held_out)["noise_sigma"].value
    rng = np.random.default_rng(1)
    noisy = held_out + rng.normal(0, 2 * sigma, held_out.shape)
    report = check_image(package, _image(np.clip(noisy, 0, 65535).astype(held_out.dtype)))
    assert report.verdict == "mismatch"
    assert _flagged(report)["shot_noise_fraction"] == "fail"
    assert "less photon-like" in next(
        c.message for c in report.checks if c.name == "shot_noise_fraction"
    )


def test_striped_noise(domain) -> None:
    """Column offsets as strong as the pixel noise: a camera read-out pattern."""
    package, held_out = domain
    sigma = image_statistics(held_out)["noise_sigma"].value
    stripes = np.random.default_rng(2).normal(0, sigma, (1, held_out.shape[1]))
    striped = np.clip(held_out + stripes, 0, 65535).astype(held_out.dtype)
    report = check_image(package, _image(striped))
    assert _flagged(report)["noise_corr_y"] == "fail"
    assert report.verdict == "mismatch"


def test_real_scan_line_correlated_noise(example: Package, shared_data: Path) -> None:
    """A real two-photon point-scan frame (FLIM intensity) has noise correlated along x."""
    package, _ = _domain(example, shared_data, "bacteria")
    flim = read_image(shared_data / "images/pairs/flim2p_bpae1_intensity_ax1_noisy.tif")
    report = check_image(package, flim)
    assert _flagged(report)["noise_corr_x"] == "fail"


def test_eight_bit_image_for_a_sixteen_bit_model(domain) -> None:
    package, held_out = domain
    as_8bit = (held_out.astype(np.float64) / held_out.max() * 255).astype(np.uint8)
    report = check_image(package, _image(as_8bit))
    flagged = _flagged(report)
    assert flagged["dtype"] == "warn"
    assert flagged["intensity_median"] == "fail"  # the model's fixed normalisation is off
    assert report.verdict == "mismatch"
    check = next(c for c in report.checks if c.name == "dtype")
    assert (check.measured, check.expected) == ("uint8", "uint16")


def test_score_grows_with_the_noise_added(domain) -> None:
    package, held_out = domain
    sigma = image_statistics(held_out)["noise_sigma"].value
    rng = np.random.default_rng(3)
    scores = []
    for k in (0.0, 1.0, 3.0):
        noisy = np.clip(held_out + rng.normal(0, k * sigma, held_out.shape), 0, 65535)
        scores.append(check_image(package, _image(noisy.astype(held_out.dtype))).score)
    assert scores == sorted(scores) and scores[2] > scores[0] + 1


def test_incompatible_images_fail_before_any_statistic(example: Package) -> None:
    rng = np.random.default_rng(0)
    rgb = check_image(example, Image(rng.random((64, 64, 3), np.float32), "yxc"))
    assert rgb.verdict == "mismatch" and _flagged(rgb) == {"channels": "fail"}
    assert rgb.score >= 10
    assert rgb.reference.startswith("not compared")
    line = check_image(example, Image(rng.random(64, np.float32), "x"))
    assert _flagged(line)["dimensionality"] == "fail"


def test_a_stack_is_checked_plane_by_plane(example: Package) -> None:
    rng = np.random.default_rng(0)
    stack = rng.poisson(20, (3, 64, 64)).astype(np.float32) / 30
    report = check_image(example, Image(stack, "zyx"))
    dim = next(c for c in report.checks if c.name == "dimensionality")
    assert dim.status == "ok" and "plane by plane" in dim.message


def test_too_small_for_statistics_is_reported_not_raised(example: Package) -> None:
    tiny = np.random.default_rng(0).random((12, 12), np.float32)
    report = check_image(example, Image(tiny, "yx"))
    stat = next(c for c in report.checks if c.kind == "statistics")
    assert stat.status == "skip" and "16" in stat.message


def test_package_without_fingerprint_uses_its_test_input(example: Package) -> None:
    bare = dataclasses.replace(example, card=example.card.model_copy(update={"fingerprint": None}))
    x, _ = _test_tensors(bare)
    report = check_image(bare, Image(x[0, 0], "yx"))
    assert report.verdict == "match"
    assert "test input" in report.reference
    assert any("weaker reference" in note for note in report.notes)


def test_report_json_has_verdict_score_checks(example: Package) -> None:
    x, _ = _test_tensors(example)
    data = json.loads(check_image(example, Image(x[0, 0], "yx")).to_json())
    assert {"verdict", "score", "checks"} <= set(data)
    for check in data["checks"]:
        assert {"name", "status", "measured", "expected", "message"} <= set(check)


def test_report_json_keeps_its_key_order_and_takes_numpy_values() -> None:
    """The report's JSON (what ``zoo check --json`` prints and the provenance records) has
    fixed key order, the score rounded to 4 decimals, and numpy scalars as plain numbers."""
    from zoo.domain import Check, DomainReport

    check = Check(
        name="channels", kind="compatibility", status="ok", measured=np.int64(1),
        expected=[None, np.float32(0.5)], message="Channel count fits.",
    )  # fmt: skip
    report = DomainReport(verdict="match", score=0.123456, checks=[check], reference="r")
    data = json.loads(report.to_json())
    assert list(data) == ["verdict", "score", "reference", "notes", "learned", "checks"]
    assert data["score"] == 0.1235 and data["notes"] == []
    assert list(data["checks"][0]) == [
        "name", "kind", "status", "measured", "expected", "message", "distance",
    ]  # fmt: skip
    assert data["checks"][0]["measured"] == 1 and data["checks"][0]["expected"] == [None, 0.5]
    with pytest.raises(ValueError):
        Check(name="x", kind="other", status="ok", measured=1, expected=1, message="")


def test_other_microscope_in_metadata(example: Package, shared_data: Path) -> None:
    package, held_out = _domain(example, shared_data, "bacteria")
    card = package.card.model_dump(mode="json")
    card["domain"]["microscope"] = {"manufacturer": "Nikon", "model": "Ti2"}
    package = dataclasses.replace(package, card=ZooCard.model_validate(card))
    same = check_image(package, _image(held_out, microscope="Nikon Ti2"))
    assert same.verdict == "match"
    other = check_image(package, _image(held_out, microscope="Zeiss LSM 880"))
    assert other.verdict == "caution" and _flagged(other) == {"microscope": "warn"}


def test_one_sided_ratio_thresholds_flag_one_direction_only(domain) -> None:
    """``ratio_below`` flags a smaller value than in training and ignores a larger one;
    ``ratio_above`` the reverse; ``ratio`` both. The reported range is open on the side
    that is not checked."""
    package, held_out = domain
    image = held_out.astype(np.float64)
    dimmer, brighter = _image((image * 0.25).astype(held_out.dtype)), _image(image * 4)
    for kind, flags_dimmer, flags_brighter in (
        ("ratio", True, True),
        ("ratio_below", True, False),
        ("ratio_above", False, True),
    ):
        thresholds = {"intensity_median": (kind, 2.0, 5.0)}
        for changed, flagged in ((dimmer, flags_dimmer), (brighter, flags_brighter)):
            report = check_image(package, changed, thresholds=thresholds)
            check = next(c for c in report.checks if c.name == "intensity_median")
            assert (check.status != "ok") is flagged, (kind, check)
            low, high = check.expected
            assert (low is None) == (kind == "ratio_above")
            assert (high is None) == (kind == "ratio_below")


@pytest.mark.parametrize(
    "path",
    [
        "images/fluo3d/bbbc034_aics_12_134_C0_slice.tif",
        "images/structured_noise/pn2v_convallaria_emccd_Conv0000.tif",
    ],
)
def test_the_check_subsample_is_exact_enough(shared_data: Path, path: str) -> None:
    """The check estimates an image's statistics from CHECK_TILES tiles, half of what a
    fingerprint takes: on real 1024² images each checked estimate stays within a tenth of
    the way to its warn threshold from the full estimate."""
    import math

    from zoo.domain import CHECK_TILES, DEFAULT_THRESHOLDS, plane_statistics

    data = read_image(shared_data / path).data
    full, sub = image_statistics(data), plane_statistics(Image(data, "yx"))
    assert (data.shape[0] // 64) * (data.shape[1] // 64) > CHECK_TILES  # a real subsample
    for name, (kind, warn, _fail) in DEFAULT_THRESHOLDS.items():
        a, b = full[name].value, sub[name].value
        if kind == "ratio" and a > 0:
            moved = abs(math.log(b / a)) / math.log(warn)
        else:
            moved = abs(b - a) / warn
        assert moved < 0.1, (name, a, b)


def test_a_model_of_several_sources_is_judged_by_its_closest_source(
    example: Package, shared_data: Path
) -> None:
    """A card with ``sources``: an image like one source matches that source's fingerprint
    (even when the pooled fingerprint would be a poor fit) and the modality of any source
    is its own; an image like none of them still warns."""
    em = read_image(shared_data / "images/em/isbi2012_train_0.png").data
    fluo = read_image(shared_data / "images/pairs/nucleus_tracking_low_snr.tif").data
    card = example.card.model_dump(mode="json")
    card["domain"].update(modality="widefield", dtype="uint16", pixel_size=None)
    card["fingerprint"] = fingerprint([em[:, :256], fluo[:512]]).model_dump(mode="json")
    card["sources"] = [
        {
            "name": name,
            "modality": modality,
            "fingerprint": fingerprint([a]).model_dump(mode="json"),
        }
        for name, modality, a in (("ISBI", "TEM", em[:, :256]), ("nuclei", "widefield", fluo[:512]))
    ]
    package = dataclasses.replace(example, card=ZooCard.model_validate(card))
    report = check_image(package, Image(fluo[512:], "yx"), modality="widefield")
    assert "training source nuclei" in report.reference and report.verdict == "match"
    report = check_image(package, Image(em[:, 256:], "yx"), modality="TEM")
    assert "training source ISBI" in report.reference
    assert "modality" not in _flagged(report)
    assert check_image(package, Image(em, "yx"), modality="SEM").verdict != "match"
    with pytest.raises(ValueError, match="at least 2"):
        ZooCard.model_validate({**card, "sources": card["sources"][:1]})
