"""Denoise images larger than memory with Dask: OME-Zarr in, OME-Zarr out, same numbers.

The image is read lazily from OME-Zarr and cut into Dask blocks whose kept regions are
exactly the tiles the single-process runner uses (:func:`zoo.tiling.axis_windows`); each block
gets enough overlap from its neighbours for the runner's window around it (``map_overlap``,
no padding at the image's edges), is reflect-padded at the far end as the runner pads the
image, is cut to that window and goes through the same per-tile processing and network.
Every block therefore sees the very array the runner's tile sees, and the outputs are
identical. The same code runs on the local threaded scheduler or, given a scheduler address,
on a ``dask.distributed`` cluster (workers need the package path and the output folder on a
shared filesystem).

Sample statistics of per-sample normalisation (``scale_range``, ``zero_mean_unit_variance``)
are computed once per plane before the blocks run, from the pixels the single-process path
uses (:func:`zoo.processing.stats_view`: the whole plane up to 2048², a strided subsample of
larger ones, read alone), and travel to the blocks as numbers; a package whose output
returns to the input's units (card ``output_units: input``) gets the inverse map per plane.
Statistics in the postprocessing are refused.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ImageError, require
from zoo.imageio import to_dtype
from zoo.inference import Predictor, tensor_axes
from zoo.package import load_package
from zoo.tiling import Tiling, axis_windows

__all__ = ["denoise_zarr"]


@functools.lru_cache(maxsize=4)
def _predictor(package_path: str, weight_format: str) -> Predictor:
    """One predictor (one ONNX Runtime session) per process and package."""
    return Predictor(load_package(Path(package_path)), weight_format=weight_format, device="cpu")


def _block(
    block: np.ndarray,
    *,
    package_path: str,
    weight_format: str,
    grids: dict[int, list[tuple[int, int, int, int]]],
    depth_of: dict[int, int],
    far: dict[int, int],
    bound: tuple[Any, ...] | None = None,
    block_info: dict | None = None,
) -> np.ndarray:
    """Denoise one block (overlap included): reflect-pad the image's far end as the runner
    does, run the network on the runner's window for this block's kept region (``grids``:
    per axis and chunk, window and kept region as :func:`~zoo.tiling.axis_windows` gives them,
    the kept stop within the image) and put its kept output in place; map_overlap trims the
    rest. ``bound``: the preprocessing bound to each plane's statistics (planes in C order),
    when it needs any."""
    from zoo.processing import bind_processing
    from zoo.tiling import input_units

    predictor = _predictor(package_path, weight_format)
    descr = predictor.package.descr
    where = (block_info or {}).get(0, {}).get("chunk-location", [0] * block.ndim)
    pads, window, src, dst = [(0, 0)] * 4, [slice(None)] * 4, [slice(None)] * 2, [slice(None)] * 2
    for k, grid in grids.items():
        w0, w1, k0, k1 = grid[where[k]]
        start = max(0, k0 - depth_of[k])  # where the block begins in the image
        axis = k - block.ndim + 4  # in the (b, c, y, x) sample
        if where[k] == len(grid) - 1:
            pads[axis] = (0, far[k])
        window[axis] = slice(w0 - start, w1 - start)
        src[axis - 2], dst[axis - 2] = slice(k0 - w0, k1 - w0), slice(k0 - start, k1 - start)
    planes = block.reshape(-1, 1, 1, *block.shape[-2:])  # each plane a (b, c, y, x) sample
    post = bind_processing(descr.outputs[0].postprocessing, predictor.output_axes, None)
    first = 0  # leading chunks are one plane each: the block's plane in C order
    if bound and block.ndim > 2:
        counts = (block_info or {})[0]["num-chunks"][:-2]
        first = int(np.ravel_multi_index(tuple(where[:-2]), tuple(counts)))
    out = np.zeros(block.shape, np.float32).reshape(-1, *block.shape[-2:])
    steps = descr.inputs[0].preprocessing
    fixed = None if bound else bind_processing(steps, predictor.input_axes, None)
    for n, plane in enumerate(planes):
        pre = bound[first + n] if bound else fixed
        restore = input_units(predictor, pre)
        x = np.pad(plane, pads, mode="reflect") if any(p[1] for p in pads) else plane
        y = post(predictor.network(pre(x[tuple(window)])))
        y = y if restore is None else restore(y)
        out[n][tuple(dst)] = y[0, 0][tuple(src)]
    return out.reshape(block.shape)


def _require_blockwise(predictor: Predictor) -> None:
    """Refuse a model that Dask blocks cannot reproduce: not 2D single-channel of any input
    size, or with statistics of the output in its postprocessing."""
    from zoo.processing import STAT_OPS

    descr = predictor.package.descr
    if tensor_axes(descr.inputs[0]) != "bcyx" or predictor.fixed_sizes:
        raise ImageError("--dask runs 2D single-channel (bcyx) models of any input size only")
    if any(s.id in STAT_OPS for s in descr.outputs[0].postprocessing):
        raise ImageError(
            "--dask cannot take statistics of the whole output: this package's "
            "postprocessing normalises by them (scale_range / zero_mean_unit_variance); "
            "run without --dask"
        )


def _plane_statistics(predictor: Predictor, image: Any) -> tuple[Any, ...] | None:
    """The preprocessing bound to each plane's statistics (leading axes in C order), or None
    when it needs none; each plane's statistics pixels are read alone."""
    from zoo.processing import STAT_OPS, bind_processing, stats_view

    steps = predictor.package.descr.inputs[0].preprocessing
    if not any(s.id in STAT_OPS for s in steps):
        return None
    bound = []
    for index in np.ndindex(*image.shape[:-2]):
        pixels = np.asarray(stats_view(image[index], "yx"))
        bound.append(bind_processing(steps, "bcyx", pixels[np.newaxis, np.newaxis]))
    return tuple(bound)


def _block_grid(
    predictor: Predictor, shape: tuple[int, ...], tiling: Tiling
) -> tuple[tuple[Any, ...], dict[int, int], dict[int, list], dict[int, int]]:
    """The runner's windows as Dask blocks of an image of ``shape`` (leading axes one plane
    a block): (chunks, padding past the far edge, windows and overlap depth) per axis."""
    ndim = len(shape)
    chunks: list[Any] = [1] * (ndim - 2)
    far, grids, depth = {}, {}, dict.fromkeys(range(ndim), 0)
    for k in range(ndim - 2, ndim):
        n = shape[k]
        padded, windows = axis_windows(predictor, k - ndim + 4, n, tiling)
        grid = [(w0, w1, k0, min(k1, n)) for w0, w1, k0, k1 in windows if k0 < n]
        chunks.append(tuple(k1 - k0 for _w0, _w1, k0, k1 in grid))
        far[k], grids[k] = padded - n, grid
        # the overlap each block needs for its window (which can reach past the halo)
        depth[k] = max(max(k0 - w0, min(w1, n) - k1) for w0, w1, k0, k1 in grid)
    return tuple(chunks), far, grids, depth


def denoise_zarr(
    package_path: Path,
    source: Path,
    output: Path,
    *,
    tiling: Tiling,
    weight_format: str = "onnx",
    scheduler: str | None = None,
    metadata: dict[str, Any] | None = None,
    channel: int | None = None,
    dtype: Any = np.float32,
) -> tuple[tuple[int, ...], str]:
    """Denoise the OME-Zarr image ``source`` into the OME-Zarr ``output``; (shape, axes).

    2D single-channel models (per-image normalisation as the single-process runner does it);
    the image may have leading t / z axes, each plane denoised as the runner does, and a
    ``c`` axis when ``channel`` picks one of its channels. The output is written in
    ``dtype`` (:func:`~zoo.imageio.to_dtype`: integers rounded and clipped).
    """
    da = require("dask.array", "dask")
    from zoo.files import atomic_dir
    from zoo.omezarr import create_ome_zarr, open_ome_zarr

    predictor = _predictor(str(package_path), weight_format)
    _require_blockwise(predictor)
    array, axes, pixel_size, _ = open_ome_zarr(source)
    image = da.from_zarr(array)
    if "c" in axes and channel is not None:
        image, axes = da.take(image, channel, axis=axes.index("c")), axes.replace("c", "")
    if axes[-2:] != "yx" or "c" in axes:
        raise ImageError(
            f"--dask needs an OME-Zarr image with axes ending in yx, no c (or --channel N); "
            f"got {axes}"
        )
    image = image.astype(np.float32)
    chunks, far, grids, depth = _block_grid(predictor, image.shape, tiling)
    image = image.rechunk(chunks)
    result = image.map_overlap(
        _block,
        depth=depth,
        boundary="none",
        dtype=np.float32,
        package_path=str(package_path),
        weight_format=weight_format,
        grids=grids,
        depth_of=depth,
        far=far,
        bound=_plane_statistics(predictor, image),
    )
    if np.dtype(dtype) != np.float32:
        result = result.map_blocks(to_dtype, np.dtype(dtype), dtype=dtype)
    client = None
    if scheduler:
        client = require("distributed", "dask").Client(scheduler)
    try:
        with atomic_dir(output) as tmp:
            # the tiles' kept regions differ in length (border ones are a halo longer) and zarr
            # chunks are regular: rechunked to them, each chunk is written by one task alone
            regular = tuple(max(c) for c in result.chunks)
            target = create_ome_zarr(tmp, image.shape, axes=axes, pixel_size=pixel_size,
                                     metadata=metadata or {}, chunks=regular,
                                     dtype=dtype)  # fmt: skip
            da.store(result.rechunk(regular), target, lock=False, compute=True)
    finally:
        if client is not None:
            client.close()
    return tuple(image.shape), axes
