"""torch module → TorchScript (traced in eval mode), verified against the module."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ExportError, require
from zoo.export.verify import ExportCheck, check_against_torch
from zoo.files import atomic_path

__all__ = ["export_torchscript"]

logger = logging.getLogger(__name__)


def export_torchscript(
    module: Any,
    example: np.ndarray,
    path: Path,
    *,
    check_inputs: Sequence[np.ndarray] = (),
    atol: float = 1e-5,
) -> ExportCheck:
    """Trace ``module`` in eval mode (batch norm uses its running statistics), save, verify.

    The saved file is loaded back and run on ``example`` and every array of ``check_inputs``
    (use other shapes to prove the trace is not shape-specialised); beyond ``atol`` an
    :class:`ExportError` is raised and ``path`` is not written.
    """
    torch = require("torch", "export")
    module = module.eval()
    x = torch.from_numpy(np.ascontiguousarray(example))
    buffer = io.BytesIO()
    # bioimage.io's torchscript format needs torch.jit, which torch now marks deprecated.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
        try:
            with torch.inference_mode():
                traced = torch.jit.trace(module, x, check_trace=False)
            torch.jit.save(traced, buffer)
        except Exception as exc:
            msg = f"torch.jit.trace failed for {type(module).__name__}: {exc}"
            raise ExportError(msg) from exc
        data = buffer.getvalue()
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu").eval()

    def run(arr: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return loaded(torch.from_numpy(np.ascontiguousarray(arr))).numpy()

    check = check_against_torch("torchscript", module, run, [example, *check_inputs], atol)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    logger.info("wrote %s (max abs error %.2g)", path, check.max_abs_error)
    return check
