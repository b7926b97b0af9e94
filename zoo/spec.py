"""The denoiser card: typed metadata stored under ``config.zoo`` of a bioimage.io model.

A bioimage.io model description says how to run a model; the card says *what data it was
made for*, so that zoo can check an image against it before inference. The card is a
pydantic model (``extra="forbid"`` everywhere, so a typo is an error, not a silent no-op);
its JSON Schema is generated into ``schemas/card.schema.json`` by ``scripts/gen_schemas.py``.

Required vs optional (see docs/card.md): a field is required when the domain check cannot
work without it — modality, dimensionality, channels, dtype, structures, noise type, method,
training data description and licence, intended use. Everything that is often unknown for
an honest author (pixel size, microscope, noise parameters, the fingerprint) is optional,
and the check reports it as *missing* rather than guessing.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CARD_FORMAT_VERSION",
    "Adaptation",
    "AdaptedImage",
    "Detector",
    "Fingerprint",
    "ImagingDomain",
    "Lineage",
    "Method",
    "MethodName",
    "Metric",
    "Microscope",
    "Modality",
    "NoiseModel",
    "NoiseType",
    "Objective",
    "PixelSize",
    "Stat",
    "TrainingData",
    "TrainingSource",
    "Validation",
    "ZooCard",
]

CARD_FORMAT_VERSION = "0.1.0"
"""Version of the card format written by this zoo release."""


class _Node(BaseModel):
    """Base of every card node: unknown keys are errors, docstrings become descriptions."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class Modality(StrEnum):
    """Controlled vocabulary of imaging modalities."""

    widefield = "widefield"
    confocal = "confocal"
    spinning_disk = "spinning-disk"
    light_sheet = "light-sheet"
    two_photon = "two-photon"
    tirf = "TIRF"
    sim = "SIM"
    sted = "STED"
    smlm = "SMLM"
    brightfield = "brightfield"
    phase_contrast = "phase-contrast"
    dic = "DIC"
    sem = "SEM"
    tem = "TEM"
    fib_sem = "FIB-SEM"
    cryo_em = "cryo-EM"
    synthetic = "synthetic"
    other = "other"


class NoiseType(StrEnum):
    """The noise model the denoiser was trained for."""

    gaussian = "gaussian"
    poisson = "poisson"
    poisson_gaussian = "poisson-gaussian"
    structured = "structured"
    """Spatially correlated noise (e.g. sCMOS fixed pattern, scan lines); StructN2V territory."""
    unknown = "unknown"


class MethodName(StrEnum):
    """Denoising method (training scheme) of the model."""

    n2v = "n2v"
    n2v2 = "n2v2"
    structn2v = "structn2v"
    pn2v = "pn2v"
    care = "care"
    n2n = "n2n"
    n2s = "n2s"
    other = "other"


LengthUnit = Literal["nm", "um", "mm"]
DType = Literal["uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64"]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class PixelSize(_Node):
    """Physical size of one pixel (voxel) along each spatial axis."""

    x: PositiveFloat
    """Pixel size along x."""
    y: PositiveFloat
    """Pixel size along y."""
    z: PositiveFloat | None = None
    """Voxel depth along z (3D data only)."""
    unit: LengthUnit = "um"
    """Unit of x, y and z."""

    def in_um(self) -> tuple[float, float, float | None]:
        """(x, y, z) in micrometres."""
        f = {"nm": 1e-3, "um": 1.0, "mm": 1e3}[self.unit]
        return self.x * f, self.y * f, None if self.z is None else self.z * f


class Objective(_Node):
    """The objective lens."""

    magnification: PositiveFloat | None = None
    """Nominal magnification, e.g. 60."""
    numerical_aperture: Annotated[float, Field(gt=0, le=1.7)] | None = None
    """Numerical aperture, e.g. 1.4."""
    immersion: Literal["air", "water", "oil", "glycerol", "silicone"] | None = None
    """Immersion medium."""


class Detector(_Node):
    """The camera or point detector."""

    type: Literal["sCMOS", "CCD", "EMCCD", "PMT", "HyD", "APD", "SPAD", "electron", "other"]
    """Detector technology."""
    model: str | None = None
    """Make and model, e.g. "Hamamatsu ORCA-Flash4.0"."""


class Microscope(_Node):
    """The instrument the training data was acquired on."""

    manufacturer: str | None = None
    """e.g. "Nikon"."""
    model: str | None = None
    """e.g. "Ti2 with Yokogawa CSU-W1"."""
    objective: Objective | None = None
    """Objective lens."""
    detector: Detector | None = None
    """Camera or point detector."""


class ImagingDomain(_Node):
    """What the training images were: the domain the model is valid for."""

    modality: Modality
    """Imaging modality (controlled vocabulary)."""
    dimensionality: Literal[2, 3]
    """Spatial dimensionality the model works on (2 = YX planes, 3 = ZYX volumes)."""
    channels: Annotated[int, Field(ge=1)] = 1
    """Number of channels the model takes."""
    dtype: DType
    """Data type of the raw training images, e.g. "uint16"."""
    structures: Annotated[list[str], Field(min_length=1)]
    """What the images show, e.g. ["nuclei"] or ["microtubules", "actin"]."""
    bit_depth: Annotated[int, Field(ge=1, le=64)] | None = None
    """Effective bit depth of the detector when lower than the dtype (e.g. 12 in uint16)."""
    pixel_size: PixelSize | None = None
    """Physical pixel size of the training images; missing means the check cannot compare."""
    microscope: Microscope | None = None
    """Instrument of the training data."""
    sample: str | None = None
    """Organism, tissue or preparation, e.g. "fixed HeLa cells"."""

    @field_validator("structures")
    @classmethod
    def _structures_not_blank(cls, value: list[str]) -> list[str]:
        if any(not s.strip() for s in value):
            raise ValueError("structures must be non-empty names, e.g. ['nuclei']")
        return value

    @model_validator(mode="after")
    def _z_only_in_3d(self) -> ImagingDomain:
        if self.pixel_size and self.pixel_size.z is not None and self.dimensionality == 2:
            raise ValueError("pixel_size.z is given but dimensionality is 2: drop z or use 3")
        return self


class NoiseModel(_Node):
    """The noise in the training data."""

    type: NoiseType
    """Noise type the model was trained on."""
    gain: PositiveFloat | None = None
    """Detector gain in grey values per photon (Poisson part), if known."""
    read_noise_sigma: Annotated[float, Field(ge=0)] | None = None
    """Standard deviation of the Gaussian read noise in grey values, if known."""
    offset: float | None = None
    """Camera offset (dark level) in grey values, if known."""
    structn2v_mask: list[list[Literal[0, 1]]] | None = None
    """StructN2V blind-spot mask (rows of 0/1, odd sizes, centre 1), if one was used."""

    @field_validator("structn2v_mask")
    @classmethod
    def _mask_shape(cls, mask: list[list[int]] | None) -> list[list[int]] | None:
        if mask is None:
            return None
        rows, cols = len(mask), len(mask[0]) if mask else 0
        if rows == 0 or any(len(r) != cols for r in mask):
            raise ValueError("structn2v_mask must be a non-empty rectangle of 0/1 rows")
        if rows % 2 == 0 or cols % 2 == 0:
            raise ValueError(f"structn2v_mask sides must be odd, got {rows}x{cols}")
        if mask[rows // 2][cols // 2] != 1:
            raise ValueError("structn2v_mask must be 1 at its centre (the blind spot)")
        return mask


Scalar = str | int | float | bool


class Method(_Node):
    """How the model was trained."""

    name: MethodName
    """Training scheme."""
    framework: str
    """Software that trained it, e.g. "careamics 0.3.5", "n2v 0.3.3", "zoo 0.1.0"."""
    architecture: str = "UNet"
    """Network architecture."""
    hyperparameters: dict[str, Scalar | list[Scalar] | None] = Field(default_factory=dict)
    """Training hyper-parameters (epochs, patch size, masked fraction, learning rate, …)."""


class TrainingData(_Node):
    """The data the model was trained on."""

    description: Annotated[str, Field(min_length=1)]
    """What the images are, in a sentence or two."""
    license: Annotated[str, Field(min_length=1)]
    """Licence of the training data (SPDX id where one exists, e.g. "CC-BY-4.0")."""
    source: str | None = None
    """Where the data comes from: DOI, URL or citation."""
    n_images: Annotated[int, Field(ge=1)] | None = None
    """Number of training images."""
    image_shape: list[Annotated[int, Field(ge=1)]] | None = None
    """Typical image shape (spatial axes)."""
    acquisition: str | None = None
    """Acquisition settings: exposure, laser power, averaging, …"""


class Stat(_Node):
    """One statistic over the training data: typical value and the range it was seen in."""

    value: float
    """Typical (median) value over the training images / tiles."""
    low: float
    """Low end of the range seen in training (e.g. 5th percentile over tiles)."""
    high: float
    """High end of the range seen in training (e.g. 95th percentile over tiles)."""

    @model_validator(mode="after")
    def _ordered(self) -> Stat:
        if not self.low <= self.value <= self.high:
            raise ValueError(
                f"need low <= value <= high, got {self.low}, {self.value}, {self.high}"
            )
        return self


class Fingerprint(_Node):
    """Statistics of the training data computed by zoo (zoo/fingerprint.py).

    Every statistic is optional: the check compares only what is present and says what
    was missing. Intensity statistics are in raw grey values of the training images.
    """

    zoo_version: str
    """zoo version that computed the fingerprint (statistics may change between versions)."""
    n_images: Annotated[int, Field(ge=1)]
    """Number of images summarised."""
    source: str | None = None
    """What was summarised, e.g. "12 training images" or "the packaging example image"."""
    dtype: DType | None = None
    """Data type of the summarised images."""
    value_range: tuple[float, float] | None = None
    """Minimum and maximum grey value seen."""
    percentiles: dict[str, float] = Field(default_factory=dict)
    """Grey-value percentiles, keyed "p1", "p50", "p99", …"""
    stats: dict[str, Stat] = Field(default_factory=dict)
    """Named statistics, e.g. noise_sigma, poisson_slope, noise_corr_x, noise_corr_y,
    structure_scale, snr_db, saturated_fraction, background_fraction."""

    @field_validator("percentiles")
    @classmethod
    def _percentile_keys(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            if not re.fullmatch(r"p\d{1,2}(\.\d+)?", key):
                raise ValueError(f"percentile keys look like 'p1' or 'p99.5', got {key!r}")
        return value


class TrainingSource(_Node):
    """One data set of a model trained on several: what it is and its own statistics."""

    name: Annotated[str, Field(min_length=1)]
    """Short name, e.g. "W2S" or "GigaDB BPAE"."""
    modality: Modality
    """Its imaging modality."""
    description: str | None = None
    """What was used of it (which fields, rows, real or synthetic noise)."""
    n_images: Annotated[int, Field(ge=1)] | None = None
    """Number of its training images."""
    fingerprint: Fingerprint | None = None
    """Statistics of its training images: the domain check compares an image with the
    closest source."""


class Metric(_Node):
    """One number measured when the model was validated."""

    name: str
    """Metric, e.g. "psnr", "ssim", "n2v_loss"."""
    value: float
    """Its value."""
    dataset: str
    """What it was measured on, e.g. "held-out W2S pairs (3 images)"."""
    method: str = "model"
    """What produced the output: "model", "noisy input", "gaussian (best sigma)", "bm3d"."""


class Validation(_Node):
    """What was measured at packaging time, and what the model is (not) for."""

    intended_use: Annotated[str, Field(min_length=1)]
    """What the model is for, in a sentence a biologist understands."""
    limitations: list[str] = Field(default_factory=list)
    """Known failure modes and out-of-scope uses."""
    metrics: list[Metric] = Field(default_factory=list)
    """Numbers measured on held-out data."""


class AdaptedImage(_Node):
    """One of the user's images a model was adapted to: identified, never named by path."""

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    """sha256 of the image's pixels (its array's bytes, C order, with dtype and shape)."""
    shape: list[Annotated[int, Field(ge=1)]]
    """Its shape (YX)."""
    fingerprint: Fingerprint | None = None
    """Its statistics (zoo/fingerprint.py)."""


class Adaptation(_Node):
    """How a model was adapted from a parent to the user's own images (``zoo adapt``)."""

    loss: str
    """Self-supervised loss of the fine-tuning, e.g. "n2v2" (blind-spot masking)."""
    steps: Annotated[int, Field(ge=0)]
    """Planned optimiser steps (the budget in steps: ``--steps`` with the seed reproduces
    the run, the stopping rule included)."""
    seconds: Annotated[float, Field(ge=0)]
    """Wall-clock time of the fine-tuning."""
    seed: int
    """Seed of every random choice (patches, masks)."""
    best_step: Annotated[int, Field(ge=0)]
    """The step whose weights were kept (0: the parent's own weights were best)."""
    selection: str
    """How the kept weights were chosen, e.g. the held-out region's SURE estimate."""
    stopped_at: Annotated[int, Field(ge=0)] | None = None
    """The step at which the stopping rule ended the run (the held-out estimate had not
    reached a new low for a while); None: every planned step ran."""


class Lineage(_Node):
    """Where a model comes from: its parent package and what was done to it."""

    parent: str
    """The parent's ``id@version``."""
    parent_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$|^$")]
    """sha256 of the parent package's zip ("" for a package folder)."""
    adaptation: Adaptation
    """The fine-tuning."""
    images: Annotated[list[AdaptedImage], Field(min_length=1)]
    """The user's images it was adapted to."""


class ZooCard(_Node):
    """The denoiser card, stored under ``config.zoo`` of a bioimage.io model rdf.yaml."""

    format_version: Literal["0.1.0"] = CARD_FORMAT_VERSION
    """Card format version."""
    domain: ImagingDomain
    """The imaging domain of the training data."""
    noise: NoiseModel
    """The noise model."""
    method: Method
    """The training method."""
    training_data: TrainingData
    """The training data."""
    validation: Validation
    """Validation numbers, intended use and limitations."""
    fingerprint: Fingerprint | None = None
    """Statistics of the training data; without it the check falls back to the test input."""
    placeholders: list[str] | None = None
    """Fields zoo filled with a placeholder because the author gave none (``authors``,
    ``license``, ``description`` of the package): a registry refuses to publish them unless
    allowed (``zoo publish --allow-placeholders``)."""
    sources: Annotated[list[TrainingSource], Field(min_length=2)] | None = None
    """A model trained on several data sets: one entry per source, with its modality and
    fingerprint (``fingerprint`` above then summarises them all)."""
    output_units: Literal["input"] | None = None
    """``input``: the network's output is in the units the preprocessing maps the input to
    (e.g. by the image's own percentiles, bioimage.io ``scale_range``), and zoo maps it back
    into the input's units with the inverse of that map, taken from the same image. Other
    bioimage.io tools give the normalised output, as for CSBDeep's CARE exports."""
    lineage: Lineage | None = None
    """A model adapted from another (``zoo adapt``): the parent and the adaptation."""

    def to_yaml_dict(self) -> dict[str, Any]:
        """The card as plain JSON-compatible data, without unset defaults' noise."""
        return self.model_dump(mode="json", exclude_none=True)
