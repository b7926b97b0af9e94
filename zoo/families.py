"""Modality families: light (fluorescence) microscopy, electron microscopy, transmitted light.

A model of one family never fits an image of another: when the image's modality is known
(its metadata or ``--modality``) a different family is a ``mismatch``. When it is not, the
image's contrast still tells fluorescence (bright structures on a dark background: emitted
light) from electron micrographs and transmitted light (dark structures on a bright
background: absorbed or scattered electrons and light). Its first statistic is the *contrast
polarity*, the skewness of a band-pass copy of the image (difference of Gaussians, sigma 2
and 8 pixels), which additive noise leaves near its sign. It fails on fluorescence fields
filled edge to edge with structure, saturated or strongly zoomed, so the *family reading*
weighs it with six more contrast statistics (:func:`reading_features`): a logistic
regression fitted on 256² windows of the training images of SPLITS.md with the domain
benchmark's variants (``scripts/bench_domain.py --reading`` writes zoo/families.json) gives
the probability that an image is a dark-on-bright one (electron or transmitted light). Its
values and where it fails: docs/domain-check.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from zoo.errors import ImageError
from zoo.thresholds import log_odds, read_fitted

__all__ = [
    "BRIGHT_ON_DARK",
    "CLIPPED",
    "DARK_ON_BRIGHT",
    "FAMILY_NAMES",
    "READING",
    "READING_FEATURES",
    "Family",
    "Polarity",
    "dark_probability",
    "family_of",
    "fits_family",
    "polarity",
    "polarity_family",
    "reading_features",
]

Family = Literal["light", "electron", "transmitted"]

FAMILY_NAMES: dict[Family, str] = {
    "light": "light (fluorescence) microscopy",
    "electron": "electron microscopy",
    "transmitted": "transmitted-light microscopy",
}

_MEMBERS: dict[Family, tuple[str, ...]] = {
    "light": ("widefield", "confocal", "spinning-disk", "light-sheet", "two-photon", "TIRF",
              "SIM", "STED", "SMLM"),
    "electron": ("SEM", "TEM", "FIB-SEM", "cryo-EM"),
    "transmitted": ("brightfield", "phase-contrast", "DIC"),
}  # fmt: skip

BRIGHT_ON_DARK = 0.3
"""Polarity above which an image is read as bright structures on a dark background."""
DARK_ON_BRIGHT = 0.0
"""Polarity below which an image is read as dark structures on a bright background."""
_SIGMAS = (2.0, 8.0)
_CROP = 1024
"""The polarity is measured on the central crop of at most this side (its cost is bounded)."""


def family_of(modality: str | None) -> Family | None:
    """The family of a modality (zoo's vocabulary, any case); None for synthetic, other or
    unknown ones."""
    if not modality:
        return None
    low = modality.lower()
    for family, members in _MEMBERS.items():
        if low in (m.lower() for m in members):
            return family
    return None


def polarity(plane: np.ndarray) -> float:
    """Skewness of the band-pass copy of the central crop (at most 1024²) of a 2D image:
    positive for bright structures on a dark background, negative for dark on bright. The
    band is the difference of Gaussians of sigma 2 and 8 pixels, taken on the 2 × 2 mean of
    the crop (sigma 1 and 4 there), so its cost is bounded whatever the image's size.
    Raises :class:`~zoo.errors.ImageError` for an image without structure."""
    from scipy import ndimage

    a = np.asarray(plane)
    h, w = a.shape
    y0, x0 = max(0, (h - _CROP) // 2), max(0, (w - _CROP) // 2)
    h2, w2 = (min(h, _CROP) // 2) * 2, (min(w, _CROP) // 2) * 2
    crop = a[y0 : y0 + h2, x0 : x0 + w2].astype(np.float32)
    pooled = (crop[0::2, 0::2] + crop[1::2, 0::2] + crop[0::2, 1::2] + crop[1::2, 1::2]) / 4
    small, large = (s / 2 for s in _SIGMAS)
    band = ndimage.gaussian_filter(pooled, small, truncate=3.0) - ndimage.gaussian_filter(
        pooled, large, truncate=3.0
    )
    d = band.ravel().astype(np.float64)
    d -= d.mean()
    square = d * d
    var = float(square.mean())
    if var <= 1e-12 * max(float(np.abs(pooled).max()) ** 2, 1e-30):
        raise ImageError("the image has no structure (it is constant): no contrast polarity")
    return float(np.dot(square, d) / d.size / var**1.5)


READING_FILE = Path(__file__).with_name("families.json")
READING: dict[str, Any] = read_fitted(READING_FILE)
"""The fitted family reading (``features``, ``mean``, ``scale``, ``coefficients``, the cuts
``light_below`` and ``dark_above`` and their provenance); empty when the file is absent, and
the polarity alone then reads the family (:data:`BRIGHT_ON_DARK`, :data:`DARK_ON_BRIGHT`)."""
READING_FEATURES = ("polarity", "skewness", "median", "dark_fraction", "kurtosis",
                    "gradient_evenness", "fine_power")  # fmt: skip
"""What :func:`reading_features` measures on each window, in its order."""
WINDOW = 256
"""Side of the windows the reading's statistics are measured on (its training windows')."""


def _moments(a: np.ndarray) -> tuple[float, float]:
    """(skewness, excess kurtosis) of ``a``'s values, biased estimates (as scipy.stats')."""
    d = a.ravel() - a.mean()
    square = d * d
    m2 = float(square.mean())
    return float(np.dot(square, d)) / d.size / m2**1.5, float(
        np.dot(square, square)
    ) / d.size / m2**2 - 3


def _window_features(window: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    p = window.astype(np.float64)
    lo, median, hi = np.percentile(p, [0.5, 50, 99.5])
    if hi <= lo:
        raise ImageError("the image has no structure (it is constant): no family reading")
    z = (p - lo) / (hi - lo)
    smooth = ndimage.gaussian_filter(z, 1.5)
    g2 = ndimage.gaussian_filter(z, 2.0)
    gradient = np.hypot(ndimage.sobel(g2, 0), ndimage.sobel(g2, 1))
    power = np.abs(np.fft.rfft2(z - z.mean())) ** 2
    k = np.hypot(np.fft.fftfreq(z.shape[0])[:, None], np.fft.rfftfreq(z.shape[1])[None])
    mid, fine = power[(k > 0.05) & (k < 0.15)].mean(), power[k > 0.3].mean()
    skewness, _ = _moments(z)
    _, kurtosis = _moments(smooth)
    return np.array([
        np.clip(polarity(p), -4, 4),  # contrast polarity
        np.clip(skewness, -4, 4),  # skewness of the intensities
        (median - lo) / (hi - lo),  # where the median sits between darkest and brightest
        (smooth < 0.3).mean(),  # the dark fraction: a background of emitted light
        np.sign(kurtosis) * np.log1p(abs(kurtosis)),  # heavy tails: sparse bright objects
        np.median(gradient) / max(gradient.mean(), 1e-12),  # edges everywhere or in places
        np.log(max(mid, 1e-30) / max(fine, 1e-30)),  # structure power against pixel noise
    ])  # fmt: skip


def reading_features(plane: np.ndarray) -> np.ndarray:
    """The family reading's statistics (:data:`READING_FEATURES`) of a 2D image: their mean
    over the central :data:`WINDOW`² windows (at most two side by side, so that its cost
    stays a small share of inference), or of the whole plane when it is smaller than a
    window; flat windows are left out. Intensities are taken between their 0.5th and 99.5th
    percentiles, so gain and offset change nothing. Raises :class:`~zoo.errors.ImageError`
    for an image without structure."""
    a = np.asarray(plane)
    h, w = a.shape
    cols = max(1, min(w // WINDOW, 2))
    sh, sw = min(h, WINDOW), min(w, WINDOW)
    y0, x0 = (h - sh) // 2, (w - cols * sw) // 2
    windows = [a[y0 : y0 + sh, x0 + j * sw : x0 + (j + 1) * sw] for j in range(cols)]
    found = []
    for win in windows:
        try:
            found.append(_window_features(win))
        except ImageError:
            continue  # a flat window (background, or clipped by saturation)
    if not found:
        raise ImageError("the image has no structure (it is constant): no family reading")
    return np.mean(found, axis=0)


def dark_probability(features: np.ndarray, fitted: dict[str, Any] | None = None) -> float:
    """The family reading's probability that an image of these :func:`reading_features` is a
    dark-on-bright one (electron or transmitted light), by ``fitted`` (the shipped
    :data:`READING` when None)."""
    t = float(log_odds(features, READING if fitted is None else fitted))
    return 1.0 / (1.0 + np.exp(-t)) if t > -700 else 0.0


class Polarity(NamedTuple):
    """An image's contrast polarity, whether its plane is small (under
    :data:`zoo.checks.POLARITY_MIN` a side: only a bright-on-dark reading is trusted there),
    the family reading's probability that it is dark on bright (None without a fitted
    reading) with the statistics it weighed, and the share of its pixels at the maximum
    (measured with the reading; :data:`CLIPPED`)."""

    value: float
    small: bool = False
    dark: float | None = None
    features: tuple[float, ...] = ()
    clipped: float = 0.0


CLIPPED = 0.1
"""Share of an image's pixels at its maximum from which its contrast is not read: where a
tenth of the image is clipped (saturated), bright structures have become flat plateaus and
neither the polarity nor the reading says which family it is (saturated fluorescence reads
anywhere from light to dark on bright: docs/domain-check.md)."""


def polarity_family(
    value: float, *, small: bool = False, dark: float | None = None,
    fitted: dict[str, Any] | None = None, clipped: float = 0.0,
) -> tuple[Family, ...]:  # fmt: skip
    """The families an image can come from: light microscopy when bright on dark, electron
    or transmitted light when dark on bright, any in between. Light when the polarity
    ``value`` is clearly bright on dark (above :data:`BRIGHT_ON_DARK`); otherwise, given the
    family reading's probability ``dark``, by the cuts of ``fitted`` (the shipped
    :data:`READING` when None), else by the polarity alone. On a ``small`` plane a dark-on-bright
    reading says nothing (dense fluorescence fields read dark on bright there:
    docs/domain-check.md); bright on dark holds. Where ``clipped`` (the share of pixels at
    the maximum) reaches :data:`CLIPPED`, only a clearly bright-on-dark polarity reads."""
    f = READING if fitted is None else fitted
    light, other = value > BRIGHT_ON_DARK, value < DARK_ON_BRIGHT
    if clipped >= CLIPPED:
        return ("light",) if light else ("light", "electron", "transmitted")
    if dark is not None and f:
        # a clearly bright-on-dark polarity stands; the reading reads the rest
        light = light or dark < f["light_below"]
        other = not light and dark > f["dark_above"]
    if light:
        return ("light",)
    if other and not small:
        return ("electron", "transmitted")
    return ("light", "electron", "transmitted")


def fits_family(
    theirs: set[Family], value: float, *, small: bool = False, dark: float | None = None,
    fitted: dict[str, Any] | None = None, clipped: float = 0.0,
) -> bool:  # fmt: skip
    """Does an image of this contrast fit a model trained on the families ``theirs``? It
    does when one of them is among the image's :func:`polarity_family`, with one exception:
    a model trained on dark-on-bright images only (electron or transmitted light) fits,
    where the family reading is available (a fitted reading, ``dark`` given; small planes
    included), only an image that reads dark on bright. Every electron micrograph of the
    training split reads so, while fluorescence fields that are dense, saturated or zoomed
    read in between (docs/domain-check.md): a reading in between is not enough to trust an
    EM model, where it is for a fluorescence one; nor is a clipped image (``clipped``:
    :data:`CLIPPED`). Arguments as :func:`polarity_family`'s."""
    can = polarity_family(value, small=small, dark=dark, fitted=fitted, clipped=clipped)
    if not theirs & set(can):
        return False
    if "light" in theirs or dark is None or not (READING if fitted is None else fitted):
        return True
    # on a small plane too: there dense fluorescence may read dark on bright (so a
    # fluorescence model is not warned by it), but electron micrographs still read so
    return "light" not in polarity_family(value, dark=dark, fitted=fitted, clipped=clipped)
