"""The engine base class: a network loaded from one weight format onto one device."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from zoo.memory import TILE_BYTES_PER_PIXEL

__all__ = ["Engine", "first_line", "read_bytes"]


class Engine(ABC):
    """A network loaded from a package's weights of one format onto one device.

    Subclasses load the weights in ``__init__`` and run them in :meth:`forward`. What an
    engine knows about its network (a fixed input shape, the graph nodes it skips, its
    working memory per pixel) is in attributes, which :class:`~zoo.inference.Predictor`
    and :mod:`zoo.tiling` read.
    """

    format: ClassVar[str]
    """The bioimage.io weight format the engine runs, e.g. ``"onnx"``."""

    fixed_shape: list[int | None] | None = None
    """The input shape the network itself states, per axis an int where it is fixed and
    None where it is free; None when it states none (an ONNX graph exported with fixed
    sizes states them)."""

    bypassed: Sequence[str] = ()
    """Nodes of the network's graph the engine runs without (:mod:`zoo.onnxgraph`)."""

    tile_bytes_per_pixel: int = TILE_BYTES_PER_PIXEL
    """Working memory per pixel of a window that :func:`~zoo.memory.auto_tile` plans with."""

    def __init__(self, weights: Any, device: str) -> None:
        self.device = device
        """Where the network runs: ``"cpu"`` or ``"cuda"``."""

    @abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """The network's output for a contiguous float32 tensor laid out as its input."""

    @classmethod
    def best_device(cls) -> str:
        """``"cuda"`` when this engine can use a CUDA GPU here, else ``"cpu"``."""
        return "cpu"


def read_bytes(file_descr: Any) -> bytes:
    """The contents of a file that a package's description names."""
    return file_descr.get_reader().read()


def first_line(exc: BaseException) -> str:
    """An exception as its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"
