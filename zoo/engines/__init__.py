"""Engines: one class per weight format that zoo runs, on one base (:class:`Engine`).

``onnx`` (ONNX Runtime), ``torchscript`` and ``pytorch_state_dict`` (torch, on an
architecture zoo ships). The modules import onnxruntime and torch only when an engine is
made, so importing this package stays light.
"""

from __future__ import annotations

from zoo.engines.base import Engine
from zoo.engines.onnx import OnnxEngine
from zoo.engines.statedict import StateDictEngine
from zoo.engines.torchscript import TorchScriptEngine

__all__ = ["ENGINES", "Engine", "OnnxEngine", "StateDictEngine", "TorchScriptEngine"]

ENGINES: dict[str, type[Engine]] = {
    engine.format: engine for engine in (OnnxEngine, TorchScriptEngine, StateDictEngine)
}
"""Weight format → the engine class that runs it."""
