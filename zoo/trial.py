"""The no-reference trial: does this model beat a plain Gaussian filter on *this* image?

No clean image exists where zoo is used, so the trial estimates each result's mean squared
error against the (unknown) noise-free image with Stein's unbiased risk estimate (SURE,
Stein 1981; Monte-Carlo divergence, Ramani, Blu & Unser 2008), for noise whose variance
follows the image's own noise-level function ``σ²(x) = slope · x + offset``
(:mod:`zoo.fingerprint` measures it; Poisson-Gaussian noise is approximated by Gaussian noise
of that variance)::

    MSE(f) ≈ mean (f(y) − y)² − mean σ² + 2 · mean σ² ∂fᵢ/∂yᵢ

The divergence term is what Noise2Self's J-invariant loss lacks: a CARE network sees the
pixel it denoises, so its J-invariant version (the pixel masked) is a different, worse
denoiser, while SURE scores the network as it runs. For the Gaussian filter the divergence
is its kernel's centre weight, exactly; its sigma is the one with the lowest estimate (no
target is needed to choose it). The mean σ² cancels between the two: the comparison needs
the noise-level function's shape more than its exact level.

Bounded cost: at most ``tiles`` windows of ``tile`` × ``tile`` pixels (plus a context
margin), each run ``1 + probes`` times through the network, as ``zoo run`` runs it (the
same processing, with statistics from the whole image). docs/trial.md gives the agreement
with the truth on SPLITS.md's held-out pairs and the cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from zoo.errors import ImageError

if TYPE_CHECKING:
    from zoo.imageio import Image
    from zoo.inference import Predictor

__all__ = [
    "TRIAL_SIGMAS",
    "Sums",
    "Trial",
    "gaussian_centre_weight",
    "gaussian_terms",
    "model_terms",
    "noise_level",
    "noise_variance",
    "pixel_risk",
    "plane_of",
    "run_trial",
    "trial_of",
]

TRIAL_SIGMAS = tuple(float(s) for s in np.round(np.geomspace(0.25, 8.0, 26), 3))
"""Sigmas (pixels) of the Gaussian filters the model is compared with."""
TILE = 256
"""Side of a trial window."""
TILES = 4
"""Windows per image at most (a 2 × 2 grid over the image: all of a 512² image)."""
MARGIN = 32
"""Context around each window, run through the network and cropped off."""
PROBES = 2
"""Random probes of the Monte-Carlo divergence."""
_PROBE_STEP = 1e-2
"""The probe's step, as a fraction of the noise's standard deviation."""
_LEVEL_SIGMA = 2.0
"""The noise variance at a pixel is the noise-level function of a Gaussian-smoothed copy."""


@dataclass(frozen=True)
class Trial:
    """The trial's estimates on one image (grey values of the input, squared)."""

    model_mse: float
    """Estimated mean squared error of the model's result against the noise-free image."""
    gaussian_mse: float
    """… of the Gaussian filter with the lowest estimate."""
    gaussian_sigma: float
    """That filter's sigma (pixels)."""
    noise_variance: float
    """Mean noise variance on the trial pixels (the noise-level function's)."""
    pixels: int
    """Pixels scored."""
    windows: int
    """Windows run through the network."""
    seconds: float
    """Wall-clock time of the trial."""
    estimator: str = "SURE"

    @property
    def model_wins(self) -> bool:
        """True when the model's estimated error is below the best Gaussian's."""
        return self.model_mse < self.gaussian_mse

    @property
    def gain_db(self) -> float | None:
        """Estimated PSNR gain of the model over the Gaussian (dB); None when an estimate is
        not positive (a noise level overestimated relative to a very small error)."""
        if self.model_mse <= 0 or self.gaussian_mse <= 0:
            return None
        return float(10 * np.log10(self.gaussian_mse / self.model_mse))

    def summary(self) -> str:
        """One line for a person."""
        gain = self.gain_db
        size = f"{self.gain_db:+.1f} dB" if gain is not None else "an amount not measurable"
        verdict = "beats" if self.model_wins else "does not beat"
        return (
            f"the model {verdict} a Gaussian filter (sigma {self.gaussian_sigma:g} px) on this "
            f"image: estimated {size} ({self.estimator} on {self.windows} window(s), "
            f"{self.pixels} pixels, {self.seconds:.1f} s)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the estimates, the verdict and the gain."""
        return asdict(self) | {"model_wins": self.model_wins, "gain_db": self.gain_db}


def gaussian_centre_weight(sigma: float) -> float:
    """The centre weight of scipy's 2D Gaussian filter with ``sigma`` (truncate 4): its
    divergence per pixel."""
    radius = int(4 * sigma + 0.5)
    k = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    return float((k[radius] / k.sum()) ** 2)


def run_trial(
    predictor: Predictor,
    image: np.ndarray,
    *,
    tiles: int = TILES,
    tile: int = TILE,
    probes: int = PROBES,
    seed: int = 0,
    noise: tuple[float, float] | None = None,
) -> Trial:
    """Estimate the model's and the best Gaussian's error on a 2D image (YX), without a target.

    ``noise``: (slope, offset) of the noise-level function, when already measured (the
    domain check's fingerprint statistics); measured here otherwise. Raises
    :class:`~zoo.errors.ImageError` for an image that is not 2D or is too small, and for a
    model that does not take one single-channel 2D image.
    """
    start = time.perf_counter()
    y = _checked(predictor, image)
    slope, offset = noise if noise is not None else noise_level(y)
    rng = np.random.default_rng(seed)
    model = Sums()
    gauss = [Sums() for _ in TRIAL_SIGMAS]
    windows = _windows(y.shape, tile, tiles)
    for inner, outer in windows:
        region = y[outer]
        crop = tuple(
            slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer, strict=True)
        )
        var = noise_variance(region, slope, offset)
        f = _model(predictor, y, outer)
        model.add(*model_terms(f, region, var, crop, probes=probes, rng=rng))
        for sums, terms in zip(gauss, gaussian_terms(region, var, crop), strict=True):
            sums.add(*terms)
    scores = [g.risk() for g in gauss]
    best = int(np.argmin(scores))
    return Trial(
        model_mse=model.risk(),
        gaussian_mse=scores[best],
        gaussian_sigma=TRIAL_SIGMAS[best],
        noise_variance=model.v / model.n,
        pixels=int(model.n),
        windows=len(windows),
        seconds=time.perf_counter() - start,
    )


def trial_of(predictor: Predictor, image: Image) -> Trial:
    """The trial on ``image``'s 2D plane (:func:`plane_of`)."""
    return run_trial(predictor, plane_of(image))


def plane_of(image: Image) -> np.ndarray:
    """``image``'s 2D plane (YX): the middle one along z, the first along any other axis,
    its one channel."""
    index = tuple(
        slice(None) if a in "yx" else image.data.shape[i] // 2 if a == "z" else 0
        for i, a in enumerate(image.axes)
    )
    if "c" in image.axes and image.data.shape[image.axes.index("c")] > 1:
        from zoo.errors import IncompatibleImageError

        raise IncompatibleImageError(
            f"the trial takes one channel; the image has "
            f"{image.data.shape[image.axes.index('c')]} (pick one with --channel N)"
        )
    plane = np.asarray(image.data[index])
    return plane.T if image.axes.index("y") > image.axes.index("x") else plane


def noise_variance(region: np.ndarray, slope: float, offset: float) -> np.ndarray:
    """Each pixel's noise variance: the noise-level function at a smoothed copy's value."""
    level = ndimage.gaussian_filter(region, _LEVEL_SIGMA, mode="reflect")
    return np.maximum(slope * level + offset, 0.0)


Terms = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def model_terms(
    f: Callable[[np.ndarray], np.ndarray],
    region: np.ndarray,
    var: np.ndarray,
    crop: tuple[slice, ...],
    *,
    probes: int,
    rng: np.random.Generator,
) -> Terms:
    """(result, noisy, variance, variance × divergence) on ``crop`` of ``region`` for a
    denoiser ``f`` (input units in, input units out), the divergence by Monte Carlo."""
    out = f(region)
    step = _PROBE_STEP * float(np.sqrt(max(np.mean(var), 1e-12)))
    div = np.zeros(out[crop].shape)
    for _ in range(probes):
        probe = rng.standard_normal(region.shape)
        div += (probe * (f(region + step * probe) - out) / step)[crop]
    v = var[crop]
    return out[crop], region[crop], v, v * div / probes


def gaussian_terms(region: np.ndarray, var: np.ndarray, crop: tuple[slice, ...]) -> list[Terms]:
    """:func:`model_terms` of the Gaussian filter at each of :data:`TRIAL_SIGMAS` (exact
    divergence: the kernel's centre weight)."""
    v, r = var[crop], region[crop]
    return [
        (
            ndimage.gaussian_filter(region, s, mode="reflect")[crop],
            r,
            v,
            v * gaussian_centre_weight(s),
        )
        for s in TRIAL_SIGMAS
    ]


class Sums:
    """What SURE of ``a · f + b`` needs, summed over the trial's pixels."""

    def __init__(self) -> None:
        self.f = self.ff = self.fy = self.y = self.yy = self.v = self.vd = self.n = 0.0

    def add(self, f: np.ndarray, y: np.ndarray, v: np.ndarray, vd: np.ndarray) -> None:
        self.f += float(f.sum())
        self.ff += float((f * f).sum())
        self.fy += float((f * y).sum())
        self.y += float(y.sum())
        self.yy += float((y * y).sum())
        self.v += float(v.sum())
        self.vd += float(vd.sum())
        self.n += f.size

    def fit(self) -> tuple[float, float]:
        """(a, b) of the best affine map ``a · f + b`` of the result (SPLITS.md scores a result
        after such a fit), ``a`` minimising the estimate itself."""
        n = self.n
        mf, my = self.f / n, self.y / n
        var_f = self.ff / n - mf * mf
        cov = self.fy / n - mf * my - self.vd / n
        a = cov / var_f if var_f > 0 else 0.0
        return a, my - a * mf

    def risk(self) -> float:
        """SURE per pixel of the result after :meth:`fit`'s affine map."""
        n, (a, b) = self.n, self.fit()
        sse = a * a * self.ff + 2 * a * b * self.f + n * b * b - 2 * a * self.fy - 2 * b * self.y
        return float((sse + self.yy - self.v + 2 * a * self.vd) / n)


def pixel_risk(terms: Terms, a: float, b: float) -> np.ndarray:
    """Each pixel's SURE term for ``a · f + b``: their mean is :meth:`Sums.risk` at its fit."""
    f, y, v, vd = terms
    return (a * f + b - y) ** 2 - v + 2 * a * vd


def _checked(predictor: Predictor, image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 2 or min(a.shape) < 32:
        raise ImageError(f"the trial takes one 2D image (YX) of at least 32 × 32, got {a.shape}")
    axes = predictor.input_axes
    if "z" in axes or (axes.count("c") and _channels(predictor) != 1):
        raise ImageError(
            f"the trial runs models of one single-channel 2D image; this one takes {axes!r} "
            f"with {_channels(predictor)} channel(s)"
        )
    return a.astype(np.float64)


def _channels(predictor: Predictor) -> int:
    for axis in predictor.package.descr.inputs[0].axes:
        if str(axis.id) == "channel":
            return len(axis.channel_names)
    return 1


def noise_level(y: np.ndarray) -> tuple[float, float]:
    """(slope, offset) of the image's noise-level function (:mod:`zoo.fingerprint`)."""
    from zoo.fingerprint import image_statistics

    stats = image_statistics(y)
    return stats["poisson_slope"].value, stats["poisson_offset"].value


def _windows(
    shape: tuple[int, ...], tile: int, tiles: int
) -> list[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """Up to ``tiles`` windows (inner, with margin) on an even grid over the image."""
    per_axis = max(1, int(np.sqrt(tiles)))
    out = []
    for cy in _centres(shape[0], tile, per_axis):
        for cx in _centres(shape[1], tile, per_axis):
            inner = []
            outer = []
            for c, n in ((cy, shape[0]), (cx, shape[1])):
                side = min(tile, n)
                lo = min(max(0, c - side // 2), n - side)
                inner.append(slice(lo, lo + side))
                outer.append(slice(max(0, lo - MARGIN), min(n, lo + side + MARGIN)))
            out.append((tuple(inner), tuple(outer)))
    return out[:tiles]


def _centres(n: int, tile: int, count: int) -> list[int]:
    """Centres of ``count`` windows along an axis of ``n``, evenly spread (fewer when the
    axis is too short for them not to overlap)."""
    count = max(1, min(count, n // tile))
    return [round((k + 0.5) * n / count) for k in range(count)]


def _model(predictor: Predictor, whole: np.ndarray, outer: tuple[slice, slice]) -> Any:
    """The model as ``zoo run`` runs it on a region of ``whole`` (statistics from the whole)."""
    from zoo.tiling import auto_tiling, predict_tiled

    stats = whole[np.newaxis].astype(np.float32)
    size = (outer[0].stop - outer[0].start) * (outer[1].stop - outer[1].start)
    tiling = auto_tiling(predictor, size * 4)

    def f(region: np.ndarray) -> np.ndarray:
        x = region.astype(np.float32)[np.newaxis]
        return predict_tiled(predictor, x, tiling=tiling, stats_from=stats)[0].astype(np.float64)

    return f
