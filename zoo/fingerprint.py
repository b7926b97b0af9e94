"""The statistical fingerprint of microscopy images: what the training data looked like.

The same code computes the statistics of :data:`STATISTICS` over the training images at
packaging time (:func:`fingerprint`, stored in the card) and over the user's image at check
time (:func:`image_statistics`). Each is a :class:`~zoo.spec.Stat` ``(value, low, high)``:
the whole-image estimate and its 5th/95th percentile over tiles. What each statistic means
and how it is estimated: docs/domain-check.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import numpy as np
import scipy.fft
from scipy import ndimage

from zoo import __version__
from zoo.errors import ImageError
from zoo.spec import DType, Fingerprint, Stat

__all__ = ["MIN_SIZE", "PERCENTILES", "STATISTICS", "fingerprint", "image_statistics"]

STATISTICS: dict[str, str] = {
    "noise_sigma": "Typical standard deviation of the pixel-to-pixel noise, in grey values.",
    "poisson_slope": "How fast the noise variance grows with brightness (about the camera gain "
    "for photon shot noise, about 0 for pure camera read noise).",
    "poisson_offset": "Noise variance extrapolated to zero brightness (read noise, minus gain "
    "times the camera's baseline offset).",
    "shot_noise_fraction": "Share of the noise that grows with brightness (photon shot noise) "
    "at the image's median brightness: near 1 for photon-limited images, near 0 for camera "
    "read noise or added Gaussian noise.",
    "noise_corr_x": "How similar the noise of horizontally neighbouring pixels is: about 0 for "
    "independent noise, clearly above 0 for scan lines or camera patterns.",
    "noise_corr_y": "How similar the noise of vertically neighbouring pixels is: about 0 for "
    "independent noise, clearly above 0 for stripes or camera patterns.",
    "structure_scale": "Typical size of the structures in pixels; it doubles when the "
    "magnification doubles.",
    "snr_db": "Signal-to-noise ratio in decibels: 0 dB when signal and noise vary equally, "
    "+10 dB for every tenfold more signal variance.",
    "saturated_fraction": "Fraction of pixels clipped at the brightest value the detector or "
    "file can hold.",
    "background_fraction": "Fraction of pixels that, given the noise, are as dark as the "
    "darkest part of the image (background).",
    "intensity_median": "Median grey value: overall brightness (exposure, gain, bit depth).",
    "intensity_iqr": "Spread of the middle half of the grey values: the image's contrast.",
}
"""Every statistic :func:`image_statistics` returns, with its meaning in one sentence."""

MIN_SIZE = 16
"""Smallest image side, in pixels, the statistics are computed for."""

PERCENTILES: dict[str, float] = {"p0.1": 0.1, "p1": 1.0, "p50": 50.0, "p99": 99.0, "p99.9": 99.9}
"""Grey-value percentiles stored in a fingerprint."""

_MAD_TO_SIGMA = 1.4826  # σ of a normal distribution = 1.4826 · its median absolute deviation
_SECOND_DIFFERENCE = np.array([1.0, -2.0, 1.0])
_FOURTH_DIFFERENCE = np.array([1.0, -4.0, 6.0, -4.0, 1.0])
_IMMERKAER_NORM = 6.0  # √(sum of squares) of Immerkær's kernel [1,-2,1]ᵀ[1,-2,1]
_LOCAL_MEAN = 5  # window of the local mean the noise-level function bins pixels by
_NLF_BINS = 16  # equal-count intensity bins of the noise-level function
_NLF_MIN_COUNT = 64  # pixels a bin needs to take part in the fit
_NLF_EDGE_STRIDE = 7  # the bin edges are percentiles of every 7th pixel
_Z90 = 1.6449  # two-sided 90 % normal quantile: low/high of the noise-level fit
_SNR_MIN_DB = -20.0  # signal variance below 1 % of the noise variance is not measurable
_SATURATION_MIN = 1e-3  # float images: the maximum is a saturation level above this fraction
_SPECTRUM_BLOCK = 256  # side of the blocks the power spectrum is averaged over
_PERCENTILE_SAMPLE = 1 << 20  # pixels per image the fingerprint's percentiles use at most


def image_statistics(
    image: np.ndarray, *, tile: int = 64, max_tiles: int = 256, seed: int = 0
) -> dict[str, Stat]:
    """Statistics of one 2D image (YX, any real dtype), keyed and ordered as :data:`STATISTICS`.

    ``value`` is the whole-image estimate; ``low``/``high`` the 5th/95th percentiles over at
    most ``max_tiles`` tiles of ``tile`` × ``tile`` pixels drawn with ``seed`` (except where
    docs/domain-check.md says otherwise). Raises :class:`ImageError` for images that are
    not 2D, empty, smaller than 16 × 16, constant, or hold NaN or infinity.
    """
    if tile < MIN_SIZE or max_tiles < 1:
        raise ValueError(f"need tile >= {MIN_SIZE} and max_tiles >= 1, got {tile}, {max_tiles}")
    image = _checked(image)
    tiles = _sample_tiles(image, min(tile, *image.shape), max_tiles, seed)
    residual = _noise_residual(tiles)
    tile_sigma = _robust_sigma(residual.reshape(len(tiles), -1), axis=1)
    sigma = float(np.median(tile_sigma))
    found = {
        "noise_sigma": _stat(sigma, tile_sigma),
        **_noise_level_function(tiles, residual),
        **_noise_correlation(tiles),
        "structure_scale": _structure_scale(image),
        "snr_db": _snr(tiles, sigma, tile_sigma, _quantisation_variance(image)),
        "saturated_fraction": _saturation(image, tiles),
        **_intensity(tiles, sigma),
    }
    found["shot_noise_fraction"] = _shot_fraction(
        found["poisson_slope"], found["intensity_median"].value, sigma
    )
    return {name: found[name] for name in STATISTICS}


def _shot_fraction(slope: Stat, median: float, sigma: float) -> Stat:
    """``slope · median / σ²`` clipped to [0, 1]: the signal-dependent share of the noise
    variance at the median grey value (scale-free, so images of any gain compare)."""
    if sigma <= 0:
        return Stat(value=0.0, low=0.0, high=0.0)
    scale = max(median, 0.0) / sigma**2
    value, low, high = (
        float(np.clip(v * scale, 0.0, 1.0)) for v in (slope.value, slope.low, slope.high)
    )
    return Stat(value=value, low=min(low, value), high=max(high, value))


def fingerprint(images: Sequence[np.ndarray], *, zoo_version: str | None = None) -> Fingerprint:
    """Summarise training images (2D each) into the card's :class:`~zoo.spec.Fingerprint`.

    Per statistic, ``value`` is the median of the images' values and ``low``/``high`` span
    all images' ranges. Percentiles are over the pixels of all images (each image adding at
    most 2²⁰ pixels, drawn with a fixed seed); ``dtype`` is the first image's.
    """
    if len(images) == 0:
        raise ImageError("a fingerprint needs at least one image, got none")
    checked = []
    for index, image in enumerate(images):
        try:
            checked.append(_checked(image))
        except ImageError as exc:
            raise ImageError(f"image {index} of {len(images)}: {exc}") from exc
    per_image = [image_statistics(image) for image in checked]
    rng = np.random.default_rng(0)
    sample = np.concatenate([_pixel_sample(image, rng) for image in checked])
    dtype = checked[0].dtype.name
    return Fingerprint(
        zoo_version=__version__ if zoo_version is None else zoo_version,
        n_images=len(checked),
        dtype=dtype if dtype in get_args(DType) else None,
        value_range=(
            float(min(image.min() for image in checked)),
            float(max(image.max() for image in checked)),
        ),
        percentiles=dict(
            zip(
                PERCENTILES, np.percentile(sample, list(PERCENTILES.values())).tolist(), strict=True
            )
        ),
        stats={
            name: Stat(
                value=float(np.median([found[name].value for found in per_image])),
                low=min(found[name].low for found in per_image),
                high=max(found[name].high for found in per_image),
            )
            for name in STATISTICS
        },
    )


def _checked(image: np.ndarray) -> np.ndarray:
    """``image`` as an array, or :class:`ImageError` saying why it cannot be measured."""
    image = np.asarray(image)
    if image.dtype.kind not in "uif":
        raise ImageError(f"expected a real-valued numeric image, got dtype {image.dtype}")
    if image.ndim != 2:
        raise ImageError(
            f"expected a 2D image (YX), got shape {image.shape}; pass one plane of a stack "
            "(ZYX) or one channel (YXC) at a time"
        )
    if image.size == 0:
        raise ImageError(f"the image is empty (shape {image.shape})")
    if min(image.shape) < MIN_SIZE:
        raise ImageError(
            f"the image is {image.shape[0]}×{image.shape[1]} pixels; statistics need at least "
            f"{MIN_SIZE}×{MIN_SIZE}"
        )
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ImageError("the image holds NaN or infinite values; replace or mask them first")
    if image.min() == image.max():
        raise ImageError(f"the image is constant (every pixel is {image.flat[0]}): no statistics")
    return image


def _sample_tiles(image: np.ndarray, tile: int, max_tiles: int, seed: int) -> np.ndarray:
    """Up to ``max_tiles`` tiles of a centred non-overlapping grid, float64 (n, tile, tile)."""
    ny, nx = image.shape[0] // tile, image.shape[1] // tile
    top, left = (image.shape[0] - ny * tile) // 2, (image.shape[1] - nx * tile) // 2
    grid = image[top : top + ny * tile, left : left + nx * tile].reshape(ny, tile, nx, tile)
    chosen = np.arange(ny * nx)
    if len(chosen) > max_tiles:
        chosen = np.sort(np.random.default_rng(seed).choice(len(chosen), max_tiles, replace=False))
    rows, cols = np.divmod(chosen, nx)
    return grid.transpose(0, 2, 1, 3)[rows, cols].astype(np.float64)


def _robust_sigma(residual: np.ndarray, axis: int | None = None) -> np.ndarray:
    """σ of a zero-centred noise residual: 1.4826 × its median absolute value, or where over
    half the values are 0 (quantised, noise-free data) √(π/2) × its mean absolute value."""
    size = np.abs(residual)
    mad = _MAD_TO_SIGMA * np.median(size, axis=axis)
    return np.where(mad > 0, mad, np.sqrt(np.pi / 2) * np.mean(size, axis=axis))


def _noise_residual(tiles: np.ndarray) -> np.ndarray:
    """Immerkær's residual ``[1,-2,1]ᵀ[1,-2,1] * tile / 6``: variance σ² for white noise."""
    along_y = ndimage.correlate1d(tiles, _SECOND_DIFFERENCE, axis=1)[:, 1:-1]
    return ndimage.correlate1d(along_y, _SECOND_DIFFERENCE, axis=2)[:, :, 1:-1] / _IMMERKAER_NORM


def _noise_level_function(tiles: np.ndarray, residual: np.ndarray) -> dict[str, Stat]:
    """Fit ``noise variance = slope · local mean + offset`` over equal-count intensity bins."""
    mean = ndimage.uniform_filter(tiles, _LOCAL_MEAN, axes=(1, 2))[:, 1:-1, 1:-1].reshape(-1)
    levels = np.linspace(0, 100, _NLF_BINS + 1)
    edges = np.unique(np.percentile(mean[::_NLF_EDGE_STRIDE], levels)[1:-1])
    bins = np.zeros(mean.shape, np.uint8)  # uint8: argsort below is then a radix sort
    for edge in edges:  # faster than np.searchsorted here (docs/domain-check.md)
        bins += mean >= edge
    counts = np.bincount(bins)
    centres = np.bincount(bins, weights=mean) / np.maximum(counts, 1)
    ordered = residual.reshape(-1)[np.argsort(bins, kind="stable")]
    groups = np.split(ordered, np.cumsum(counts)[:-1])
    points = [
        (centre, _robust_sigma(group) ** 2)
        for centre, group in zip(centres, groups, strict=True)
        if len(group) >= _NLF_MIN_COUNT
    ]
    if len(points) < 3:  # no intensity range to fit a line over: call the noise constant
        variance = float(_robust_sigma(residual.reshape(-1)) ** 2)
        return {"poisson_slope": _interval(0.0, 0.0), "poisson_offset": _interval(variance, 0.0)}
    slope, intercept, slope_se, intercept_se = _line_fit(*np.array(points).T)
    return {
        "poisson_slope": _interval(slope, _Z90 * slope_se),
        "poisson_offset": _interval(intercept, _Z90 * intercept_se),
    }


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Least-squares line through ≥ 3 points: slope, intercept and their standard errors,
    computed as ``scipy.stats.linregress`` does, without importing scipy.stats."""
    xmean = np.mean(x)
    ssxm, ssxym, _, ssym = np.cov(x, y, bias=True).flat
    if ssxm == 0.0 or ssym == 0.0:
        r = np.nan if ssxym == 0 else 0.0
    else:
        r = float(np.clip(ssxym / np.sqrt(ssxm * ssym), -1.0, 1.0))
    slope = ssxym / ssxm
    slope_se = np.sqrt((1 - r**2) * ssym / ssxm / (len(x) - 2))
    return slope, np.mean(y) - slope * xmean, slope_se, slope_se * np.sqrt(ssxm + xmean**2)


def _noise_correlation(tiles: np.ndarray) -> dict[str, Stat]:
    """Lag-1 correlation along x (y) of the 4th-difference residual across y (x), per tile."""
    across_y = ndimage.correlate1d(tiles, _FOURTH_DIFFERENCE, axis=1)[:, 2:-2]
    across_x = ndimage.correlate1d(tiles, _FOURTH_DIFFERENCE, axis=2)[:, :, 2:-2]
    along_x = _correlation(across_y[:, :, :-1], across_y[:, :, 1:])
    along_y = _correlation(across_x[:, :-1], across_x[:, 1:])
    return {
        "noise_corr_x": _stat(np.median(along_x), along_x),
        "noise_corr_y": _stat(np.median(along_y), along_y),
    }


def _correlation(head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``head`` with ``tail`` for each tile (first axis); 0 if flat."""
    n = head[0].size
    head_mean, tail_mean = head.mean(axis=(1, 2)), tail.mean(axis=(1, 2))
    cross = np.einsum("ijk,ijk->i", head, tail) / n - head_mean * tail_mean
    head_var = np.einsum("ijk,ijk->i", head, head) / n - head_mean**2
    tail_var = np.einsum("ijk,ijk->i", tail, tail) / n - tail_mean**2
    scale = np.sqrt(np.maximum(head_var * tail_var, 0))
    return np.divide(cross, scale, out=np.zeros_like(cross), where=scale > 0)


def _structure_scale(image: np.ndarray) -> Stat:
    """Structure scale pooled over blocks of one fixed size, and per block."""
    blocks = _spectrum_blocks(image)
    side = blocks.shape[1]
    signal = _radial_signal(blocks)
    power, moment = signal.sum(axis=1), signal @ (np.arange(signal.shape[1]) / side)
    return _stat(_wavelength(power.sum(), moment.sum()), _wavelength(power, moment))


def _spectrum_blocks(image: np.ndarray) -> np.ndarray:
    """Up to 16 non-overlapping square blocks of ``_SPECTRUM_BLOCK`` pixels on an even grid
    over the image (smaller images: the four quadrants), float32, shape (n, side, side)."""
    side = min(_SPECTRUM_BLOCK, min(image.shape) // 2)
    rows, cols = image.shape[0] // side, image.shape[1] // side
    top, left = (image.shape[0] - rows * side) // 2, (image.shape[1] - cols * side) // 2
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    picks = np.linspace(0, len(cells) - 1, min(16, len(cells))).round().astype(int)
    chosen = [cells[i] for i in picks]
    return np.stack(
        [
            image[top + r * side : top + (r + 1) * side, left + c * side : left + (c + 1) * side]
            for r, c in dict.fromkeys(chosen)
        ]
    ).astype(np.float32)


def _radial_signal(regions: np.ndarray) -> np.ndarray:
    """Per region, the power above the noise floor in rings ``k / side`` cycles per pixel.

    The power spectrum is Hann-windowed and averaged over each ring (so that the noise's
    random fluctuations average out before negative values are clipped to 0), minus the
    noise floor: the mean power in the corners of the spectrum (|fx|, |fy| > 3/8), where
    microscopy images hold almost only noise. The half-plane rfft2 returns is enough: the
    spectrum of a real image is symmetric.
    """
    n, height, width = regions.shape
    window = np.hanning(height).astype(np.float32)[:, None] * np.hanning(width).astype(np.float32)
    centred = regions - regions.mean(axis=(1, 2), keepdims=True)
    spectrum = scipy.fft.rfft2(centred * window, workers=-1)
    power = spectrum.real**2 + spectrum.imag**2
    fy = np.fft.fftfreq(height).astype(np.float32)
    fx = np.fft.rfftfreq(width).astype(np.float32)
    noise = power[:, np.abs(fy) > 3 / 8][:, :, fx > 3 / 8].mean(axis=(1, 2))
    side = min(height, width)
    rings = side // 2 + 2  # up to |f| = 0.5, then one ring collecting everything beyond
    ring = np.minimum(np.rint(np.hypot(fy[:, None] * side, fx * side)), rings - 1)
    ring = ring.astype(np.intp).ravel()
    count = np.bincount(ring, minlength=rings)
    index = (np.arange(n)[:, None] * rings + ring).ravel()
    total = np.bincount(index, power.ravel(), minlength=n * rings).reshape(n, rings)
    signal = np.maximum(total / count - noise[:, None], 0) * count
    signal[:, 0] = 0  # the mean, removed above
    return signal[:, :-1]


def _wavelength(power: np.ndarray, moment: np.ndarray) -> np.ndarray:
    """1 / the centroid frequency; 2 pixels (the finest possible) if no power is above noise."""
    return np.where(moment > 0, power / np.where(moment > 0, moment, 1), 2.0)


def _snr(tiles: np.ndarray, sigma: float, tile_sigma: np.ndarray, floor: float) -> Stat:
    """Signal-to-noise ratio of the whole image and per tile, in dB."""
    pixels = tiles.reshape(len(tiles), -1)
    return _stat(
        _snr_db(pixels.var(), sigma**2, floor), _snr_db(pixels.var(axis=1), tile_sigma**2, floor)
    )


def _snr_db(total: np.ndarray, noise: np.ndarray, floor: float) -> np.ndarray:
    """``10 · log10(signal / noise variance)``, signal = total − noise; noise ≥ ``floor``."""
    noise = np.maximum(noise, floor)
    signal = np.maximum(total - noise, noise * 10 ** (_SNR_MIN_DB / 10))
    return 10 * np.log10(signal / noise)


def _quantisation_variance(image: np.ndarray) -> float:
    """Variance of rounding to the grey-value step: 1 for integers, the float spacing else."""
    if image.dtype.kind in "ui":
        return 1 / 12
    return float(np.spacing(max(abs(float(image.min())), abs(float(image.max()))))) ** 2 / 12


def _saturation(image: np.ndarray, tiles: np.ndarray) -> Stat:
    """Fraction of pixels at the saturation level, whole image and per tile."""
    level = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else image.max()
    count = np.count_nonzero(image == level)
    if image.dtype.kind == "f" and count <= max(1, _SATURATION_MIN * image.size):
        return _interval(0.0, 0.0)  # some pixel is always the brightest
    return _stat(count / image.size, np.mean(tiles == level, axis=(1, 2)))


def _intensity(tiles: np.ndarray, sigma: float) -> dict[str, Stat]:
    """Median, inter-quartile range and background fraction of the grey values."""
    pixels = tiles.reshape(len(tiles), -1)
    p5, q25, q50, q75 = np.percentile(pixels, [5, 25, 50, 75])
    tile_q25, tile_q50, tile_q75 = np.percentile(pixels, [25, 50, 75], axis=1)
    background = pixels <= p5 + 3 * sigma
    return {
        "background_fraction": _stat(background.mean(), background.mean(axis=1)),
        "intensity_median": _stat(q50, tile_q50),
        "intensity_iqr": _stat(q75 - q25, tile_q75 - tile_q25),
    }


def _pixel_sample(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """All pixels as float64, or a uniform sample of ``_PERCENTILE_SAMPLE`` of them."""
    flat = image.reshape(-1)
    if flat.size > _PERCENTILE_SAMPLE:
        flat = flat[rng.choice(flat.size, _PERCENTILE_SAMPLE, replace=False)]
    return flat.astype(np.float64)


def _interval(value: float, half_width: float) -> Stat:
    """``value ± half_width`` as a :class:`Stat`."""
    return Stat(value=float(value), low=float(value - half_width), high=float(value + half_width))


def _stat(value: float, spread: Sequence[float] | np.ndarray) -> Stat:
    """``value`` with the 5th/95th percentiles of ``spread``, widened to include ``value``."""
    low, high = np.percentile(spread, [5, 95])
    value = float(value)
    return Stat(value=value, low=min(float(low), value), high=max(float(high), value))
