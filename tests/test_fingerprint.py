"""The image fingerprint: synthetic noise of known parameters, and real microscopy images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage

import zoo
from zoo.errors import ImageError
from zoo.fingerprint import PERCENTILES, STATISTICS, fingerprint, image_statistics
from zoo.spec import Fingerprint

W2S_NOISY = [
    "w2s_010_0_noisy_avg1.tif",
    "w2s_020_1_noisy_avg1.tif",
    "w2s_031_2_noisy_avg1.tif",
    "w2s_035_1_noisy_avg1.tif",
    "w2s_042_1_noisy_avg1.tif",
    "w2s_044_0_noisy_avg1.tif",
]


def read(path: Path) -> np.ndarray:
    """A 2D image from ../shared/data as stored (PNG intensities, not RGB conversions)."""
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".tif":
        return tifffile.imread(path)
    return np.asarray(Image.open(path))


def values(image: np.ndarray) -> dict[str, float]:
    return {name: stat.value for name, stat in image_statistics(image).items()}


def smooth_ramp(
    shape: tuple[int, int] = (512, 512), low: float = 50, high: float = 250
) -> np.ndarray:
    return np.broadcast_to(np.linspace(low, high, shape[1]), shape)


def box_residual_correlation(image: np.ndarray, size: int = 7) -> tuple[float, float]:
    """Lag-1 correlation of image − k×k mean along x and y (the MANIFEST's measure)."""
    data = image.astype(np.float64)
    residual = (data - ndimage.uniform_filter(data, size))[size:-size, size:-size]
    residual -= residual.mean()
    power = np.mean(residual**2)
    along_x = np.mean(residual[:, 1:] * residual[:, :-1]) / power
    along_y = np.mean(residual[1:] * residual[:-1]) / power
    return float(along_x), float(along_y)


# -- every statistic, documented -------------------------------------------------------------


def test_returns_every_documented_statistic_in_order() -> None:
    stats = image_statistics(np.random.default_rng(0).normal(100, 5, (128, 96)))
    assert list(stats) == list(STATISTICS)
    assert all(s.low <= s.value <= s.high for s in stats.values())
    assert all(len(sentence.split()) >= 6 for sentence in STATISTICS.values())


def test_smallest_image_and_every_dtype_work() -> None:
    rng = np.random.default_rng(1)
    for dtype in (np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64):
        image = np.clip(rng.normal(100, 10, (16, 16)), 0, 255).astype(dtype)
        assert list(image_statistics(image)) == list(STATISTICS)


def test_is_deterministic_with_sampled_tiles() -> None:
    image = np.random.default_rng(2).poisson(30, (2048, 1100)).astype(np.uint16)  # 544 tiles
    assert image_statistics(image) == image_statistics(image)
    assert image_statistics(image, seed=1) != image_statistics(image)


# -- noise: level, Poisson/Gaussian character, correlation -------------------------------------


def test_gaussian_noise_on_a_smooth_image() -> None:
    image = smooth_ramp() + np.random.default_rng(3).normal(0, 5, (512, 512))
    stats = image_statistics(image)
    assert stats["noise_sigma"].value == pytest.approx(5, rel=0.1)
    slope = stats["poisson_slope"]
    assert abs(slope.value) < 0.02 and slope.low <= 0 <= slope.high
    assert stats["poisson_offset"].value == pytest.approx(25, rel=0.1)
    assert abs(stats["noise_corr_x"].value) < 0.05
    assert abs(stats["noise_corr_y"].value) < 0.05
    assert stats["saturated_fraction"].value == 0


def test_gaussian_noise_on_a_flat_image() -> None:
    stats = image_statistics(np.random.default_rng(4).normal(100, 5, (512, 512)))
    assert stats["noise_sigma"].value == pytest.approx(5, rel=0.1)
    assert stats["poisson_slope"].low <= 0 <= stats["poisson_slope"].high
    assert stats["snr_db"].value == pytest.approx(-20)  # nothing but noise: the floor
    assert stats["background_fraction"].value > 0.85
    assert stats["structure_scale"].value < 4


@pytest.mark.parametrize("gain", [1.0, 3.0, 12.0])
def test_poisson_noise_slope_is_the_gain(gain: float) -> None:
    photons = np.random.default_rng(5).poisson(smooth_ramp(low=5, high=300))
    stats = image_statistics(gain * photons)
    assert stats["poisson_slope"].value == pytest.approx(gain, rel=0.2)
    # no read noise: the offset is small next to the variance at the bright end (300 photons)
    assert abs(stats["poisson_offset"].value) < 0.05 * gain**2 * 300


def test_poisson_gaussian_noise_of_the_synthetic_pair(shared_data: Path) -> None:
    # make_ihc_pair.py: (Poisson(30 · clean) + N(0, 2²)) / 30, so variance = mean / 30 + 4 / 900
    stats = image_statistics(read(shared_data / "synthetic" / "noisy.npy"))
    assert stats["poisson_slope"].value == pytest.approx(1 / 30, rel=0.1)
    assert stats["poisson_offset"].value == pytest.approx(4 / 900, rel=0.25)


@pytest.mark.parametrize("transpose", [False, True])
def test_correlated_noise_along_one_axis(transpose: bool) -> None:
    white = np.random.default_rng(6).normal(0, 10, (512, 513))
    noise = white[:, 1:] + 0.8 * white[:, :-1]  # lag-1 correlation 0.8 / 1.64 = 0.488 along x
    image = smooth_ramp() + (noise.T if transpose else noise)
    stats = image_statistics(image)
    along, across = (
        ("noise_corr_y", "noise_corr_x") if transpose else ("noise_corr_x", "noise_corr_y")
    )
    assert stats[along].value == pytest.approx(0.8 / 1.64, abs=0.03)
    assert abs(stats[across].value) < 0.05


@pytest.mark.parametrize(
    "name", ["other/bacteria_noisy_avg1_16bit.png", *(f"w2s/{n}" for n in W2S_NOISY)]
)
def test_pixel_independent_noise_of_real_images(shared_data: Path, name: str) -> None:
    image = read(shared_data / "images" / name)
    assert image.ndim == 2 and image.dtype in (np.uint8, np.uint16)
    stats = image_statistics(image)
    assert abs(stats["noise_corr_x"].value) < 0.15
    assert abs(stats["noise_corr_y"].value) < 0.15


def test_scan_line_noise_of_two_photon_flim(shared_data: Path) -> None:
    image = read(shared_data / "images" / "pairs" / "flim2p_bpae1_intensity_ax1_noisy.tif")
    stats = values(image)
    assert stats["noise_corr_x"] > 0.3
    assert stats["noise_corr_x"] > stats["noise_corr_y"] + 0.3


def test_dense_texture_is_not_read_as_correlated_noise(shared_data: Path) -> None:
    # The MANIFEST quotes a residual correlation of 0.47 / 0.55 for this EMCCD frame, measured
    # on image − 7×7 mean: that residual keeps the Convallaria texture (it reads 0.7–0.8 on a
    # noise-free 400-frame W2S average). The residual across the other axis removes it: the
    # camera noise itself is close to pixel-independent.
    image = read(
        shared_data / "images" / "structured_noise" / "pn2v_convallaria_emccd_Conv0000.tif"
    )
    assert min(box_residual_correlation(image)) > 0.4
    clean = read(shared_data / "images" / "w2s" / "w2s_010_0_clean_avg400.tif")
    assert min(box_residual_correlation(clean)) > 0.6
    stats = values(image)
    assert abs(stats["noise_corr_x"]) < 0.15
    assert abs(stats["noise_corr_y"]) < 0.15


# -- structure scale, SNR ---------------------------------------------------------------------


@pytest.mark.parametrize(("zoom", "low", "high"), [(2, 1.6, 2.6), (4, 2.5, 5.5)])
def test_structure_scale_grows_with_magnification(
    shared_data: Path, zoom: int, low: float, high: float
) -> None:
    clean = read(shared_data / "synthetic" / "clean.npy").astype(np.float64)
    magnified = ndimage.zoom(clean, zoom, order=1)
    ratio = values(magnified)["structure_scale"] / values(clean)["structure_scale"]
    assert low <= ratio <= high


def test_structure_scale_ignores_the_noise(shared_data: Path) -> None:
    clean = values(read(shared_data / "synthetic" / "clean.npy"))["structure_scale"]
    noisy = values(read(shared_data / "synthetic" / "noisy.npy"))["structure_scale"]
    assert 1 / 1.5 < noisy / clean < 1.5


@pytest.mark.parametrize(
    ("noisy", "clean"),
    [
        ("images/w2s/w2s_010_0_noisy_avg1.tif", "images/w2s/w2s_010_0_clean_avg400.tif"),
        ("images/w2s/w2s_044_0_noisy_avg1.tif", "images/w2s/w2s_044_0_clean_avg400.tif"),
        ("synthetic/noisy.npy", "synthetic/clean.npy"),
    ],
)
def test_noisy_image_has_lower_snr_than_its_clean_version(
    shared_data: Path, noisy: str, clean: str
) -> None:
    noisy_stats, clean_stats = (values(read(shared_data / p)) for p in (noisy, clean))
    assert noisy_stats["snr_db"] < clean_stats["snr_db"] - 10
    # each W2S image is rescaled on its own: compare noise relative to contrast
    relative = {
        "noisy": noisy_stats["noise_sigma"] / noisy_stats["intensity_iqr"],
        "clean": clean_stats["noise_sigma"] / clean_stats["intensity_iqr"],
    }
    assert relative["noisy"] > 3 * relative["clean"]


# -- saturation, background, intensity --------------------------------------------------------


def test_saturation_at_the_uint16_maximum(shared_data: Path) -> None:
    image = read(shared_data / "images" / "pairs" / "nucleus_tracking_high_snr.tif")
    assert image.dtype == np.uint16
    expected = np.count_nonzero(image == 65535) / image.size
    assert expected > 0
    assert values(image)["saturated_fraction"] == pytest.approx(expected)


def test_saturation_of_float_images_is_at_a_frequent_maximum() -> None:
    rng = np.random.default_rng(7)
    clipped = np.clip(rng.normal(0.8, 0.2, (256, 256)), 0, 1)  # 15.9 % above 1
    assert values(clipped)["saturated_fraction"] == pytest.approx(0.159, abs=0.01)
    assert values(rng.normal(0.8, 0.2, (256, 256)))["saturated_fraction"] == 0


def test_background_fraction_of_a_half_filled_field() -> None:
    image = np.full((256, 256), 100.0)
    image[:, 128:] = 300
    image += np.random.default_rng(8).normal(0, 5, image.shape)
    assert values(image)["background_fraction"] == pytest.approx(0.5, abs=0.03)


def test_intensity_statistics_are_those_of_the_pixels(shared_data: Path) -> None:
    image = read(shared_data / "images" / "other" / "bacteria_noisy_avg1_16bit.png")
    assert image.dtype == np.uint16 and image.shape == (512, 512)  # 64 tiles: every pixel
    q25, q50, q75 = np.percentile(image, [25, 50, 75])
    stats = image_statistics(image)
    assert stats["intensity_median"].value == q50
    assert stats["intensity_iqr"].value == q75 - q25
    assert stats["intensity_median"].low < q50 < stats["intensity_median"].high


def test_image_without_intensity_range_reports_constant_noise() -> None:
    image = np.zeros((256, 256), np.uint16)
    image[100, 100], image[30, 40] = 1000, 500
    stats = image_statistics(image)
    assert stats["poisson_slope"].value == stats["poisson_slope"].high == 0


# -- fingerprint ------------------------------------------------------------------------------


def test_fingerprint_spans_its_images(shared_data: Path) -> None:
    first = read(shared_data / "images" / "other" / "bacteria_noisy_avg1_16bit.png")
    second = read(shared_data / "images" / "pairs" / "nucleus_tracking_low_snr.tif")
    fp = fingerprint([first, second])
    assert isinstance(fp, Fingerprint)
    assert fp.n_images == 2 and fp.dtype == "uint16" and fp.zoo_version == zoo.__version__
    assert fp.value_range == (
        float(min(first.min(), second.min())),
        float(max(first.max(), second.max())),
    )
    assert list(fp.percentiles) == list(PERCENTILES)
    assert list(fp.percentiles.values()) == sorted(fp.percentiles.values())
    assert list(fp.stats) == list(STATISTICS)
    for image in (first, second):
        for name, stat in image_statistics(image).items():
            assert fp.stats[name].low <= stat.value <= fp.stats[name].high, name
    assert Fingerprint.model_validate_json(fp.model_dump_json()) == fp


def test_fingerprint_of_one_image_and_its_metadata() -> None:
    image = np.random.default_rng(9).integers(0, 1000, (64, 64))
    fp = fingerprint([image], zoo_version="9.9.9")
    assert fp.zoo_version == "9.9.9" and fp.n_images == 1
    assert fp.dtype is None  # int64 is no card dtype
    assert fp.stats == image_statistics(image)


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((3, 64, 64)), "2D image"),
        (np.zeros((64, 64, 3)), "2D image"),
        (np.zeros((0, 0)), "empty"),
        (np.ones((8, 8)), "16×16"),
        (np.ones((100, 15)), "16×16"),
        (np.full((64, 64), 7.0), "constant"),
        (np.where(np.eye(64) > 0, np.nan, 1.0), "NaN"),
        (np.where(np.eye(64) > 0, np.inf, 1.0), "NaN or infinite"),
        (np.eye(64, dtype=bool), "real-valued"),
        (np.eye(64, dtype=complex), "real-valued"),
    ],
)
def test_bad_images_are_refused(image: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        image_statistics(image)


def test_fingerprint_refuses_no_images_and_names_the_bad_one() -> None:
    with pytest.raises(ImageError, match="at least one"):
        fingerprint([])
    good = np.random.default_rng(10).normal(0, 1, (32, 32))
    with pytest.raises(ImageError, match=r"image 1 of 2: .*NaN"):
        fingerprint([good, np.full((32, 32), np.nan)])


def test_bad_tile_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="tile"):
        image_statistics(np.eye(64), tile=8)
    with pytest.raises(ValueError, match="max_tiles"):
        image_statistics(np.eye(64), max_tiles=0)


def test_line_fit_is_linregress() -> None:
    from scipy import stats

    from zoo.fingerprint import _line_fit

    rng = np.random.default_rng(3)
    for n, scale in [(3, 1.0), (8, 1e3), (16, 1e-3)]:
        x = rng.random(n) * scale
        y = 0.5 * x + rng.normal(size=n)
        fit = stats.linregress(x, y)
        assert _line_fit(x, y) == (fit.slope, fit.intercept, fit.stderr, fit.intercept_stderr)
