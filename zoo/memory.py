"""The memory model of a run: a budget, and the working memory per pixel of a window.

:mod:`zoo.tiling` sizes its windows with it; each engine reports its own working memory
per window pixel (:attr:`~zoo.engines.Engine.tile_bytes_per_pixel`), read from the ONNX
graph where it can be. docs/performance.md shows the measurements behind the figures.
"""

from __future__ import annotations

import math

from zoo.onnxgraph import activation_bytes_per_pixel

__all__ = [
    "DEFAULT_TILE",
    "MEMORY_BUDGET",
    "ORT_ACTIVATION_FACTOR",
    "PROCESS_BYTES",
    "TILE_BYTES_PER_PIXEL",
    "auto_tile",
    "onnx_runtime_bytes_per_pixel",
]

MEMORY_BUDGET = 1 << 30
"""Bytes a run aims to stay within by default (:func:`auto_tile`): 1 GiB, what issue 9's
bound allows for an 8192² float32 image."""

PROCESS_BYTES = 240 << 20
"""What a ``zoo run`` process holds besides images and windows (interpreter, numpy,
pydantic and the spec, the engine with its loaded network)."""

TILE_BYTES_PER_PIXEL = 1450
"""Working memory per pixel of a window for engines that cannot read their network's
activations (TorchScript, state dicts, ONNX graphs with ops
:func:`~zoo.onnxgraph.activation_bytes_per_pixel` does not know): above what ONNX Runtime
takes for the zoo's UNets."""

ORT_ACTIVATION_FACTOR = 2.0
"""ONNX Runtime's working memory on the CPU (memory pattern off) per byte of the graph's
peak of live activations; its arena grows in powers of two, so the measured ratio varies
with the window and this bounds it."""

DEFAULT_TILE = 448
"""The smallest tile :func:`auto_tile` chooses, and the tile of ``zoo run --dask`` blocks.
Larger tiles compute less halo and cost memory quadratically."""


def onnx_runtime_bytes_per_pixel(graph: bytes) -> int:
    """Working memory per pixel of a window that ONNX Runtime on the CPU takes for the ONNX
    model ``graph``: :data:`ORT_ACTIVATION_FACTOR` times its peak of live activations
    (:func:`~zoo.onnxgraph.activation_bytes_per_pixel`), or :data:`TILE_BYTES_PER_PIXEL`
    when the graph does not say."""
    activations = activation_bytes_per_pixel(graph)
    if activations is None:
        return TILE_BYTES_PER_PIXEL
    return math.ceil(ORT_ACTIVATION_FACTOR * activations)


def auto_tile(
    image_bytes: int, memory: int = MEMORY_BUDGET, bytes_per_pixel: int = TILE_BYTES_PER_PIXEL
) -> int:
    """The tile side for an image of ``image_bytes`` (as float32): the largest square tile
    whose working set fits in what ``memory`` leaves once the process, the input and the
    output are held; never below :data:`DEFAULT_TILE`. Its square is the pixels a window
    may hold (``Tiling.area``, what ``zoo run`` and :func:`predict_tiled` use by default)."""
    left = memory - PROCESS_BYTES - 2 * image_bytes
    return max(DEFAULT_TILE, math.isqrt(max(left, 0) // bytes_per_pixel))
