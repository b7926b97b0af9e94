"""Modality families: light (fluorescence) microscopy, electron microscopy, transmitted light.

A model of one family never fits an image of another: when the image's modality is known
(its metadata or ``--modality``) a different family is a ``mismatch``. When it is not, the
image's *contrast polarity* still tells fluorescence (bright structures on a dark
background: emitted light) from electron micrographs and transmitted light (dark structures
on a bright background: absorbed or scattered electrons and light): the skewness of a
band-pass copy of the image (difference of Gaussians, sigma 2 and 8 pixels), which additive
noise leaves near its sign. Its values on the real images of ../shared/data, and where the
rule fails (frames filled edge to edge with fluorescent structure), are in
docs/domain-check.md.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from zoo.errors import ImageError

__all__ = [
    "BRIGHT_ON_DARK",
    "DARK_ON_BRIGHT",
    "FAMILY_NAMES",
    "Family",
    "Polarity",
    "family_of",
    "polarity",
    "polarity_family",
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


class Polarity(NamedTuple):
    """An image's contrast polarity, and whether its plane is small (under
    :data:`zoo.checks.POLARITY_MIN` a side), where only a bright-on-dark reading is trusted."""

    value: float
    small: bool = False


def polarity_family(value: float, *, small: bool = False) -> tuple[Family, ...]:
    """The families an image of this polarity can come from: light microscopy when bright
    on dark, electron or transmitted light when dark on bright, any in between. On a
    ``small`` plane a dark-on-bright reading says nothing (dense fluorescence fields read dark
    on bright there: docs/domain-check.md); bright on dark holds."""
    if value > BRIGHT_ON_DARK:
        return ("light",)
    if value < DARK_ON_BRIGHT and not small:
        return ("electron", "transmitted")
    return ("light", "electron", "transmitted")
