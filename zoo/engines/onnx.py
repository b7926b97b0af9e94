"""ONNX weights run by ONNX Runtime: on the CPU, or a CUDA GPU when its provider is there."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from zoo.engines.base import Engine, first_line, read_bytes
from zoo.errors import ImportFailedError, PackageError, require
from zoo.files import private_tempdir
from zoo.memory import onnx_runtime_bytes_per_pixel
from zoo.onnxgraph import bypass_identities

__all__ = ["OnnxEngine"]


class OnnxEngine(Engine):
    """An ONNX Runtime session of a package's ONNX graph, its identity nodes bypassed
    (exact: no output bit changes), the windows run one after another.

    On the CPU the session runs without ONNX Runtime's memory pattern, and its working
    memory per pixel is read from the graph (:func:`~zoo.memory.onnx_runtime_bytes_per_pixel`).
    """

    format = "onnx"

    def __init__(self, weights: Any, device: str) -> None:
        super().__init__(weights, device)
        ort = require("onnxruntime", "runtime")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise PackageError("device 'cuda' asked for, but onnxruntime has no CUDA provider")
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_mem_pattern = device == "cuda"
        # always from a file in a private folder: ONNX Runtime then refuses external data
        # outside that folder (from bytes, it would resolve it against the working directory)
        with private_tempdir("onnx") as tmp:
            model = Path(tmp) / "model.onnx"
            graph, bypassed = bypass_identities(read_bytes(weights))
            tile_bytes_per_pixel = onnx_runtime_bytes_per_pixel(graph)
            model.write_bytes(graph)
            if weights.external_data is not None:
                data_name = PurePosixPath(str(weights.external_data.source)).name
                (Path(tmp) / data_name).write_bytes(read_bytes(weights.external_data))
            try:
                session = ort.InferenceSession(str(model), options, providers=providers)
            except Exception as exc:  # onnxruntime's own exception types
                raise ImportFailedError(
                    f"ONNX Runtime cannot load the onnx weights {weights.source}: {first_line(exc)}"
                ) from exc
        first = session.get_inputs()[0]
        self._session = session
        self._input = first.name
        self.fixed_shape = [d if isinstance(d, int) and d > 0 else None for d in first.shape]
        self.bypassed = bypassed
        if device == "cpu":
            self.tile_bytes_per_pixel = tile_bytes_per_pixel

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: x})[0]

    @classmethod
    def best_device(cls) -> str:
        import onnxruntime

        return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
