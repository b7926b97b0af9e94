"""Denoise an image in overlapping windows, so that memory holds the images and one window.

The windows' halo is discarded, so the result is what one whole-image pass gives (bit for
bit for the zoo's UNets with the default 32 px halo); their size comes from a memory budget
(:func:`auto_tile`) and the engine's working memory per pixel
(:attr:`~zoo.inference.Predictor.tile_bytes_per_pixel`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from zoo.inference import TILE_BYTES_PER_PIXEL, Predictor
from zoo.package import Package
from zoo.processing import STAT_OPS, apply_processing, bind_processing

__all__ = [
    "DEFAULT_TILE",
    "MEMORY_BUDGET",
    "Tiling",
    "auto_tile",
    "default_tiling",
    "predict_tiled",
]


@dataclass(frozen=True)
class Tiling:
    """How an image is cut into overlapping tiles."""

    tile: int
    """Tile side (pixels) fed to the network, halo included."""
    halo: int
    """Border discarded around each tile's output (pixels)."""

    def to_dict(self) -> dict[str, int]:
        return {"tile": self.tile, "halo": self.halo}


def _step_of(package: Package) -> int:
    """Spatial sizes must be multiples of this (the input axes' size step)."""
    steps = [
        int(getattr(a.size, "step", 1) or 1)
        for a in package.descr.inputs[0].axes
        if a.type == "space"
    ]
    return max(steps, default=1)


DEFAULT_TILE = 448
"""The smallest tile :func:`auto_tile` chooses, and the tile of ``zoo run --dask`` blocks.
ONNX Runtime's CPU convolutions need up to ≈ 0.9 kB per pixel of a tile for a UNet with 32
first-level filters (memory pattern off): a 448² tile takes ≈ 180 MB. Per pixel, tiles
and whole images run at about the same speed; larger tiles compute less halo (at 2048²:
1.34× the image's pixels with 448² tiles, 1.13× with 728², 1.06× with 1056²) and cost
memory quadratically (see docs/performance.md)."""


MEMORY_BUDGET = 1 << 30
"""Bytes a run aims to stay within by default (:func:`auto_tile`): 1 GiB, what issue 9's
bound allows for an 8192² float32 image (2.5 × 256 MB + 400 MB)."""

PROCESS_BYTES = 240 << 20
"""What a ``zoo run`` process holds besides images and tiles (interpreter, numpy, pydantic
and the spec, ONNX Runtime with its session): 508 MB peak at 2048² with 408² windows, less
32 MB of images and 238 MB of tile."""


def auto_tile(
    image_bytes: int, memory: int = MEMORY_BUDGET, bytes_per_pixel: int = TILE_BYTES_PER_PIXEL
) -> int:
    """The tile side for an image of ``image_bytes`` (as float32): the largest square tile
    whose working set fits in what ``memory`` leaves once the process, the input and the
    output are held; never below :data:`DEFAULT_TILE`. Larger tiles compute less halo
    (at 2048², 448² tiles compute 1.34× the image's pixels, the 3 × 3 windows of ≤ 728² that
    the 737² tile chosen here allows 1.13×)."""
    left = memory - PROCESS_BYTES - 2 * image_bytes
    return max(DEFAULT_TILE, math.isqrt(max(left, 0) // bytes_per_pixel))


def default_tiling(
    package: Package, *, tile: int = DEFAULT_TILE, halo: int | None = None
) -> Tiling:
    """Tile and halo rounded to the package's size step (halo ≥ 32 px and ≥ 8 steps)."""
    step = _step_of(package)
    halo = max(32, 8 * step) if halo is None else halo
    halo = -(-halo // step) * step
    tile = max(-(-tile // step) * step, 2 * halo + 2 * step)
    return Tiling(tile, halo)


def _align(predictor: Predictor, axis: int, step: int) -> int:
    """Tiles start at multiples of this: the size step, or for a model of fixed size (whose
    pooling grid rdf.yaml does not state) the largest power of two ≤ 16 dividing that size:
    UNets of depth ≤ 4 then see every tile on the same pooling grid as the whole image."""
    fixed = predictor.fixed_sizes.get(axis)
    return math.gcd(fixed, 16) if fixed else step


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _windows(
    size: int, tile: int, halo: int, step: int = 1, *, exact: bool = False
) -> list[tuple[int, int, int, int]]:
    """(window start, window stop, keep start, keep stop) along one axis of padded size.

    The axis is cut into the fewest kept regions whose window (region + ``halo`` on each
    side that has a neighbour) fits in ``tile``, the windows of about the same length (the
    border regions longer by a halo, as their windows have one halo only; region boundaries
    multiples of ``step``), so little is computed twice. All windows then take the length
    of the longest (one a few pixels shorter reaches further inwards): ONNX Runtime keeps a
    memory plan per input shape, and 4 shapes of 724²-728² took 1.25-1.34× the memory of
    one. With ``exact`` every window is exactly ``tile`` long: for models that take only
    that size.
    """
    if size <= tile or (not exact and size <= tile + tile // 8):
        return [(0, size, 0, size)]  # one window a little over the tile beats 2 with halos
    # n windows of length L cover n·L - 2·halo·(n - 1) pixels
    count = _ceil_div(size - 2 * halo, tile - 2 * halo)
    while True:
        length = (size + 2 * halo * (count - 1)) / count
        inner = (round((i * (length - 2 * halo) + halo) / step) * step for i in range(1, count))
        cuts = sorted({0, *inner, size})  # a tile barely over 2 halos can round two together
        longest = max(min(b + halo, size) - max(a - halo, 0) for a, b in itertools.pairwise(cuts))
        if longest <= tile:  # else rounding to the step made one too long
            break
        count += 1
    length = tile if exact else longest
    out = []
    for start, stop in itertools.pairwise(cuts):
        w0 = min(max(0, start - halo), size - length)  # the last ones shift inwards
        out.append((w0, w0 + length, start, stop))
    return out


def predict_tiled(
    predictor: Predictor,
    image: np.ndarray,
    *,
    tiling: Tiling | None = None,
    progress: Callable[[int, int], None] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Denoise one sample laid out as the input axes without batch, e.g. (C, Y, X).

    ``out`` (float32, the output's shape) receives the result when given, saving a copy.
    ``tiling`` None: :func:`default_tiling` with the :func:`auto_tile` of this image.

    The network runs on overlapping tiles whose halo is discarded; pre- and
    post-processing run per tile with any sample statistics taken from the whole image
    (:func:`~zoo.processing.bind_processing`), so the result is what whole-image processing
    gives while memory holds the input, the output and one tile's worth besides. Sizes that
    are not multiples of the package's step are reflect-padded at the far end (per tile)
    and cropped back.
    """
    package = predictor.package
    if tiling is None:
        tile = auto_tile(image.size * 4, bytes_per_pixel=predictor.tile_bytes_per_pixel)
        tiling = default_tiling(package, tile=tile)
    step = _step_of(package)
    inp, outp = package.descr.inputs[0], package.descr.outputs[0]
    x = image[np.newaxis]
    pre = bind_processing(inp.preprocessing, predictor.input_axes, x)
    post_whole = any(s.id in STAT_OPS for s in outp.postprocessing)
    post = None if post_whole else bind_processing(outp.postprocessing, predictor.output_axes, None)
    space = [i for i, a in enumerate(predictor.input_axes) if a not in "bc"]
    grids = []
    for i in space:
        fixed = predictor.fixed_sizes.get(i)
        align = _align(predictor, i, step)
        padded = x.shape[i] + max((-x.shape[i]) % align, (fixed or 0) - x.shape[i])
        tile = fixed or tiling.tile
        halo = tiling.halo if tile > 2 * tiling.halo + align else (tile // 4) // align * align
        grids.append(_windows(padded, tile, halo, align, exact=fixed is not None))
    result: np.ndarray | None = None
    total = int(np.prod([len(g) for g in grids]))
    for n, combo in enumerate(np.ndindex(*[len(g) for g in grids]), start=1):
        window = {axis: grids[k][combo[k]] for k, axis in enumerate(space)}
        y = predictor.network(pre(_window(x, window)))
        if post is not None:
            y = post(y)
        if result is None:
            shape = list(x.shape)
            shape[1] = y.shape[1]
            result = np.empty(shape, np.float32) if out is None else out[np.newaxis]
            if result.shape != tuple(shape):
                raise ValueError(f"out has shape {out.shape}, the output {tuple(shape[1:])}")
        src, dst = [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for axis, (w0, _w1, k0, k1) in window.items():
            k1 = min(k1, x.shape[axis])  # the padding is cropped back
            src[axis], dst[axis] = slice(k0 - w0, k1 - w0), slice(k0, k1)
        result[tuple(dst)] = y[tuple(src)]
        if progress:
            progress(n, total)
    assert result is not None
    if post_whole:
        processed = apply_processing(result, predictor.output_axes, outp.postprocessing)[0]
        if out is None:
            return processed
        out[...] = processed
    return result[0]


def _window(x: np.ndarray, window: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """``x`` cut to the window along each spatial axis, reflect-padded past its far end
    (as ``np.pad(mode="reflect")``); a view unless padding is needed."""
    part = x
    for axis, (w0, w1, _k0, _k1) in sorted(window.items()):
        size = x.shape[axis]
        if w1 <= size:
            part = part[(slice(None),) * axis + (slice(w0, w1),)]
            continue
        period = max(2 * (size - 1), 1)
        index = np.arange(w0, w1) % period
        index = np.where(index < size, index, period - index)
        part = np.take(part, index, axis=axis)
    return part
