"""Read images into numpy arrays: NPY, TIFF (tifffile) and PNG/JPEG (Pillow).

Palette ("P") PNGs hold intensities as palette indices and are read as such, not converted
to RGB; grey + alpha PNGs give their grey channel.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zoo.errors import ImageError

__all__ = ["read_image"]

SUFFIXES = {".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the image at ``path`` as an array in its stored dtype.

    Raises :class:`ImageError` when the file is missing, of an unknown type, unreadable,
    empty, or not finite.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.is_file():
        raise ImageError(f"no image at {p}")
    if suffix not in SUFFIXES:
        raise ImageError(f"cannot read {p.name}: expected one of {sorted(SUFFIXES)}")
    try:
        arr = _read(p, suffix)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot read {p}: {type(exc).__name__}: {exc}") from exc
    if arr.size == 0:
        raise ImageError(f"{p.name} is empty (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ImageError(f"{p.name} contains NaN or infinite values; fix or mask them first")
    return arr


def _read(p: Path, suffix: str) -> np.ndarray:
    if suffix == ".npy":
        return np.load(p, allow_pickle=False)
    if suffix in (".tif", ".tiff"):
        import tifffile

        return tifffile.imread(p)
    from PIL import Image

    with Image.open(p) as im:
        arr = np.asarray(im)
        if im.mode == "LA":
            arr = arr[..., 0]
    return arr
