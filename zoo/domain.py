"""The domain check: does this image match the data the model was trained on? With numbers.

Three kinds of check, each reported as ok / warn / fail with the measured value, the
expected range and a sentence a biologist understands:

1. hard compatibility (dimensionality, channels, minimum size) → fail;
2. metadata (modality, pixel size, data type) → warn;
3. statistics of the image against the training fingerprint (noise level and correlation,
   structure scale, SNR, intensity scale, saturation) → warn / fail by thresholds.

The verdict is ``mismatch`` when any check fails, ``caution`` when any warns, else ``match``.
The score is the root-sum-square of every check's distance (0 inside the expected range,
1 at its warn threshold, 2 at its fail threshold): 0 means typical of the training data.
A package without a fingerprint is compared against a fingerprint of its own test input.

Thresholds depend on the model. For the models ``scripts/bench_domain.py`` could calibrate
on real images of their own domain (``zoo/calibration.json``: the models, thresholds, the
benchmark's version and date and its numbers on the held-out split; see
docs/domain-benchmark.md) the calibrated thresholds apply; every other model (and every
package without a card) keeps the first-principles ``DEFAULT_THRESHOLDS``: a threshold is
only changed where there is evidence for the change. (The benchmark has no evidence for
the zoo's other CARE models: calibrated together with theirs, on the GigaDB actin and
mitochondria fields, thresholds left 14 % false warnings; docs/domain-benchmark.md.)
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.imageio import Image
from zoo.package import Package
from zoo.spec import Fingerprint, Stat

__all__ = [
    "CALIBRATION",
    "DEFAULT_THRESHOLDS",
    "RATIO_KINDS",
    "THRESHOLDS",
    "Check",
    "DomainReport",
    "check_image",
    "format_expected",
    "format_value",
    "model_fingerprint",
    "plane_statistics",
    "summarise",
    "thresholds_for",
]

Status = Literal["ok", "warn", "fail", "skip"]
Verdict = Literal["match", "caution", "mismatch"]

Thresholds = Mapping[str, tuple[str, float, float]]

DEFAULT_THRESHOLDS: dict[str, tuple[str, float, float]] = {
    # statistic: (kind, warn, fail)
    # "ratio": measured / typical outside [1/warn, warn] warns, outside [1/fail, fail] fails,
    #          beyond the range seen in training (low..high)
    # "ratio_below", "ratio_above": the same on one side only (measured below the training
    #          low, or above the training high, by the factor); for models whose outcome
    #          degrades in one direction only (a CARE model trained on very noisy frames
    #          over-smooths less noisy images and copes with noisier ones)
    # "above": measured above the training high by more than warn / fail (absolute)
    # "below": measured below the training low by more than warn / fail (absolute)
    # "outside": measured outside [low, high] by more than warn / fail (absolute)
    # "below_typical": measured below the training value by more than warn / fail (absolute);
    #          for statistics whose tile-to-tile range mixes background and foreground
    "structure_scale": ("ratio", 1.5, 2.5),
    "noise_corr_x": ("above", 0.1, 0.25),
    "noise_corr_y": ("above", 0.1, 0.25),
    "noise_sigma": ("ratio", 1.5, 2.5),
    "snr_db": ("below_typical", 6.0, 12.0),
    "shot_noise_fraction": ("outside", 0.25, 0.5),
    "intensity_median": ("ratio", 2.0, 5.0),
    "intensity_iqr": ("ratio", 2.0, 5.0),
    "saturated_fraction": ("above", 0.01, 0.05),
}
"""First-principles thresholds of the statistical checks, before calibration."""

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


def _load_calibration() -> dict[str, Any]:
    if not CALIBRATION_FILE.is_file():
        return {}
    data: dict[str, Any] = json.loads(CALIBRATION_FILE.read_text())
    return data


CALIBRATION: dict[str, Any] = _load_calibration()
"""What ``scripts/bench_domain.py`` calibrated: ``thresholds`` and their provenance
(``benchmark``, ``date``, ``heldout`` numbers); empty when the file is absent."""

THRESHOLDS: dict[str, tuple[str, float, float]] = {
    name: (kind, float(warn), float(fail))
    for name, (kind, warn, fail) in CALIBRATION.get("thresholds", DEFAULT_THRESHOLDS).items()
}
"""The calibrated thresholds (the defaults when ``zoo/calibration.json`` is absent), in force
for the models (package names) of ``CALIBRATION["models"]``."""


def thresholds_for(package: Package) -> dict[str, tuple[str, float, float]]:
    """The thresholds for ``package``: calibrated ones for a calibrated model with a card,
    else the first-principles defaults."""
    calibrated = package.card is not None and package.name in CALIBRATION.get("models", ())
    return THRESHOLDS if calibrated else DEFAULT_THRESHOLDS


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

RATIO_KINDS = ("ratio", "ratio_below", "ratio_above")
"""Threshold kinds on the factor between measured and training values (both sides, or one)."""

PER_SAMPLE_OPS = {"scale_range", "zero_mean_unit_variance", "scale_mean_variance"}
INTENSITY_STATS = {"intensity_median", "intensity_iqr", "noise_sigma"}


@dataclass(frozen=True)
class Check:
    """One check: what was measured, what was expected, and what it means."""

    name: str
    kind: Literal["compatibility", "metadata", "statistics"]
    status: Status
    measured: Any
    expected: Any
    message: str
    distance: float = 0.0
    """0 inside the expected range, 1 at the warn threshold, 2 at the fail threshold."""


@dataclass(frozen=True)
class DomainReport:
    """The verdict on one image for one model."""

    verdict: Verdict
    score: float
    checks: list[Check]
    reference: str
    """What the statistics were compared with: the card's fingerprint or the test input."""
    notes: list[str] = field(default_factory=list)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "reference": self.reference,
            "notes": self.notes,
            "checks": [asdict(c) for c in self.checks],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _model_spatial(package: Package) -> tuple[str, int, int]:
    """(spatial axes, channels, minimum size) of the model's input."""
    axes = package.descr.inputs[0].axes
    space = "".join(str(a.id) for a in axes if a.type == "space")
    channel = [a for a in axes if a.type == "channel"]
    channels = len(channel[0].channel_names) if channel else 1
    sizes = [int(getattr(a.size, "min", 0) or 0) for a in axes if a.type == "space"]
    return space, channels, max(sizes, default=0)


def _compatibility(package: Package, image: Image) -> list[Check]:
    space, channels, min_size = _model_spatial(package)
    img_space = "".join(a for a in image.axes if a in "zyx")
    checks = []
    if len(img_space) < len(space):
        status: Status = "fail"
        msg = f"The model needs {len(space)}D data ({space}); this image is {len(img_space)}D."
    else:
        status = "ok"
        msg = "Dimensionality fits" + (
            " (the 2D model runs plane by plane)." if len(img_space) > len(space) else "."
        )
    checks.append(Check("dimensionality", "compatibility", status, img_space, space, msg))
    n_channels = image.data.shape[image.axes.index("c")] if "c" in image.axes else 1
    ok = n_channels == channels
    checks.append(
        Check(
            "channels",
            "compatibility",
            "ok" if ok else "fail",
            n_channels,
            channels,
            "Channel count fits."
            if ok
            else f"The model takes {channels} channel(s); the image has {n_channels}.",
        )
    )
    sizes = {a: s for a, s in zip(image.axes, image.data.shape, strict=True) if a in space}
    small = {a: s for a, s in sizes.items() if s < min_size}
    checks.append(
        Check(
            "minimum_size",
            "compatibility",
            "fail" if small else "ok",
            sizes,
            f">= {min_size} px" if min_size else "any size",
            f"The image is too small along {', '.join(small)} for this model."
            if small
            else "Image size is enough.",
        )
    )
    return checks


def _metadata(package: Package, image: Image, modality: str | None) -> list[Check]:
    card = package.card
    if card is None:
        return [
            Check(
                "card",
                "metadata",
                "skip",
                None,
                "a zoo card",
                "The package has no zoo card: modality, pixel size and data type cannot be "
                "compared.",
            )
        ]
    domain = card.domain
    checks = []
    if modality:
        same = modality.lower() == domain.modality.value.lower()
        checks.append(
            Check(
                "modality",
                "metadata",
                "ok" if same else "warn",
                modality,
                domain.modality.value,
                "Same modality."
                if same
                else f"The model was trained on {domain.modality.value} images, not {modality}.",
                0.0 if same else 1.0,
            )
        )
    if domain.pixel_size and "x" in image.pixel_size:
        expected = domain.pixel_size.in_um()[0]
        ratio = image.pixel_size["x"] / expected
        dist = _ratio_distance(ratio, 1.0, 1.5, 2.5)
        checks.append(
            Check(
                "pixel_size",
                "metadata",
                "warn" if dist >= 1 else "ok",
                round(image.pixel_size["x"], 6),
                expected,
                f"Pixels are {ratio:.2g}× the training pixel size; structures will look "
                f"{'smaller' if ratio > 1 else 'larger'} to the model."
                if dist >= 1
                else "Pixel size is close to the training pixel size.",
                min(dist, 1.0),
            )
        )
    elif domain.pixel_size:
        checks.append(
            Check(
                "pixel_size",
                "metadata",
                "skip",
                None,
                domain.pixel_size.in_um()[0],
                "The image has no pixel size; pass --pixel-size to compare it.",
            )
        )
    checks += _microscope(domain, image)
    dtype = str(image.data.dtype)
    same_dtype = dtype == domain.dtype
    checks.append(
        Check(
            "dtype",
            "metadata",
            "ok" if same_dtype else "warn",
            dtype,
            domain.dtype,
            "Same data type."
            if same_dtype
            else f"The image is {dtype}, the training data was {domain.dtype}: another camera, "
            "bit depth or a converted image.",
            0.0 if same_dtype else 1.0,
        )
    )
    return checks


def _microscope(domain: Any, image: Image) -> list[Check]:
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
    return [
        Check(
            "microscope",
            "metadata",
            "ok" if same else "warn",
            image.microscope,
            trained,
            "Same microscope."
            if same
            else f"The model was trained on images from a {trained}, not a {image.microscope}: "
            "optics, detector and noise may differ.",
            0.0 if same else 1.0,
        )
    ]


def _ratio_distance(measured: float, typical: float, warn: float, fail: float) -> float:
    """Distance of a positive quantity from ``typical``: 1 at ``warn``×, 2 at ``fail``×."""
    if measured <= 0 or typical <= 0:
        return 0.0
    r = abs(math.log(measured / typical))
    w, f = math.log(warn), math.log(fail)
    return r / w if r <= w else 1.0 + (r - w) / (f - w)


def _stat_distance(name: str, measured: float, ref: Stat, thresholds: Thresholds) -> float:
    kind, warn, fail = thresholds[name]
    if kind in RATIO_KINDS:
        below, above = measured < ref.low, measured > ref.high
        if not ((below and kind != "ratio_above") or (above and kind != "ratio_below")):
            return 0.0  # inside the training range, or outside on the side not checked
        edge = ref.high if measured > ref.high else ref.low
        if edge <= 0 or measured <= 0:
            return 2.0 if measured != edge else 0.0
        return _ratio_distance(measured, edge, warn, fail)
    if kind == "outside":
        excess = max(measured - ref.high, ref.low - measured)
    elif kind == "below_typical":
        excess = ref.value - measured
    else:
        excess = measured - ref.high if kind == "above" else ref.low - measured
    if excess <= 0:
        return 0.0
    return excess / warn if excess <= warn else 1.0 + (excess - warn) / (fail - warn)


def _ok_range(name: str, ref: Stat, thresholds: Thresholds) -> list[float | None]:
    """The range of values that passes (``None``: unbounded), as reported to the user."""
    kind, warn, _fail = thresholds[name]
    low, high = round(ref.low, 6), round(ref.high, 6)
    if kind == "above":
        return [None, round(ref.high + warn, 6)]
    if kind == "below_typical":
        return [round(ref.value - warn, 6), None]
    if kind == "outside":
        return [round(ref.low - warn, 6), round(ref.high + warn, 6)]
    if low > 0:
        low, high = round(ref.low / warn, 6), round(ref.high * warn, 6)
    return [None if kind == "ratio_above" else low, None if kind == "ratio_below" else high]


CHECK_TILES = 128
"""Tiles (64² each) the check's statistics are estimated from, at most: half what a training
fingerprint takes (256). The check compares the image's whole-image estimates alone, mostly
medians over tiles, so 128 of them (0.5 MPix) are exact enough: on real 768² to 2048² images
every checked estimate moved by less than 8 % of its distance to the warn threshold from its
256-tile value (tests/test_domain.py pins 10 %), and the check takes 0.076 s instead of
0.12 s at 2048² (scripts/bench_inference.py reports its share of inference)."""


def plane_statistics(image: Image) -> dict[str, Stat]:
    """The statistics the check compares: those of the image's representative plane, from
    at most :data:`CHECK_TILES` tiles."""
    from zoo.fingerprint import image_statistics

    return image_statistics(_plane(image), max_tiles=CHECK_TILES)


def _statistics(
    package: Package,
    image: Image,
    reference: Fingerprint,
    thresholds: Thresholds,
    measured: Mapping[str, Stat] | None,
) -> list[Check]:
    from zoo.errors import ImageError

    try:
        measured = plane_statistics(image) if measured is None else measured
    except ImageError as exc:
        return [
            Check(
                "statistics",
                "statistics",
                "skip",
                None,
                "an image the statistics can be computed for",
                f"The image's statistics cannot be compared: {exc}",
            )
        ]
    per_sample = any(step.id in PER_SAMPLE_OPS for step in package.descr.inputs[0].preprocessing)
    checks = []
    for name in thresholds:
        ref = reference.stats.get(name)
        if ref is None or name not in measured:
            continue
        if per_sample and name in INTENSITY_STATS:
            continue  # the model rescales each image itself: absolute intensity is irrelevant
        value = measured[name].value
        dist = _stat_distance(name, value, ref, thresholds)
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
        checks.append(
            Check(
                name,
                "statistics",
                status,
                round(value, 6),
                _ok_range(name, ref, thresholds),
                message,
                round(dist, 4),
            )
        )
    return checks


def _plane(image: Image) -> np.ndarray:
    """A representative 2D plane: first channel, middle z / t."""
    data, axes = image.data, image.axes
    for ax in "tzc":
        if ax in axes:
            i = axes.index(ax)
            index = data.shape[i] // 2 if ax != "c" else 0
            data = np.take(data, index, axis=i)
            axes = axes.replace(ax, "")
    return data.transpose([axes.index("y"), axes.index("x")])


def model_fingerprint(package: Package) -> tuple[Fingerprint, str]:
    """The package's fingerprint, or one computed from its test input, and which it is."""
    from zoo.fingerprint import fingerprint

    if package.card is not None and package.card.fingerprint is not None:
        return package.card.fingerprint, "card fingerprint (training data)"
    raw = package.descr.inputs[0].test_tensor.get_reader().read()
    x = np.load(io.BytesIO(raw), allow_pickle=False)
    from zoo.inference import tensor_axes

    plane = _plane(Image(x, tensor_axes(package.descr.inputs[0]).replace("b", "t")))
    return fingerprint([plane]), "package test input (the card has no fingerprint)"


def check_image(
    package: Package,
    image: Image,
    *,
    modality: str | None = None,
    thresholds: Thresholds | None = None,
    statistics: Mapping[str, Stat] | None = None,
) -> DomainReport:
    """Check ``image`` against ``package``'s domain, before any inference.

    ``thresholds`` replaces :func:`thresholds_for` the package (statistics missing from it
    are not checked); ``statistics`` are the image's :func:`plane_statistics` when already known
    (the domain benchmark checks one image against many models).
    """
    thresholds = thresholds_for(package) if thresholds is None else thresholds
    checks = _compatibility(package, image)
    notes = []
    if any(c.status == "fail" for c in checks):
        reference = "not compared (incompatible image)"
    else:
        checks += _metadata(package, image, modality or getattr(image, "modality", None))
        fp, reference = model_fingerprint(package)
        checks += _statistics(package, image, fp, thresholds, statistics)
        if package.card is None:
            notes.append(
                "The package has no zoo card (a plain bioimage.io package): modality, pixel "
                "size and data type were not compared; `zoo card init` writes one to fill in."
            )
        if package.card is None or package.card.fingerprint is None:
            notes.append(
                "No training fingerprint in the card: statistics are compared with the "
                "package's test input, a weaker reference."
            )
    verdict, score = summarise(checks)
    return DomainReport(verdict, score, checks, reference, notes)


def summarise(checks: list[Check]) -> tuple[Verdict, float]:
    """The verdict and score of a list of checks: ``mismatch`` when any fails, ``caution``
    when any warns, else ``match``; the score is the root-sum-square of their distances
    (at least 10 when the image is incompatible)."""
    verdict: Verdict = (
        "mismatch"
        if any(c.status == "fail" for c in checks)
        else "caution"
        if any(c.status == "warn" for c in checks)
        else "match"
    )
    score = math.sqrt(sum(c.distance**2 for c in checks))
    if any(c.status == "fail" and c.kind == "compatibility" for c in checks):
        score = max(score, 10.0)
    return verdict, score


def format_value(value: Any) -> str:
    """A measured value for people: 3 significant digits, sizes as "h × w"."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return " × ".join(format_value(v) for v in value.values())
    return "–" if value is None else str(value)


def format_expected(value: Any) -> str:
    """A range [low, high] as "low – high", "≤ high" or "≥ low"; anything else as is."""
    if isinstance(value, list) and len(value) == 2:
        low, high = value
        if low is None:
            return f"≤ {format_value(high)}"
        if high is None:
            return f"≥ {format_value(low)}"
        return f"{format_value(low)} – {format_value(high)}"
    return format_value(value)
