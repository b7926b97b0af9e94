"""Bad images given to ``zoo run``: NaN, inf, empty, 1×1, the wrong dimensionality, headers
claiming huge dimensions, truncated or mislabelled files, pickles, bad overrides. Each is
refused before inference; the input is untouched and nothing is written."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from tests.reliability import bad
from tests.reliability.catalogue import Attempt, Case, Family, World, ids, refused
from zoo.errors import DomainMismatchError, ImageError

IMAGES = Family("images")
case = IMAGES.case
MODEL = "tiny-mean@0.1.0"


def run(world: World, image: Path, *flags: str, output: Path | None = None, **kw: Any) -> Attempt:
    """``zoo run tiny-mean@0.1.0 IMAGE -o out/denoised.tif`` (and the library's run)."""
    from zoo.runner import open_model
    from zoo.runner import run as run_model

    out_dir = world.tmp / "out"
    out_dir.mkdir(exist_ok=True)
    target = output or out_dir / "denoised.tif"

    def call() -> None:
        model = open_model(MODEL, registry=str(world.registry), cache=world.cache)
        run_model(model, image, target, **kw)

    argv = world.zoo("run", MODEL, str(image), "-o", str(target), *flags)
    return Attempt(call, argv, [image, out_dir])


def _npy(world: World, data: np.ndarray, name: str = "img.npy") -> Path:
    path = world.tmp / name
    np.save(path, data)
    return path


def _tif(world: World, data: np.ndarray, name: str = "img.tif") -> Path:
    path = world.tmp / name
    tifffile.imwrite(path, data)
    return path


def noisy(shape: tuple[int, ...] = (64, 64), dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(0).normal(100, 10, size=shape).astype(dtype)


@case("img-nan", "float32 .npy with one NaN", ImageError, match="NaN")
def _(world: World) -> Attempt:
    data = noisy()
    data[3, 4] = np.nan
    return run(world, _npy(world, data))


@case("img-inf", "float32 TIFF with +inf", ImageError, match="infinite")
def _(world: World) -> Attempt:
    data = noisy()
    data[10, 10] = np.inf
    return run(world, _tif(world, data))


@case("img-empty", ".npy of shape (0, 64)", ImageError, match="empty")
def _(world: World) -> Attempt:
    return run(world, _npy(world, np.zeros((0, 64), np.float32)))


@case("img-1x1", "a 1×1 TIFF", DomainMismatchError, exit=4, match="size")
def _(world: World) -> Attempt:
    return run(world, _tif(world, np.ones((1, 1), np.uint16)))


@case("img-1d", ".npy of shape (4096,)", ImageError, match="axes")
def _(world: World) -> Attempt:
    return run(world, _npy(world, noisy((4096,))))


@case("img-6d", ".npy of shape (2, 2, 2, 2, 8, 8)", ImageError, match="axes")
def _(world: World) -> Attempt:
    return run(world, _npy(world, noisy((2, 2, 2, 2, 8, 8))))


@case("img-3d-for-2d-model", "a 3-channel RGB image for a 1-channel model",
      DomainMismatchError, exit=4, match="channel")  # fmt: skip
def _(world: World) -> Attempt:
    return run(world, _tif(world, noisy((64, 64, 3), np.uint8)))


def _huge_tiff(path: Path, side: int) -> Path:
    """A 16×16 TIFF whose header is rewritten to claim side × side pixels."""
    tifffile.imwrite(path, np.zeros((16, 16), np.uint16))
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        for name in ("ImageWidth", "ImageLength", "RowsPerStrip"):
            tag = tags[name]
            pack = "<H" if tag.dtype == 3 else "<I"
            struct.pack_into(pack, raw, tag.valueoffset, min(side, 65535 if pack == "<H" else side))
    path.write_bytes(bytes(raw))
    return path


@case("img-huge-header-tiff", "TIFF whose header claims 1,000,000 × 1,000,000 pixels",
      ImageError, match="memory")  # fmt: skip
def _(world: World) -> Attempt:
    return run(world, _huge_tiff(world.tmp / "img.tif", 1_000_000))


@case("img-huge-header-npy", ".npy whose header claims 1,000,000 × 1,000,000 float32",
      ImageError, match="memory")  # fmt: skip
def _(world: World) -> Attempt:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    path = world.tmp / "img.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    return run(world, path)


@case("img-huge-header-png", "PNG whose header claims 100,000 × 100,000 pixels", ImageError,
      match="exceeds limit")  # fmt: skip
def _(world: World) -> Attempt:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
    path = world.tmp / "img.png"
    path.write_bytes(png + chunk(b"IEND", b""))
    return run(world, path)


@case("img-huge-header-zarr", "OME-Zarr whose array claims 1,000,000 × 1,000,000 pixels",
      ImageError, match="memory")  # fmt: skip
def _(world: World) -> Attempt:
    from zoo.omezarr import create_ome_zarr

    path = world.tmp / "img.zarr"
    create_ome_zarr(path, (1_000_000, 1_000_000), axes="yx", pixel_size={}, metadata={},
                    chunks=(1024, 1024))  # fmt: skip
    return run(world, path)


@case("img-truncated-tiff", "a TIFF cut in half", ImageError, match="cannot read")
def _(world: World) -> Attempt:
    path = _tif(world, noisy((256, 256), np.uint16))
    path.write_bytes(path.read_bytes()[:60_000])
    return run(world, path)


@case("img-not-an-image", "a text file named .tif", ImageError, match="cannot read")
def _(world: World) -> Attempt:
    path = world.tmp / "img.tif"
    path.write_text("not an image\n")
    return run(world, path)


@case("img-pickle-npy", ".npy object array that runs os.system", ImageError,
      match="allow_pickle")  # fmt: skip
def _(world: World) -> Attempt:
    marker = world.tmp / "PWNED"
    buffer = io.BytesIO()
    np.save(buffer, np.array([bad._Exec(f"touch {marker}")], dtype=object), allow_pickle=True)
    path = world.tmp / "img.npy"
    path.write_bytes(buffer.getvalue())
    attempt = run(world, path)

    def not_run() -> None:
        assert not marker.exists()

    attempt.after = not_run
    return attempt


@case("img-complex", "complex64 .npy", ImageError, match="dtype")
def _(world: World) -> Attempt:
    return run(world, _npy(world, noisy().astype(np.complex64)))


@case("img-unknown-suffix", "an image named .bmp", ImageError, match="expected one of")
def _(world: World) -> Attempt:
    path = world.tmp / "img.bmp"
    path.write_bytes(b"BM" + bytes(100))
    return run(world, path)


@case("img-missing", "a path that does not exist", ImageError, match="no image")
def _(world: World) -> Attempt:
    return run(world, world.tmp / "nowhere.tif")


@case("img-axes-mismatch", "--axes zyx for a 2D image", ImageError, match="do not fit")
def _(world: World) -> Attempt:
    return run(world, _tif(world, noisy((64, 64), np.uint16)), "--axes", "zyx", axes="zyx")


@case("img-pixel-size-zero", "--pixel-size 0", ImageError, match="positive")
def _(world: World) -> Attempt:
    image = _tif(world, noisy((64, 64), np.uint16))
    return run(world, image, "--pixel-size", "0", pixel_size=0.0)


@case("img-output-is-input", "-o the input itself", ImageError, match="overwrite the input")
def _(world: World) -> Attempt:
    image = _tif(world, noisy((64, 64), np.uint16))
    return run(world, image, output=image)


@case("img-zarr-bad-axes", "OME-Zarr with axes q, y, x", ImageError, match="axes")
def _(world: World) -> Attempt:
    from zoo.omezarr import write_ome_zarr

    path = world.tmp / "img.zarr"
    write_ome_zarr(path, noisy((2, 64, 64)), axes="zyx", pixel_size={}, metadata={})
    attrs = path / ".zattrs"
    attrs.write_text(attrs.read_text().replace('"name": "z"', '"name": "q"'))
    return run(world, path)


@pytest.mark.parametrize("case", ids(IMAGES))
def test_catalogue(case: Case, world: World) -> None:
    refused(world, case, case.build(world))
