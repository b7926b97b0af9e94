"""OME-Zarr images (NGFF 0.4 written; 0.4 and 0.5 read): axes, pixel size, metadata.

Only the full-resolution level (``datasets[0]``) is read; zoo writes a single level, chunked
per plane, with the axes' physical scale and zoo's metadata under the ``zoo`` attribute.
Writing goes to a temporary folder beside the destination that is renamed into place, so a
reader never sees a half-written image. Needs the ``zarr`` package (``pip install zarr``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from zoo.errors import ImageError, require
from zoo.files import atomic_dir

__all__ = ["OmeZarr", "create_ome_zarr", "is_ome_zarr", "open_ome_zarr", "write_ome_zarr"]

_UNIT_TO_UM = {"micrometer": 1.0, "nanometer": 1e-3, "millimeter": 1e3, "angstrom": 1e-4}
_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def is_ome_zarr(path: Path) -> bool:
    """A folder that holds a zarr group (v2 ``.zattrs`` or v3 ``zarr.json``)."""
    return path.is_dir() and ((path / ".zattrs").is_file() or (path / "zarr.json").is_file())


def _multiscale(attrs: dict[str, Any], name: str) -> dict[str, Any]:
    scales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    if not scales:
        raise ImageError(f"{name} is a zarr group without OME 'multiscales' metadata")
    return scales[0]


class OmeZarr(NamedTuple):
    """An opened OME-Zarr image: its full-resolution array, not yet read, and metadata."""

    array: Any
    """The full-resolution zarr array (``datasets[0]``); ``zoo.imageio.read_image`` reads it."""
    axes: str
    """One letter per dimension, from "tczyx"."""
    pixel_size: dict[str, float]
    """Micrometres per spatial axis whose unit the file states."""
    attrs: dict[str, Any]
    """The group's attributes as stored (OME metadata, zoo's provenance): free-form JSON."""


def open_ome_zarr(path: Path) -> OmeZarr:
    """Open the OME-Zarr image at ``path``: its full-resolution array, axes, pixel size and
    attributes."""
    zarr = require("zarr", "zarr")
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs)
    ms = _multiscale(attrs, path.name)
    names = [(a["name"] if isinstance(a, dict) else a).lower() for a in ms["axes"]]
    if set(names) - set(_AXIS_TYPES) or len(set(names)) != len(names):
        raise ImageError(f"{path.name} has axes {names}; zoo reads t, c, z, y, x")
    dataset = ms["datasets"][0]
    scale = next(
        (t["scale"] for t in dataset.get("coordinateTransformations", []) if t["type"] == "scale"),
        None,
    )
    pixel_size = {}
    if scale is not None:
        for axis, value, spec in zip(names, scale, ms["axes"], strict=False):
            unit = spec.get("unit") if isinstance(spec, dict) else None
            if axis in "zyx" and unit in _UNIT_TO_UM:  # no unit: the pixel size is unknown
                pixel_size[axis] = float(value) * _UNIT_TO_UM[unit]
    return OmeZarr(group[dataset["path"]], "".join(names), pixel_size, attrs)


def create_ome_zarr(
    folder: Path,
    shape: tuple[int, ...],
    *,
    axes: str,
    pixel_size: dict[str, float],
    metadata: dict[str, Any],
    chunks: tuple[int, ...],
    dtype: Any = np.float32,
) -> Any:
    """An empty single-level OME-Zarr 0.4 image in ``folder`` (written in place); its array."""
    zarr = require("zarr", "zarr")
    group = zarr.open_group(str(folder), mode="w", zarr_format=2)
    array = group.create_array("0", shape=shape, dtype=dtype, chunks=chunks)
    axes_meta = [
        {"name": a, "type": _AXIS_TYPES[a], **({"unit": "micrometer"} if a in pixel_size else {})}
        for a in axes
    ]
    scale = [pixel_size.get(a, 1.0) if a in "zyx" else 1.0 for a in axes]
    datasets = [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}]
    multiscale = {"version": "0.4", "name": folder.stem, "axes": axes_meta, "datasets": datasets}
    group.attrs.update({"multiscales": [multiscale], **metadata})
    return array


def write_ome_zarr(
    path: Path,
    data: np.ndarray,
    *,
    axes: str,
    pixel_size: dict[str, float],
    metadata: dict[str, Any],
    chunk: int = 1024,
) -> None:
    """Write ``data`` as a single-level OME-Zarr 0.4 image, atomically."""
    chunks = tuple(min(n, chunk) if a in "yx" else 1 for a, n in zip(axes, data.shape, strict=True))
    with atomic_dir(path) as tmp:
        array = create_ome_zarr(
            tmp, data.shape, axes=axes, pixel_size=pixel_size, metadata=metadata,
            chunks=chunks, dtype=data.dtype,
        )  # fmt: skip
        array[...] = data
