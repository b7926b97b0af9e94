"""Read and write images: NPY, TIFF / OME-TIFF / ImageJ TIFF (with pixel size), PNG/JPEG.

An :class:`Image` is the array, its axes (a string over ``tzcyx``) and the physical pixel
size per spatial axis in micrometres when the file says it. Palette ("P") PNGs hold
intensities as palette indices and are read as such; grey + alpha PNGs give their grey
channel. ``--axes`` and ``--pixel-size`` overrides are applied by :func:`read_image`.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ImageError

__all__ = [
    "Image",
    "check_fits_memory",
    "output_dtype",
    "read_array",
    "read_image",
    "select_channel",
    "to_dtype",
    "write_tiff",
]

SUFFIXES = {".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".zarr"}
AXES = "tzcyx"
UNIT_TO_UM = {"nm": 1e-3, "um": 1.0, "µm": 1.0, "micron": 1.0, "microns": 1.0, "mm": 1e3}
MIN_SIDE = 16


@dataclass(frozen=True)
class Image:
    """An image with its axes and (when known) pixel size."""

    data: np.ndarray
    axes: str
    """One letter per dimension of ``data``, from "tzcyx", e.g. "yx" or "zcyx"."""
    pixel_size: dict[str, float] = field(default_factory=dict)
    """Physical size per spatial axis ("x", "y", "z") in micrometres, when known."""
    source: str = ""
    modality: str | None = None
    """Imaging modality when the file states it (OME AcquisitionMode), in zoo's vocabulary."""
    microscope: str | None = None
    """Microscope manufacturer and model when the file states them (OME Instrument)."""

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(s for s, a in zip(self.data.shape, self.axes, strict=True) if a in "zyx")


def read_array(path: str | os.PathLike[str]) -> np.ndarray:
    """Just the pixels of the image at ``path`` (see :func:`read_image`)."""
    return read_image(path).data


def read_image(
    path: str | os.PathLike[str],
    *,
    axes: str | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
    channel: int | None = None,
) -> Image:
    """Read an image; ``axes`` and ``pixel_size`` (µm; one value, or one per z/y/x) override;
    ``channel`` keeps that one channel (:func:`select_channel`).

    Raises :class:`ImageError` when the file is missing, of an unknown type, unreadable, empty,
    not finite, or when the axes do not fit the data.
    """
    from zoo.omezarr import is_ome_zarr

    p = Path(path)
    suffix = ".zarr" if is_ome_zarr(p) else p.suffix.lower()
    if not (p.is_file() or suffix == ".zarr"):
        raise ImageError(f"no image at {p}")
    if suffix not in SUFFIXES:
        raise ImageError(f"cannot read {p.name}: expected one of {sorted(SUFFIXES)}")
    try:
        image = _read(p, suffix)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot read {p}: {type(exc).__name__}: {exc}") from exc
    if axes is not None:
        image = replace(image, axes=_check_axes(axes.lower(), image.data.shape, p.name))
    if pixel_size is not None:
        image = replace(image, pixel_size=_pixel_override(pixel_size, image.axes))
    _check_content(image.data, p.name)
    if channel is not None:
        image = select_channel(image, channel, p.name)
    return replace(image, source=str(p))


OUTPUT_DTYPES = ("float32", "input")
"""``zoo run --dtype``: float32 (always, whatever the input), or the input's own dtype."""


def output_dtype(rule: str, input_dtype: Any) -> np.dtype:
    """The dtype an output is written in: float32, or the input's for ``rule`` "input"."""
    if rule not in OUTPUT_DTYPES:
        raise ImageError(f"--dtype must be one of {', '.join(OUTPUT_DTYPES)}, got {rule!r}")
    return np.dtype(np.float32) if rule == "float32" else np.dtype(input_dtype)


def to_dtype(data: np.ndarray, dtype: Any) -> np.ndarray:
    """``data`` (float) in ``dtype``: integers rounded to the nearest and clipped to the
    type's range (booleans to 0 and 1), floats clipped to theirs; float32 is kept as is."""
    dtype = np.dtype(dtype)
    if dtype == data.dtype:
        return data
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(data), info.min, info.max).astype(dtype)
    if dtype.kind == "b":
        return np.rint(np.clip(data, 0, 1)).astype(dtype)
    finfo = np.finfo(dtype)
    return np.clip(data, finfo.min, finfo.max).astype(dtype)


def select_channel(image: Image, channel: int, name: str = "the image") -> Image:
    """``image`` with its one channel ``channel`` (0-based) kept and the ``c`` axis dropped.

    An image without a channel axis is one channel: ``channel`` 0 keeps it as it is. Raises
    :class:`ImageError` for a channel the image does not have.
    """
    count = image.data.shape[image.axes.index("c")] if "c" in image.axes else 1
    if not 0 <= channel < count:
        raise ImageError(
            f"--channel {channel}: {name} has {count} channel(s), numbered 0 to {count - 1}; "
            "pass one of those"
        )
    if "c" not in image.axes:
        return image
    data = np.take(image.data, channel, axis=image.axes.index("c"))
    return replace(image, data=np.ascontiguousarray(data), axes=image.axes.replace("c", ""))


def check_fits_memory(shape: tuple[int, ...], dtype: Any, name: str) -> None:
    """Raise :class:`ImageError` when an image's header declares more pixels than half this
    machine's memory holds, before anything is read (a header can claim any size)."""
    import math

    need = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): no limit
        return
    if need > memory // 2:
        raise ImageError(
            f"{name} declares {'×'.join(str(n) for n in shape)} pixels of {np.dtype(dtype)}, "
            f"{need / 2**30:.1f} GiB: more than half of this machine's memory "
            f"({memory / 2**30:.1f} GiB), and zoo reads an image whole. Split the image, or "
            "for an OME-Zarr use zoo run --dask."
        )


def _check_axes(axes: str, shape: tuple[int, ...], name: str) -> str:
    if len(axes) != len(shape) or set(axes) - set(AXES) or len(set(axes)) != len(axes):
        raise ImageError(
            f"axes {axes!r} do not fit {name} with shape {shape}: give one distinct letter "
            f"of {AXES!r} per dimension, e.g. --axes {'zyx'[-len(shape) :] or 'yx'}"
        )
    if "y" not in axes or "x" not in axes:
        raise ImageError(f"axes {axes!r} of {name} must include y and x")
    return axes


def _pixel_override(value: float | tuple[float, ...], axes: str) -> dict[str, float]:
    values = (value,) if isinstance(value, int | float) else tuple(value)
    spatial = [a for a in "zyx" if a in axes]
    if len(values) == 1:
        values = values * len(spatial)
    if len(values) != len(spatial) or any(v <= 0 for v in values):
        raise ImageError(
            f"--pixel-size needs one positive value or one per spatial axis ({''.join(spatial)})"
        )
    return dict(zip(spatial, values, strict=True))


def _check_content(data: np.ndarray, name: str) -> None:
    if data.size == 0:
        raise ImageError(f"{name} is empty (shape {data.shape})")
    if data.dtype.kind not in "uifb":
        raise ImageError(f"{name} has unsupported dtype {data.dtype}; expected integers or floats")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise ImageError(f"{name} contains {bad} NaN or infinite values; fix or mask them first")


def _default_axes(shape: tuple[int, ...], name: str) -> str:
    guesses = {2: "yx", 3: "zyx", 4: "czyx", 5: "tczyx"}
    if len(shape) == 3 and shape[-1] in (3, 4) and shape[0] > 4:
        return "yxc"
    if len(shape) not in guesses:
        raise ImageError(f"cannot guess the axes of {name} with shape {shape}; pass --axes")
    return guesses[len(shape)]


def _read(p: Path, suffix: str) -> Image:
    if suffix == ".zarr":
        from zoo.omezarr import open_ome_zarr

        if not p.is_dir():
            raise ImageError(f"{p.name} is not an OME-Zarr folder")
        array, axes, pixel_size, _ = open_ome_zarr(p)
        check_fits_memory(array.shape, array.dtype, p.name)
        return Image(np.asarray(array), axes, pixel_size=pixel_size)
    if suffix == ".npy":
        with p.open("rb") as fh:  # the header first: its shape may be a lie
            major, _ = np.lib.format.read_magic(fh)
            header = getattr(np.lib.format, f"read_array_header_{major}_0", None)
            if header is not None:
                shape, _, dtype = header(fh)
                check_fits_memory(shape, dtype, p.name)
        data = np.load(p, allow_pickle=False)
        return Image(data, _default_axes(data.shape, p.name))
    if suffix in (".tif", ".tiff"):
        return _read_tiff(p)
    from PIL import Image as PILImage

    with PILImage.open(p) as im:
        data = np.asarray(im)
        if im.mode == "LA":
            data = data[..., 0]
    return Image(data, "yx" if data.ndim == 2 else "yxc")


def _read_tiff(p: Path) -> Image:
    import tifffile

    with tifffile.TiffFile(p) as tif:
        series = tif.series[0]
        check_fits_memory(series.shape, series.dtype, p.name)
        data = series.asarray()
        raw_axes = series.axes.lower().replace("s", "c").replace("q", "")
        axes = raw_axes if set(raw_axes) <= set(AXES) and len(raw_axes) == data.ndim else None
        pixel = _ome_pixel_size(tif.ome_metadata) if tif.is_ome else {}
        modality = _ome_modality(tif.ome_metadata) if tif.is_ome else None
        microscope = _ome_microscope(tif.ome_metadata) if tif.is_ome else None
        if not pixel and tif.is_imagej:
            pixel = _imagej_pixel_size(tif)
    axes = axes or _default_axes(data.shape, p.name)
    return Image(data, axes, pixel, modality=modality, microscope=microscope)


def _ome_microscope(xml: str | None) -> str | None:
    """``Instrument/Microscope`` manufacturer and model, e.g. "Zeiss LSM 880"."""
    if not xml:
        return None
    for el in ET.fromstring(xml).iter():
        if el.tag.endswith("}Microscope") or el.tag == "Microscope":
            words = [el.get("Manufacturer"), el.get("Model")]
            return " ".join(w for w in words if w) or None
    return None


OME_MODALITY = {
    "WideField": "widefield",
    "LaserScanningConfocalMicroscopy": "confocal",
    "SpinningDiskConfocal": "spinning-disk",
    "MultiPhotonMicroscopy": "two-photon",
    "TotalInternalReflection": "TIRF",
    "StructuredIllumination": "SIM",
    "StimulatedEmissionDepletion": "STED",
    "SingleMoleculeImaging": "SMLM",
    "SPIM": "light-sheet",
    "BrightField": "brightfield",
}
"""OME ``Channel/@AcquisitionMode`` → zoo modality."""


def _ome_modality(xml: str | None) -> str | None:
    if not xml:
        return None
    root = ET.fromstring(xml)
    for el in root.iter():
        if el.tag.endswith("Channel") and el.get("AcquisitionMode") in OME_MODALITY:
            return OME_MODALITY[el.get("AcquisitionMode", "")]
    return None


def _ome_pixel_size(xml: str | None) -> dict[str, float]:
    if not xml:
        return {}
    root = ET.fromstring(xml)
    pixels = next((el for el in root.iter() if el.tag.endswith("Pixels")), None)
    if pixels is None:
        return {}
    out = {}
    for ax in "xyz":
        value = pixels.get(f"PhysicalSize{ax.upper()}")
        unit = pixels.get(f"PhysicalSize{ax.upper()}Unit", "µm")
        if value is not None and unit in UNIT_TO_UM:
            out[ax] = float(value) * UNIT_TO_UM[unit]
    return out


def _imagej_pixel_size(tif: Any) -> dict[str, float]:
    meta = tif.imagej_metadata or {}
    unit = str(meta.get("unit", "")).replace("\\u00B5", "µ")
    factor = UNIT_TO_UM.get(unit)
    if factor is None:
        return {}
    page = tif.pages[0]
    out = {}
    for ax, tag in (("x", "XResolution"), ("y", "YResolution")):
        res = page.tags.get(tag)
        if res is not None:
            num, den = res.value
            if num:
                out[ax] = den / num * factor
    if "spacing" in meta:
        out["z"] = float(meta["spacing"]) * factor
    return out


def write_tiff(
    path: Path, data: np.ndarray, *, axes: str, pixel_size: dict[str, float], metadata: dict
) -> None:
    """Write an OME-TIFF with pixel sizes and ``metadata`` (JSON) in its description."""
    import tifffile

    ome: dict[str, Any] = {"axes": axes.upper()}
    for ax in "xyz":
        if ax in pixel_size:
            ome[f"PhysicalSize{ax.upper()}"] = pixel_size[ax]
            ome[f"PhysicalSize{ax.upper()}Unit"] = "µm"
    ome["Description"] = json.dumps(metadata)
    tifffile.imwrite(path, data, ome=True, metadata=ome, photometric="minisblack")
