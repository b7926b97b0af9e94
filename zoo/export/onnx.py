"""torch module → ONNX, with dynamic batch and spatial axes, verified with ONNX Runtime."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ExportError, require
from zoo.export.verify import ExportCheck, check_against_torch
from zoo.files import atomic_path
from zoo.onnxgraph import bypass_identities

__all__ = ["ONNX_OPSET", "export_onnx"]

logger = logging.getLogger(__name__)

ONNX_OPSET = 18
"""Opset written by zoo (ONNX Runtime ≥ 1.14 runs it; bioimage.io accepts ≥ 7)."""


QUIETED_LOGGER = "torch.onnx._internal.exporter._registration"
"""The exporter's logger that says, on every export, that torchvision's operators are
skipped (zoo's networks use none of them)."""


class _DropTorchvisionNotes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "torchvision is not installed" not in record.getMessage()


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence, around one export only, the exporter's noise that says nothing about the
    model: the torchvision notes and torch.export's own LeafSpec FutureWarning."""
    exporter_logger = logging.getLogger(QUIETED_LOGGER)
    notes = _DropTorchvisionNotes()
    exporter_logger.addFilter(notes)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r".*LeafSpec", FutureWarning)
            yield
    finally:
        exporter_logger.removeFilter(notes)


def export_onnx(
    module: Any,
    example: np.ndarray,
    path: Path,
    *,
    check_inputs: Sequence[np.ndarray] = (),
    atol: float = 1e-5,
    opset: int = ONNX_OPSET,
) -> ExportCheck:
    """Export ``module`` to a single-file ONNX model at ``path`` and verify it.

    Uses the torch.export-based exporter; axes 0 (batch) and 2.. (spatial) are dynamic.
    The export is run with ONNX Runtime on ``example`` and every array of ``check_inputs``
    and compared with the torch module; beyond ``atol`` an :class:`ExportError` is raised
    and ``path`` is not written.
    """
    torch = require("torch", "export")
    require("onnx", "export")
    ort = require("onnxruntime", "export")
    module = module.eval()
    x = torch.from_numpy(np.ascontiguousarray(example))
    auto = torch.export.Dim.AUTO
    dynamic = ({0: auto, **{d: auto for d in range(2, x.ndim)}},)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                module,
                (x,),
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=dynamic,
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        # the exporter writes torch.chunk(x, 1) as a one-output Split, a copy ONNX Runtime runs
        model_bytes, _ = bypass_identities(program.model_proto.SerializeToString())
    except Exception as exc:
        raise ExportError(f"torch.onnx.export failed for {type(module).__name__}: {exc}") from exc
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])

    def run(arr: np.ndarray) -> np.ndarray:
        return session.run(None, {"input": arr})[0]

    check = check_against_torch("onnx", module, run, [example, *check_inputs], atol)
    with atomic_path(path) as tmp:
        tmp.write_bytes(model_bytes)
    logger.info("wrote %s (max abs error %.2g)", path, check.max_abs_error)
    return check
