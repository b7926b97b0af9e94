"""The domain check's individual checks: compatibility, metadata and statistics.

Each check compares one property of the image with what the model was made for and returns
:class:`Check` records; :func:`zoo.domain.check_image` runs them and gives the verdict. What
each statistic means and how its thresholds were chosen: docs/domain-check.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from zoo.families import (
    BRIGHT_ON_DARK,
    CLIPPED,
    DARK_ON_BRIGHT,
    FAMILY_NAMES,
    READING,
    Family,
    Polarity,
    dark_probability,
    family_of,
    fits_family,
    polarity,
    polarity_family,
    reading_features,
)
from zoo.imageio import Image
from zoo.package import Package, declared_halo
from zoo.spec import Fingerprint, ImagingDomain, Stat
from zoo.thresholds import Thresholds, ok_range, ratio_distance, stat_distance

__all__ = [
    "CHECK_TILES",
    "Check",
    "check_compatibility",
    "check_metadata",
    "check_polarity",
    "check_statistics",
    "image_polarity",
    "model_families",
    "model_modalities",
    "plane_statistics",
    "representative_plane",
]

Status = Literal["ok", "warn", "fail", "skip"]
Kind = Literal["compatibility", "metadata", "statistics", "trial"]

SENTENCES = {
    "structure_scale": "Structures are {rel} than in the training images (different pixel size "
    "or magnification?); the model may blur or invent detail.",
    "noise_corr_x": "The noise is correlated along x (scan lines, camera pattern); N2V assumes "
    "pixel-independent noise and will keep or sharpen such patterns.",
    "noise_corr_y": "The noise is correlated along y; N2V assumes pixel-independent noise.",
    "noise_sigma": "The noise is {rel} than in the training data (in grey values): the model "
    "learnt to remove another noise level.",
    "snr_db": "The image is much noisier than the training data; expect residual noise or "
    "invented structure.",
    "shot_noise_fraction": "The noise is {shot} than in the training data: the noise model "
    "the denoiser learnt does not describe this image's noise.",
    "intensity_median": "Intensities are on another scale than the training data (other "
    "exposure, gain or bit depth); the model's normalisation will be off.",
    "intensity_iqr": "The spread of grey values is {rel} than in the training data (other "
    "contrast, exposure or noise level).",
    "saturated_fraction": "Many pixels are saturated; clipped regions cannot be denoised.",
}
"""What a statistic's warning means, for the user."""

PER_SAMPLE_OPS = {"scale_range", "zero_mean_unit_variance", "scale_mean_variance"}
INTENSITY_STATS = {"intensity_median", "intensity_iqr", "noise_sigma"}

CHECK_TILES = 128
"""Tiles (64² each) the check's statistics are estimated from, at most: half what a training
fingerprint takes (docs/domain-check.md says why that is exact enough)."""


class Check(BaseModel):
    """One check: what was measured, what was expected, and what it means."""

    model_config = ConfigDict(frozen=True)

    name: str
    """What was checked, e.g. ``channels`` or ``noise_sigma``."""
    kind: Kind
    """Which kind of check."""
    status: Status
    """``ok``, ``warn``, ``fail``, or ``skip`` when it could not be compared."""
    measured: Any
    """The image's value (a number, a string, sizes per axis, or ``None``)."""
    expected: Any
    """The model's value, or the range ``[low, high]`` that passes (``None``: unbounded)."""
    message: str
    """What the outcome means, in a sentence."""
    distance: float = 0.0
    """0 inside the expected range, 1 at the warn threshold, 2 at the fail threshold."""

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data, keys in field order."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "measured": _plain(self.measured),
            "expected": _plain(self.expected),
            "message": self.message,
            "distance": self.distance,
        }


def _plain(value: Any) -> Any:
    """A copy of ``value`` with its dicts and lists copied (as ``dataclasses.asdict`` does)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


def _model_spatial(package: Package) -> tuple[str, int, int]:
    """(spatial axes, channels, minimum size) of the model's input. The minimum is the
    declared one less twice the output's halo: a package that declares a halo asks blocks
    that large of a tool that tiles, while zoo tiles with its own halo and pads."""
    axes = package.descr.inputs[0].axes
    space = "".join(str(a.id) for a in axes if a.type == "space")
    channel = [a for a in axes if a.type == "channel"]
    channels = len(channel[0].channel_names) if channel else 1
    sizes = [int(getattr(a.size, "min", 0) or 0) for a in axes if a.type == "space"]
    return space, channels, max(max(sizes, default=0) - 2 * declared_halo(package), 0)


def _compat(name: str, ok: bool, measured: Any, expected: Any, message: str) -> Check:
    status: Status = "ok" if ok else "fail"
    return Check(
        name=name,
        kind="compatibility",
        status=status,
        measured=measured,
        expected=expected,
        message=message,
    )


def check_compatibility(package: Package, image: Image) -> list[Check]:
    """Can the model take the image at all: dimensionality, channels, minimum size."""
    space, channels, min_size = _model_spatial(package)
    img_space = "".join(a for a in image.axes if a in "zyx")
    if len(img_space) < len(space):
        msg = (
            f"The model needs {len(space)}D data ({space}); this image is {len(img_space)}D "
            f"({image.axes}): if its axes were misread, give them with --axes."
        )
    else:
        msg = "Dimensionality fits" + (
            " (the 2D model runs plane by plane)." if len(img_space) > len(space) else "."
        )
    checks = [_compat("dimensionality", len(img_space) >= len(space), img_space, space, msg)]
    n_channels = image.data.shape[image.axes.index("c")] if "c" in image.axes else 1
    ok = n_channels == channels
    msg = "Channel count fits." if ok else _channel_hint(channels, n_channels)
    checks.append(_compat("channels", ok, n_channels, channels, msg))
    sizes = {a: s for a, s in zip(image.axes, image.data.shape, strict=True) if a in space}
    small = {a: s for a, s in sizes.items() if s < min_size}
    msg = (
        f"The image is too small along {', '.join(small)} for this model."
        if small
        else "Image size is enough."
    )
    expected = f">= {min_size} px" if min_size else "any size"
    checks.append(_compat("minimum_size", not small, sizes, expected, msg))
    return checks


def _channel_hint(channels: int, n_channels: int) -> str:
    """Why the channel count does not fit, and how to make it fit."""
    msg = f"The model takes {channels} channel(s); the image has {n_channels}"
    if channels == 1:
        return f"{msg}: pick one with --channel N (N from 0 to {n_channels - 1})."
    return f"{msg}: give it an image with {channels} channels."


def _meta(
    name: str, same: bool, measured: Any, expected: Any, message: str, distance: float | None = None
) -> Check:
    """A metadata check that warns when the image differs (distance 1 unless given)."""
    return Check(
        name=name,
        kind="metadata",
        status="ok" if same else "warn",
        measured=measured,
        expected=expected,
        message=message,
        distance=(0.0 if same else 1.0) if distance is None else distance,
    )


def _skip(name: str, kind: Kind, expected: Any, message: str) -> Check:
    return Check(
        name=name, kind=kind, status="skip", measured=None, expected=expected, message=message
    )


def check_metadata(package: Package, image: Image, modality: str | None) -> list[Check]:
    """Does the file's metadata match the card: modality, pixel size, microscope, dtype."""
    card = package.card
    if card is None:
        return [
            _skip(
                "card",
                "metadata",
                "a zoo card",
                "The package has no zoo card: modality, pixel size and data type cannot be "
                "compared.",
            )
        ]
    domain = card.domain
    checks = []
    if modality:
        checks.append(_modality(package, modality))
    checks += _pixel_size(domain, image)
    checks += _microscope(domain, image)
    dtype = str(image.data.dtype)
    same_dtype = dtype == domain.dtype
    msg = (
        "Same data type."
        if same_dtype
        else f"The image is {dtype}, the training data was {domain.dtype}: another camera, "
        "bit depth or a converted image."
    )
    if not same_dtype and _per_sample(package):
        same_dtype = True
        msg += " The model normalises each image by its own statistics: the bit depth is moot."
    checks.append(_meta("dtype", same_dtype, dtype, domain.dtype, msg))
    return checks


def model_modalities(package: Package) -> list[str]:
    """The modalities of the card's training data (its domain's and every source's)."""
    card = package.card
    if card is None:
        return []
    known = [card.domain.modality.value]
    return known + [s.modality.value for s in card.sources or [] if s.modality.value not in known]


def model_families(package: Package) -> set[Family]:
    """The modality families of the card's training data (none for synthetic or other)."""
    return {f for f in map(family_of, model_modalities(package)) if f is not None}


def _modality(package: Package, modality: str) -> Check:
    """Same modality: ok; another of the same family: warn; another family: fail."""
    known = model_modalities(package)
    trained = " or ".join(known)
    if modality.lower() in {k.lower() for k in known}:
        return _meta("modality", True, modality, trained, "Same modality.")
    mine, theirs = family_of(modality), model_families(package)
    if mine is not None and theirs and mine not in theirs:
        names = " or ".join(FAMILY_NAMES[f] for f in sorted(theirs))
        return Check(
            name="modality", kind="metadata", status="fail", measured=modality,
            expected=trained, distance=2.0,
            message=f"The image is {FAMILY_NAMES[mine]} ({modality}); the model was trained "
            f"on {names} ({trained}): another kind of image altogether.",
        )  # fmt: skip
    return _meta("modality", False, modality, trained,
                 f"The model was trained on {trained} images, not {modality}.")  # fmt: skip


def check_polarity(package: Package, measured: Polarity | None) -> list[Check]:
    """The image's contrast (:mod:`zoo.families`: the family reading, or the polarity alone
    without a fitted one) against the family of the model's training data, for an image
    whose modality is unknown: warns when it reads as another family (bright on dark for an
    electron-microscopy model, dark on bright for a fluorescence one; on a small plane only
    the first), and for an electron or transmitted-light model where it does not read as
    dark on bright (:func:`~zoo.families.fits_family`)."""
    theirs = model_families(package)
    if measured is None or not theirs:
        return []
    fits = fits_family(theirs, measured.value, small=measured.small, dark=measured.dark,
                       clipped=measured.clipped)  # fmt: skip
    dark = theirs.isdisjoint({"light"})
    if measured.dark is not None and READING:
        value: float = measured.dark
        expected = [READING["dark_above"], None] if dark else [None, READING["dark_above"]]
        said = f" (probability {value:.2f} of a dark-on-bright image from its contrast)"
    else:
        value, said = measured.value, f" (contrast polarity {measured.value:.2f})"
        expected = [None, BRIGHT_ON_DARK] if dark else [DARK_ON_BRIGHT, None]
    can = polarity_family(measured.value, small=measured.small, dark=measured.dark,
                          clipped=measured.clipped)  # fmt: skip
    if fits:
        msg = "Contrast as in the training data's kind of image."
    elif dark and "electron" in can and measured.clipped >= CLIPPED:
        msg = (f"{measured.clipped:.0%} of the image's pixels are at its maximum (clipped): "
               "its bright structures are flat, so its contrast does not tell electron or "
               "transmitted light from saturated fluorescence; the model was trained on dark "
               "structures on a bright background. Give the modality (--modality) if you "
               "know it.")  # fmt: skip
    elif dark and "electron" in can:
        msg = (f"The contrast reads neither clearly as fluorescence nor as dark structures on "
               f"a bright background{said}; electron and transmitted-light images read dark "
               f"on bright (above {READING['dark_above']:.2f}), while dense, saturated or "
               "zoomed fluorescence reads in between. Give the modality (--modality) if you "
               "know it.")  # fmt: skip
    elif dark:
        msg = (f"Bright structures on a dark background, as in fluorescence{said}; the model "
               "was trained on dark structures on a bright background (electron or "
               "transmitted light). Give the modality (--modality) if you know it.")  # fmt: skip
    else:
        msg = (f"Dark structures on a bright background, as in electron or transmitted-light "
               f"micrographs{said}; the model was trained on fluorescence (bright on dark). "
               "Give the modality (--modality) if you know it.")  # fmt: skip
    return [Check(name="polarity", kind="statistics", status="ok" if fits else "warn",
                  measured=round(value, 4), expected=expected, message=msg,
                  distance=0.0 if fits else 1.0)]  # fmt: skip


def _per_sample(package: Package) -> bool:
    """Does the package normalise each image by its own statistics (any offset and gain)?"""
    return any(step.id in PER_SAMPLE_OPS for step in package.descr.inputs[0].preprocessing)


def _pixel_size(domain: ImagingDomain, image: Image) -> list[Check]:
    """Pixel size against the card's: warns beyond 1.5×; skipped when the image has none."""
    if not domain.pixel_size:
        return []
    expected = domain.pixel_size.in_um()[0]
    if "x" not in image.pixel_size:
        msg = "The image has no pixel size; pass --pixel-size to compare it."
        return [_skip("pixel_size", "metadata", expected, msg)]
    ratio = image.pixel_size["x"] / expected
    dist = ratio_distance(ratio, 1.0, 1.5, 2.5)
    msg = (
        f"Pixels are {ratio:.2g}× the training pixel size; structures will look "
        f"{'smaller' if ratio > 1 else 'larger'} to the model."
        if dist >= 1
        else "Pixel size is close to the training pixel size."
    )
    measured = round(image.pixel_size["x"], 6)
    return [_meta("pixel_size", dist < 1, measured, expected, msg, min(dist, 1.0))]


def _microscope(domain: ImagingDomain, image: Image) -> list[Check]:
    """Same microscope? Only compared when both the card and the file name one."""
    scope = domain.microscope
    trained = " ".join(w for w in (scope.manufacturer, scope.model) if w) if scope else ""
    if not trained or not image.microscope:
        return []
    words = set(trained.lower().split())
    same = (
        words <= set(image.microscope.lower().split())
        or set(image.microscope.lower().split()) <= words
    )
    msg = (
        "Same microscope."
        if same
        else f"The model was trained on images from a {trained}, not a {image.microscope}: "
        "optics, detector and noise may differ."
    )
    return [_meta("microscope", same, image.microscope, trained, msg)]


def representative_plane(image: Image) -> np.ndarray:
    """A representative 2D plane (YX): first channel, middle z / t."""
    data, axes = image.data, image.axes
    for ax in "tzc":
        if ax in axes:
            i = axes.index(ax)
            index = data.shape[i] // 2 if ax != "c" else 0
            data = np.take(data, index, axis=i)
            axes = axes.replace(ax, "")
    return data.transpose([axes.index("y"), axes.index("x")])


def plane_statistics(image: Image) -> dict[str, Stat]:
    """The statistics the check compares: those of the image's representative plane, from
    at most :data:`CHECK_TILES` tiles."""
    from zoo.fingerprint import image_statistics

    return image_statistics(representative_plane(image), max_tiles=CHECK_TILES)


POLARITY_MIN = 256
"""Smallest side on which a dark-on-bright reading warns a fluorescence model: on smaller
fields dense fluorescence can read dark on bright (docs/domain-check.md)."""
POLARITY_SMALL = 128
"""Smallest side the polarity is measured on at all: from here to :data:`POLARITY_MIN` a
dark-on-bright reading warns no fluorescence model, and an EM model still needs one."""


def image_polarity(image: Image) -> Polarity | None:
    """The contrast polarity of the image's representative plane (``small`` under
    :data:`POLARITY_MIN` a side) and, with a fitted family reading, its probability of a
    dark-on-bright image (not measured where the polarity alone reads light microscopy:
    :func:`~zoo.families.polarity_family`); None when it cannot be measured or the plane is
    smaller than :data:`POLARITY_SMALL` on a side."""
    from zoo.errors import ImageError

    try:
        plane = representative_plane(image)
        if plane.ndim != 2 or min(plane.shape) < POLARITY_SMALL:
            return None
        small, value = min(plane.shape) < POLARITY_MIN, polarity(plane)
        if not READING or value > BRIGHT_ON_DARK:
            return Polarity(value, small=small)  # clearly bright on dark: no reading needed
        features = reading_features(plane)
        top = np.max(plane)
        clipped = float(np.count_nonzero(plane == top)) / plane.size if top > 0 else 0.0
        return Polarity(value, small, dark_probability(features), tuple(map(float, features)),
                        clipped)  # fmt: skip
    except ImageError:
        return None


def check_statistics(
    package: Package,
    image: Image,
    reference: Fingerprint,
    thresholds: Thresholds,
    measured: Mapping[str, Stat] | None,
) -> list[Check]:
    """The image's statistics against ``reference``, one check per statistic thresholded."""
    from zoo.errors import ImageError

    try:
        measured = plane_statistics(image) if measured is None else measured
    except ImageError as exc:
        expected = "an image the statistics can be computed for"
        msg = f"The image's statistics cannot be compared: {exc}"
        return [_skip("statistics", "statistics", expected, msg)]
    per_sample = _per_sample(package)
    checks = []
    for name in thresholds:
        ref = reference.stats.get(name)
        if ref is None or name not in measured:
            continue
        if per_sample and name in INTENSITY_STATS:
            continue  # the model rescales each image itself: absolute intensity is irrelevant
        checks.append(_statistic(name, measured[name].value, ref, thresholds))
    return checks


def _statistic(name: str, value: float, ref: Stat, thresholds: Thresholds) -> Check:
    dist = stat_distance(name, value, ref, thresholds)
    status: Status = "fail" if dist >= 2 else "warn" if dist >= 1 else "ok"
    message = "Typical of the training data."
    if status != "ok":
        rel = "larger" if value > ref.value else "smaller"
        shot = (
            "more photon-like (shot noise)"
            if value > ref.value
            else "less photon-like (camera read noise or added Gaussian noise)"
        )
        message = SENTENCES[name].format(rel=rel, shot=shot)
    return Check(
        name=name,
        kind="statistics",
        status=status,
        measured=round(value, 6),
        expected=ok_range(name, ref, thresholds),
        message=message,
        distance=round(dist, 4),
    )
