"""State-dict weights run by torch on one of the architectures zoo ships (:mod:`zoo.archs`)."""

from __future__ import annotations

import io
from typing import Any

from zoo.archs import known_architecture, load_architecture_file, refusal_reason
from zoo.engines.base import first_line, read_bytes
from zoo.engines.torchscript import TorchEngine
from zoo.errors import ImportFailedError

__all__ = ["StateDictEngine"]


class StateDictEngine(TorchEngine):
    """A package's ``pytorch_state_dict`` weights in zoo's own copy of its architecture.

    The architecture must be one zoo ships (:func:`~zoo.archs.known_architecture`); the
    weights are read with ``torch.load(weights_only=True)``, so no code is ever unpickled.
    """

    format = "pytorch_state_dict"

    def __init__(self, weights: Any, device: str) -> None:
        super().__init__(weights, device)
        torch = self._torch
        path, cls_name = known_architecture(weights.architecture)
        cls = load_architecture_file(path, cls_name)
        try:
            module = cls(**dict(weights.architecture.kwargs))
            state = torch.load(
                io.BytesIO(read_bytes(weights)), map_location=device, weights_only=True
            )
            module.load_state_dict(state)
        except Exception as exc:  # bad kwargs, a pickle that is not only tensors, wrong shapes
            import pickle

            why = first_line(exc)
            if isinstance(exc, pickle.UnpicklingError):
                why = f"refused by torch.load(weights_only=True): {refusal_reason(exc)}"
            raise ImportFailedError(
                f"cannot load the pytorch_state_dict weights {weights.source} into {cls_name}: "
                f"{why}; zoo never unpickles code"
            ) from exc
        self._module = module.to(device).eval()
