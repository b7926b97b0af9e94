"""Run a package's weights with its pre/post-processing, and test that they reproduce it.

The weights run on an engine of :mod:`zoo.engines`: ONNX Runtime (the default; CPU, or CUDA
when the CUDA provider is available), TorchScript, and ``pytorch_state_dict`` when the
architecture is one zoo ships (:mod:`zoo.archs`). zoo never executes Python code that a
package brings with it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from zoo.engines import ENGINES, Engine
from zoo.engines.base import first_line, read_bytes
from zoo.errors import ImportFailedError, PackageError
from zoo.package import Package
from zoo.processing import apply_processing

__all__ = [
    "FormatTest",
    "Predictor",
    "check_predictor",
    "runnable_formats",
    "self_test",
    "tensor_axes",
    "trusted_predictor",
]

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript", "pytorch_state_dict")
"""Weight formats zoo can run, in order of preference."""


def runnable_formats(package: Package) -> list[str]:
    """The weight formats of ``package`` that zoo can run, in the order of :data:`FORMATS`."""
    return [f for f in FORMATS if getattr(package.descr.weights, f) is not None]


def tensor_axes(tensor_descr: Any) -> str:
    """Axes of a tensor description as a string: b (batch), c (channel), then axis ids."""
    letters = {"batch": "b", "channel": "c"}
    return "".join(letters.get(a.type, str(a.id)) for a in tensor_descr.axes)


def _fixed_sizes(package: Package, axes: str, engine: Engine) -> dict[int, int]:
    declared = [a.size if isinstance(a.size, int) else None for a in package.descr.inputs[0].axes]
    graph = list(engine.fixed_shape or [None] * len(axes))
    fixed = {}
    for i, axis in enumerate(axes):
        size = declared[i] if i < len(declared) else None
        size = size or (graph[i] if i < len(graph) else None)
        if axis not in "bc" and size:
            fixed[i] = int(size)
    return fixed


class Predictor:
    """A package's network with its pre/post-processing, for one weight format and device."""

    def __init__(
        self, package: Package, *, weight_format: str | None = None, device: str = "cpu"
    ) -> None:
        available = runnable_formats(package)
        if not available:
            raise PackageError(
                f"{package.name} has no weights zoo can run; expected one of {list(FORMATS)}"
            )
        fmt = weight_format or available[0]
        if fmt not in available:
            raise PackageError(f"{package.name} has no {fmt!r} weights; it has {available}")
        self.package = package
        self.weight_format = fmt
        self.device = ENGINES[fmt].best_device() if device == "auto" else device
        self.input_axes = tensor_axes(package.descr.inputs[0])
        self.output_axes = tensor_axes(package.descr.outputs[0])
        self.engine: Engine = ENGINES[fmt](getattr(package.descr.weights, fmt), self.device)
        """The loaded network (:mod:`zoo.engines`)."""
        self.fixed_sizes = _fixed_sizes(package, self.input_axes, self.engine)
        """Spatial axis index → the only size the model takes: declared as a fixed size in
        rdf.yaml, or fixed in the ONNX graph (bioimageio.core's add_weights exports so)."""

    @property
    def bypassed(self) -> list[str]:
        """Nodes of the ONNX graph the session runs without (:mod:`zoo.onnxgraph`)."""
        return list(self.engine.bypassed)

    @property
    def tile_bytes_per_pixel(self) -> int:
        """Working memory per pixel of a window that :func:`~zoo.memory.auto_tile` plans
        with, as the engine reports it."""
        return self.engine.tile_bytes_per_pixel

    def network(self, x: np.ndarray) -> np.ndarray:
        """The network alone, on an already pre-processed float32 tensor."""
        return self.engine.forward(np.ascontiguousarray(x, dtype=np.float32))

    def __call__(self, x: np.ndarray, *, stats_source: np.ndarray | None = None) -> np.ndarray:
        """Pre-process, run, post-process a tensor laid out as the input axes."""
        inp, out = self.package.descr.inputs[0], self.package.descr.outputs[0]
        pre = apply_processing(x, self.input_axes, inp.preprocessing, stats_source=stats_source)
        y = self.network(pre)
        return apply_processing(y, self.output_axes, out.postprocessing)


@dataclass(frozen=True)
class FormatTest:
    """Whether one weight format reproduces the package's test output."""

    format: str
    status: Literal["passed", "failed", "skipped"]
    message: str
    mismatched_ppm: float | None = None
    max_abs_error: float | None = None


def _tolerance(descr: Any, fmt: str) -> tuple[float, float, float]:
    """(rtol, atol, mismatched elements per million) as bioimageio.core reads them."""
    bio = descr.config.bioimageio
    rtol, atol, ppm = 1e-3, 1e-3, 100.0
    legacy = (bio.model_extra or {}).get("test_kwargs", {}).get(fmt)
    if legacy:
        rtol = legacy.get("relative_tolerance", 1e-3)
        atol = legacy.get("absolute_tolerance", 1e-3)
    for tol in bio.reproducibility_tolerance:
        if not tol.weights_formats or fmt in tol.weights_formats:
            ppm = tol.mismatched_elements_per_million
            return tol.relative_tolerance, tol.absolute_tolerance, ppm
    return rtol, atol, ppm


def _test_tensors(package: Package) -> tuple[np.ndarray, np.ndarray]:
    descr = package.descr
    x = np.load(io.BytesIO(read_bytes(descr.inputs[0].test_tensor)), allow_pickle=False)
    expected = np.load(io.BytesIO(read_bytes(descr.outputs[0].test_tensor)), allow_pickle=False)
    return x, expected


def check_predictor(predictor: Predictor) -> FormatTest:
    """Does ``predictor`` reproduce its package's test output (bioimage.io tolerances)?"""
    fmt = predictor.weight_format
    try:
        x, expected = _test_tensors(predictor.package)
        got = predictor(x)
    except Exception as exc:  # whatever the engine raises on a broken graph or tensor
        msg = f"{fmt} weights fail on the package's test input: {first_line(exc)}"
        return FormatTest(fmt, "failed", msg)
    return _compare(fmt, got, expected, *_tolerance(predictor.package.descr, fmt))


def self_test(package: Package) -> list[FormatTest]:
    """Run every weight format on the test input and compare with the test output.

    A format zoo cannot run (an architecture it does not ship, torch not installed) is
    ``skipped`` with the reason; one whose weights cannot be loaded safely (a pickle that
    is not only tensors, a corrupt file, external data outside the package) or that runs
    and disagrees is ``failed``.
    """
    results = []
    for fmt in FORMATS:
        if getattr(package.descr.weights, fmt) is None:
            continue
        try:
            predictor = Predictor(package, weight_format=fmt)
        except ImportFailedError as exc:  # the weights are broken or unsafe
            results.append(FormatTest(fmt, "failed", str(exc)))
            continue
        except (PackageError, ImportError) as exc:
            results.append(FormatTest(fmt, "skipped", str(exc)))
            continue
        results.append(check_predictor(predictor))
    return results


def trusted_predictor(
    package: Package, *, weight_format: str | None = None, device: str = "cpu"
) -> tuple[Predictor, list[FormatTest]]:
    """A predictor whose weights reproduce the package's own test output, and every test run.

    With ``weight_format`` only that format is tried; otherwise formats are tried in the
    order of :data:`FORMATS` and one that cannot run or fails its test is passed over (and
    reported). Raises :class:`PackageError` naming each format's problem when none passes.
    """
    formats = [weight_format] if weight_format else runnable_formats(package)
    tests = []
    for fmt in formats:
        try:
            predictor = Predictor(package, weight_format=fmt, device=device)
        except ImportFailedError as exc:
            tests.append(FormatTest(fmt, "failed", str(exc)))
            continue
        except (PackageError, ImportError) as exc:
            tests.append(FormatTest(fmt, "skipped", str(exc)))
            continue
        result = check_predictor(predictor)
        tests.append(result)
        if result.status == "passed":
            return predictor, tests
    problems = "; ".join(f"{t.format}: {t.message}" for t in tests) or "no weights"
    if weight_format:
        others = [f for f in runnable_formats(package) if f != weight_format]
        raise PackageError(
            f"the {weight_format} weights of {package.name} cannot be trusted, so zoo will not "
            f"run them ({problems}). Choose another --backend: the package also has "
            f"{', '.join(others) or 'no other format'}."
        )
    raise PackageError(
        f"no weight format of {package.name} reproduces its own test output, so zoo will not "
        f"run it ({problems})."
    )


def _compare(
    fmt: str, got: np.ndarray, expected: np.ndarray, rtol: float, atol: float, ppm_ok: float
) -> FormatTest:
    if got.shape != expected.shape:
        msg = f"output shape {got.shape} differs from the test output's {expected.shape}"
        return FormatTest(fmt, "failed", msg)
    diff = np.abs(got.astype(np.float64) - expected)
    bad = diff > atol + rtol * np.abs(expected)
    ppm = float(bad.mean() * 1e6)
    err = float(diff.max())
    if ppm > ppm_ok:
        msg = (
            f"{fmt} weights do not reproduce the test output: {ppm / 1e4:.1f}% of elements "
            f"differ by more than atol={atol:g} + rtol={rtol:g}·|expected| "
            f"(max abs error {err:.3g})"
        )
        return FormatTest(fmt, "failed", msg, ppm, err)
    return FormatTest(fmt, "passed", f"max abs error {err:.3g}", ppm, err)
