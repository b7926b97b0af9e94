"""Numerical comparison of an export with the torch module it came from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.errors import ExportError

__all__ = ["ExportCheck", "check_against_torch", "torch_forward"]


@dataclass(frozen=True)
class ExportCheck:
    """How closely an exported model reproduced the torch module."""

    format: str
    """Weight format: "onnx" or "torchscript"."""
    max_abs_error: float
    """Largest absolute difference over every checked input."""
    shapes: tuple[tuple[int, ...], ...]
    """Input shapes that were checked."""


def torch_forward(module: Any, x: np.ndarray) -> np.ndarray:
    """Run ``module`` (in eval mode, without gradients) on a numpy array."""
    import torch

    module.eval()
    with torch.inference_mode():
        return module(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def check_against_torch(
    fmt: str,
    module: Any,
    run: Callable[[np.ndarray], np.ndarray],
    inputs: Sequence[np.ndarray],
    atol: float,
) -> ExportCheck:
    """Compare ``run`` with the torch module on every input; raise :class:`ExportError` if off."""
    worst = 0.0
    for x in inputs:
        expected = torch_forward(module, x)
        got = run(x)
        if got.shape != expected.shape:
            raise ExportError(
                f"{fmt} export gives shape {got.shape} for input {x.shape}, "
                f"the torch module {expected.shape}"
            )
        err = float(np.max(np.abs(got.astype(np.float64) - expected))) if got.size else 0.0
        if not np.isfinite(err) or err > atol:
            raise ExportError(
                f"{fmt} export does not reproduce the torch module on input {x.shape}: "
                f"max abs error {err:.3g} > tolerance {atol:g}; nothing was written. "
                "Check that the module is in eval mode and has no data-dependent control flow."
            )
        worst = max(worst, err)
    return ExportCheck(fmt, worst, tuple(tuple(x.shape) for x in inputs))
