"""Denoise an image in overlapping windows, so that memory holds the images and one window.

The windows' halo is discarded, so the result is what one whole-image pass gives (bit for
bit for the zoo's UNets with the default 32 px halo). Their size comes from the memory
model (:mod:`zoo.memory`): a budget for the run and the working memory per pixel of a
window that each engine reports (:attr:`~zoo.engines.Engine.tile_bytes_per_pixel`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zoo.memory import DEFAULT_TILE, auto_tile
from zoo.package import Package, declared_halo
from zoo.processing import STAT_OPS, BoundProcessing, apply_processing, bind_processing

if TYPE_CHECKING:
    from zoo.inference import Predictor

__all__ = [
    "Tiling",
    "Window",
    "auto_tiling",
    "axis_windows",
    "declared_halo",
    "default_tiling",
    "fitting_halo",
    "halo_for_step",
    "predict_tiled",
]

# --- tilings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tiling:
    """How an image is cut into overlapping tiles."""

    tile: int
    """Tile side (pixels) fed to the network, halo included."""
    halo: int
    """Border discarded around each tile's output (pixels)."""
    area: bool = False
    """``tile``² bounds a window's pixels rather than each side: the windows along each
    axis are those that compute the fewest pixels in all (:func:`_grid`). What bounds
    memory is a window's pixels, and a grid that need not be square can compute fewer
    halo pixels."""

    def to_dict(self) -> dict[str, int | bool]:
        return {"tile": self.tile, "halo": self.halo, "area": self.area}


def _step_of(package: Package) -> int:
    """Spatial sizes must be multiples of this (the input axes' size step)."""
    steps = [
        int(getattr(a.size, "step", 1) or 1)
        for a in package.descr.inputs[0].axes
        if a.type == "space"
    ]
    return max(steps, default=1)


def halo_for_step(step: int) -> int:
    """The halo zoo gives a network whose sizes are multiples of ``step``: ≥ 32 px and ≥ 8
    steps, a multiple of the step (what zoo's packages declare, :func:`declared_halo`)."""
    return -(-max(32, 8 * step) // step) * step


def fitting_halo(step: int, side: int, halo: int | None = None) -> int:
    """``halo`` (default :func:`halo_for_step`'s) cut to what an input of ``side`` pixels
    leaves room for: a package declaring a halo needs inputs of 2·halo + 2 steps at least."""
    room = (side - 2 * step) // 2 // step * step
    return max(0, min(halo_for_step(step) if halo is None else halo, room))


def default_tiling(
    package: Package, *, tile: int = DEFAULT_TILE, halo: int | None = None, area: bool = False
) -> Tiling:
    """Tile and halo rounded to the package's size step: the halo is :func:`halo_for_step`'s,
    or the package's declared one where that is larger."""
    step = _step_of(package)
    halo = max(halo_for_step(step), declared_halo(package)) if halo is None else halo
    halo = -(-halo // step) * step
    tile = max(-(-tile // step) * step, 2 * halo + 2 * step)
    return Tiling(tile, halo, area)


def auto_tiling(predictor: Predictor, image_bytes: int) -> Tiling:
    """The default tiling for an image of ``image_bytes`` (as float32): windows of as many
    pixels as :func:`auto_tile` allows with this predictor's memory per pixel, in the grid
    that computes the fewest pixels (``Tiling.area``)."""
    tile = auto_tile(image_bytes, bytes_per_pixel=predictor.tile_bytes_per_pixel)
    return default_tiling(predictor.package, tile=tile, area=True)


# --- windows -------------------------------------------------------------------------------


def _align(predictor: Predictor, axis: int, step: int) -> int:
    """Tiles start at multiples of this: the size step, or for a model of fixed size (whose
    pooling grid rdf.yaml does not state) the largest power of two ≤ 16 dividing that size:
    UNets of depth ≤ 4 then see every tile on the same pooling grid as the whole image."""
    fixed = predictor.fixed_sizes.get(axis)
    return math.gcd(fixed, 16) if fixed else step


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


Window = tuple[int, int, int, int]
"""Along one axis: window start, window stop, kept region's start, kept region's stop."""


def _cut(size: int, count: int, halo: int, step: int) -> tuple[list[int], int]:
    """Boundaries of ``count`` kept regions along an axis of ``size`` (fewer when rounding
    to the step joins two), their windows of about the same length (the border regions
    longer by a halo, as their windows have one halo only), and the longest window."""
    # n windows of length L cover n·L - 2·halo·(n - 1) pixels
    length = (size + 2 * halo * (count - 1)) / count
    inner = (round((i * (length - 2 * halo) + halo) / step) * step for i in range(1, count))
    cuts = sorted({0, *inner, size})  # a tile barely over 2 halos can round two together
    longest = max(min(b + halo, size) - max(a - halo, 0) for a, b in itertools.pairwise(cuts))
    return cuts, longest


def _place(cuts: list[int], size: int, halo: int, length: int) -> list[Window]:
    """Windows of one ``length`` around the kept regions between ``cuts``."""
    out = []
    for start, stop in itertools.pairwise(cuts):
        w0 = min(max(0, start - halo), size - length)  # the last ones shift inwards
        out.append((w0, w0 + length, start, stop))
    return out


def _windows(
    size: int, tile: int, halo: int, step: int = 1, *, exact: bool = False, slack: bool = True
) -> list[Window]:
    """(window start, window stop, keep start, keep stop) along one axis of padded size.

    The axis is cut into the fewest kept regions whose window (region + ``halo`` on each
    side that has a neighbour) fits in ``tile``, the windows of about the same length (the
    border regions longer by a halo, as their windows have one halo only; region boundaries
    multiples of ``step``), so little is computed twice. All windows then take the length
    of the longest (one a few pixels shorter reaches further inwards): ONNX Runtime keeps a
    memory plan per input shape, so one shape takes the least memory. With ``exact`` every
    window is exactly ``tile`` long: for models that take only that size. With ``slack``
    one window up to 1/8 over the tile is taken for a whole axis.
    """
    if size <= tile or (slack and not exact and size <= tile + tile // 8):
        return [(0, size, 0, size)]  # one window a little over the tile beats 2 with halos
    count = _ceil_div(size - 2 * halo, tile - 2 * halo)
    while True:
        cuts, longest = _cut(size, count, halo, step)
        if longest <= tile:  # else rounding to the step made one too long
            break
        count += 1
    return _place(cuts, size, halo, tile if exact else longest)


def _grid(sizes: list[int], halo: int, steps: list[int], area: int) -> list[list[Window]]:
    """Windows along each axis (of the padded ``sizes``) such that no window holds more
    than ``area`` pixels and all of them compute the fewest pixels (on a tie, the fewest
    windows), each axis cut as :func:`_windows` cuts it.

    Each axis is tried with up to twice as many windows as square (cubic) windows of
    ``area`` pixels take along it (thinner windows only add halo). A window is at least
    2·halo + 2 steps long along an axis longer than that, so a smaller ``area`` is raised
    to it.
    """
    smallest = [min(size, 2 * halo + 2 * step) for size, step in zip(sizes, steps, strict=True)]
    area = max(area, math.prod(smallest))
    side = _iroot(area, len(sizes))
    caps = [
        2 * len(_windows(size, max(side, low), halo, step, slack=False))
        for size, step, low in zip(sizes, steps, smallest, strict=True)
    ]
    best: tuple[int, int, list[list[Window]]] | None = None

    def search(axis: int, room: int, chosen: list[list[Window]], pixels: int, n: int) -> None:
        nonlocal best
        if axis == len(sizes):
            if best is None or (pixels, n) < best[:2]:
                best = (pixels, n, chosen)
            return
        size, step, rest = sizes[axis], steps[axis], math.prod(sizes[axis + 1 :])
        others = math.prod(smallest[axis + 1 :])  # the least the later axes need
        first = 1  # no fewer windows fit: n of them are at least (size + 2·halo·(n-1)) / n
        if size * others > room and room // others > 2 * halo:
            first = _ceil_div(size - 2 * halo, room // others - 2 * halo)
        for count in range(first, caps[axis] + 1):
            # n windows of length L along this axis compute at least size + 2·halo·(n - 1)
            if best is not None and pixels * (size + 2 * halo * (count - 1)) * rest >= best[0]:
                return
            cuts, longest = _cut(size, count, halo, step)
            if count > 1 and longest < smallest[axis]:
                return  # more windows would be shorter than two halos and two steps
            if len(cuts) - 1 < count or longest * others > room:
                continue  # rounding joined two regions / too long for the others to fit
            windows = _place(cuts, size, halo, longest)
            search(
                axis + 1, room // longest, [*chosen, windows], pixels * count * longest, n * count
            )

    search(0, area, [], 1, 1)
    assert best is not None  # the smallest windows always fit the raised area
    return best[2]


def _iroot(n: int, d: int) -> int:
    """The largest integer whose ``d``-th power is at most ``n``."""
    root = round(n ** (1 / d))
    while root**d > n:
        root -= 1
    while (root + 1) ** d <= n:
        root += 1
    return root


def _grids(predictor: Predictor, shape: tuple[int, ...], tiling: Tiling) -> dict[int, list[Window]]:
    """Spatial axis (its index in an input of ``shape``, batch first) → its windows."""
    space = [i for i, a in enumerate(predictor.input_axes) if a not in "bc"]
    step = _step_of(predictor.package)
    fixed = [predictor.fixed_sizes.get(i) for i in space]
    aligns = [_align(predictor, i, step) for i in space]
    padded = [
        shape[i] + max((-shape[i]) % align, (size or 0) - shape[i])
        for i, align, size in zip(space, aligns, fixed, strict=True)
    ]
    if tiling.area and not any(fixed):
        return dict(zip(space, _grid(padded, tiling.halo, aligns, tiling.tile**2), strict=True))
    grids = {}
    for axis, size, align, exact in zip(space, padded, aligns, fixed, strict=True):
        tile = exact or tiling.tile
        halo = tiling.halo if tile > 2 * tiling.halo + align else (tile // 4) // align * align
        grids[axis] = _windows(size, tile, halo, align, exact=exact is not None)
    return grids


def axis_windows(
    predictor: Predictor, axis: int, size: int, tiling: Tiling
) -> tuple[int, list[Window]]:
    """(padded size, windows) along spatial axis ``axis`` (its index in the input axes) of
    an image ``size`` pixels long, for a model of any size: square tiles of ``tiling``
    along the axis padded to the model's alignment, as ``zoo run --dask`` cuts its blocks."""
    align = _align(predictor, axis, _step_of(predictor.package))
    padded = size + (-size) % align
    return padded, _windows(padded, tiling.tile, tiling.halo, align)


# --- running -------------------------------------------------------------------------------


def predict_tiled(
    predictor: Predictor,
    image: np.ndarray,
    *,
    tiling: Tiling | None = None,
    progress: Callable[[int, int], None] | None = None,
    out: np.ndarray | None = None,
    stats_from: np.ndarray | None = None,
) -> np.ndarray:
    """Denoise one sample laid out as the input axes without batch, e.g. (C, Y, X).

    ``out`` (float32, the output's shape) receives the result when given, saving a copy.
    ``stats_from``: the sample (same layout) whose statistics the processing uses, when
    ``image`` is only a region of it (default: ``image`` itself).
    ``tiling`` None: :func:`auto_tiling` for this image.

    The network runs on overlapping tiles whose halo is discarded; pre- and
    post-processing run per tile with any sample statistics taken from the whole image
    (:func:`~zoo.processing.bind_processing`), so the result is what whole-image processing
    gives while memory holds the input, the output and one tile's worth besides. Sizes that
    are not multiples of the package's step are reflect-padded at the far end (per tile)
    and cropped back.
    """
    package = predictor.package
    tiling = tiling or auto_tiling(predictor, image.size * 4)
    inp, outp = package.descr.inputs[0], package.descr.outputs[0]
    x = image[np.newaxis]
    whole = x if stats_from is None else stats_from[np.newaxis]
    pre = bind_processing(inp.preprocessing, predictor.input_axes, whole)
    post_whole = any(s.id in STAT_OPS for s in outp.postprocessing)
    post = None if post_whole else bind_processing(outp.postprocessing, predictor.output_axes, None)
    restore = input_units(predictor, pre)
    grids = _grids(predictor, x.shape, tiling)
    result: np.ndarray | None = None
    total = int(np.prod([len(g) for g in grids.values()]))
    for n, combo in enumerate(np.ndindex(*[len(g) for g in grids.values()]), start=1):
        window = {axis: g[k] for k, (axis, g) in zip(combo, grids.items(), strict=True)}
        y = predictor.network(pre(_window(x, window)))
        if post is not None:
            y = post(y)
        if restore is not None and not post_whole:
            y = restore(y)
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
        processed = processed if restore is None else restore(processed[np.newaxis])[0]
        if out is None:
            return processed
        out[...] = processed
    return result[0]


def input_units(
    predictor: Predictor, pre: BoundProcessing
) -> Callable[[np.ndarray], np.ndarray] | None:
    """The map of the network's (post-processed) output back into the input's units, for a
    package whose card says ``output_units: input`` (the inverse of ``pre``, the input's
    preprocessing bound to this image); None for any other package."""
    card = predictor.package.card
    if card is None or card.output_units != "input":
        return None
    axes = predictor.input_axes
    channels = predictor.package.descr.inputs[0].axes
    n = next((len(a.channel_names) for a in channels if str(a.id) == "channel"), 1)
    return pre.inverse(n if "c" in axes else 1)


def _window(x: np.ndarray, window: dict[int, Window]) -> np.ndarray:
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
