"""TorchScript weights run by torch, and the base of the engines that run torch modules."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from zoo.engines.base import Engine, first_line, read_bytes
from zoo.errors import ImportFailedError, require

__all__ = ["TorchEngine", "TorchScriptEngine"]


class TorchEngine(Engine):
    """An engine that runs a torch module (set as ``_module`` by the subclass), in
    inference mode, on the engine's device."""

    _module: Any

    def __init__(self, weights: Any, device: str) -> None:
        super().__init__(weights, device)
        self._torch = require("torch", "export")

    def forward(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            return self._module(torch.from_numpy(x).to(self.device)).cpu().numpy()

    @classmethod
    def best_device(cls) -> str:
        try:
            import torch
        except ImportError:
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"


class TorchScriptEngine(TorchEngine):
    """A package's TorchScript module, loaded by ``torch.jit.load``."""

    format = "torchscript"

    def __init__(self, weights: Any, device: str) -> None:
        import warnings

        super().__init__(weights, device)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
            try:
                module = self._torch.jit.load(io.BytesIO(read_bytes(weights)), map_location=device)
            except Exception as exc:  # torch raises RuntimeError and others for a bad archive
                raise ImportFailedError(
                    f"torch cannot load the torchscript weights {weights.source}: {first_line(exc)}"
                ) from exc
        self._module = module.eval()
