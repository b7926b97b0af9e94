"""Run a package's weights with its pre/post-processing, and test that they reproduce it.

Engines: ONNX Runtime (the default; CPU, or CUDA when the CUDA provider is available),
TorchScript, and ``pytorch_state_dict`` when the architecture is one zoo ships (compared by
sha256 of the source file, or CAREamics's library UNet, which zoo has ported). zoo never
executes Python code that a package brings with it.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np

from zoo.archs import known_architecture, load_architecture_file, refusal_reason
from zoo.errors import ImportFailedError, PackageError, require
from zoo.files import private_tempdir
from zoo.onnxgraph import activation_bytes_per_pixel, bypass_identities
from zoo.package import Package
from zoo.processing import apply_processing

__all__ = [
    "FormatTest",
    "Predictor",
    "check_predictor",
    "self_test",
    "tensor_axes",
    "trusted_predictor",
]

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript", "pytorch_state_dict")
"""Weight formats zoo can run, in order of preference."""

TILE_BYTES_PER_PIXEL = 1450
"""Working memory per pixel of a tile for networks whose activations zoo cannot read from
the graph (TorchScript, state dicts, ONNX graphs with ops
:func:`~zoo.onnxgraph.activation_bytes_per_pixel` does not know): above what ONNX Runtime
took for the zoo's UNets with its memory pattern on (1.09-1.45 kB for n2v-ihc-careamics on
448²-1056² windows; 0.73-0.86 kB for n2v2-fibsem-em); they take about half without it."""

ORT_ACTIVATION_FACTOR = 2.0
"""ONNX Runtime's working memory on the CPU (memory pattern off, :func:`_onnx_engine`) per
byte of the graph's peak of live activations: measured 1.43-1.75 for the CAREamics and
CARE UNets of the zoo (512 B of activations per pixel) and 1.55-1.84 for N2V2 (256 B), on
448²-1312² windows (peak RSS of one session per process, docs/performance.md). The arena
grows in powers of two, so the ratio varies with the window."""


Engine = Callable[[np.ndarray], np.ndarray]


def tensor_axes(tensor_descr: Any) -> str:
    """Axes of a tensor description as a string: b (batch), c (channel), then axis ids."""
    letters = {"batch": "b", "channel": "c"}
    return "".join(letters.get(a.type, str(a.id)) for a in tensor_descr.axes)


def _read(file_descr: Any) -> bytes:
    return file_descr.get_reader().read()


def _onnx_engine(weights: Any, device: str) -> Engine:
    ort = require("onnxruntime", "runtime")
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise PackageError("device 'cuda' asked for, but onnxruntime has no CUDA provider")
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # tiles run one after another
    # on the CPU, the memory pattern (one block for a run's planned activations, taken from
    # an arena that grows in powers of two) held 1.6-1.9x the memory of tensors allocated
    # one by one from the arena, at the same speed (docs/performance.md)
    options.enable_mem_pattern = device == "cuda"
    # always from a file in a private folder: ONNX Runtime then refuses external data outside
    # that folder (from bytes, it would resolve it against the working directory, '..' too)
    with private_tempdir("onnx") as tmp:
        model = Path(tmp) / "model.onnx"
        graph, bypassed = bypass_identities(_read(weights))  # exact: no output bit changes
        activations = activation_bytes_per_pixel(graph)
        model.write_bytes(graph)
        if weights.external_data is not None:
            data_name = PurePosixPath(str(weights.external_data.source)).name
            (Path(tmp) / data_name).write_bytes(_read(weights.external_data))
        try:
            session = ort.InferenceSession(str(model), options, providers=providers)
        except Exception as exc:  # onnxruntime's own exception types
            raise ImportFailedError(
                f"ONNX Runtime cannot load the onnx weights {weights.source}: {_first_line(exc)}"
            ) from exc
    first = session.get_inputs()[0]
    name = first.name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: x})[0]

    # an ONNX graph exported with fixed sizes (e.g. by bioimageio.core add_weights) states them
    run.fixed_shape = [d if isinstance(d, int) and d > 0 else None for d in first.shape]  # type: ignore[attr-defined]
    run.bypassed = bypassed  # type: ignore[attr-defined]
    if activations is not None and device == "cpu":
        run.tile_bytes_per_pixel = math.ceil(ORT_ACTIVATION_FACTOR * activations)  # type: ignore[attr-defined]
    return run


def _torchscript_engine(weights: Any, device: str) -> Engine:
    import warnings

    torch = require("torch", "export")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
        try:
            module = torch.jit.load(io.BytesIO(_read(weights)), map_location=device).eval()
        except Exception as exc:  # torch raises RuntimeError and others for a bad archive
            raise ImportFailedError(
                f"torch cannot load the torchscript weights {weights.source}: {_first_line(exc)}"
            ) from exc

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x).to(device)).cpu().numpy()

    return run


def _state_dict_engine(weights: Any, device: str) -> Engine:
    torch = require("torch", "export")
    path, cls_name = known_architecture(weights.architecture)
    cls = load_architecture_file(path, cls_name)
    try:
        module = cls(**dict(weights.architecture.kwargs))
        state = torch.load(io.BytesIO(_read(weights)), map_location=device, weights_only=True)
        module.load_state_dict(state)
    except Exception as exc:  # bad kwargs, a pickle that is not only tensors, wrong shapes
        import pickle

        why = _first_line(exc)
        if isinstance(exc, pickle.UnpicklingError):
            why = f"refused by torch.load(weights_only=True): {refusal_reason(exc)}"
        raise ImportFailedError(
            f"cannot load the pytorch_state_dict weights {weights.source} into {cls_name}: "
            f"{why}; zoo never unpickles code"
        ) from exc
    module = module.to(device).eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x).to(device)).cpu().numpy()

    return run


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


ENGINES: dict[str, Callable[[Any, str], Engine]] = {
    "onnx": _onnx_engine,
    "torchscript": _torchscript_engine,
    "pytorch_state_dict": _state_dict_engine,
}


def _auto_device(fmt: str) -> str:
    """ "cuda" when the engine of ``fmt`` can use a CUDA GPU here, else "cpu"."""
    if fmt == "onnx":
        import onnxruntime

        return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _fixed_sizes(package: Package, axes: str, engine: Engine) -> dict[int, int]:
    declared = [a.size if isinstance(a.size, int) else None for a in package.descr.inputs[0].axes]
    graph = list(getattr(engine, "fixed_shape", None) or [None] * len(axes))
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
        available = [f for f in FORMATS if getattr(package.descr.weights, f) is not None]
        if not available:
            raise PackageError(
                f"{package.name} has no weights zoo can run; expected one of {list(FORMATS)}"
            )
        fmt = weight_format or available[0]
        if fmt not in available:
            raise PackageError(f"{package.name} has no {fmt!r} weights; it has {available}")
        self.package = package
        self.weight_format = fmt
        self.device = _auto_device(fmt) if device == "auto" else device
        self.input_axes = tensor_axes(package.descr.inputs[0])
        self.output_axes = tensor_axes(package.descr.outputs[0])
        self._run = ENGINES[fmt](getattr(package.descr.weights, fmt), self.device)
        self.bypassed: list[str] = list(getattr(self._run, "bypassed", []))
        """Nodes of the ONNX graph the session runs without (:mod:`zoo.onnxgraph`)."""
        self.tile_bytes_per_pixel: int = getattr(
            self._run, "tile_bytes_per_pixel", TILE_BYTES_PER_PIXEL
        )
        """Working memory per pixel of a tile that :func:`~zoo.tiling.auto_tile` plans with:
        for an ONNX graph whose activations zoo can read
        (:func:`~zoo.onnxgraph.activation_bytes_per_pixel`) :data:`ORT_ACTIVATION_FACTOR`
        times their peak, else :data:`TILE_BYTES_PER_PIXEL`."""
        self.fixed_sizes = _fixed_sizes(package, self.input_axes, self._run)
        """Spatial axis index → the only size the model takes: declared as a fixed size in
        rdf.yaml, or fixed in the ONNX graph (bioimageio.core's add_weights exports so)."""

    def network(self, x: np.ndarray) -> np.ndarray:
        """The network alone, on an already pre-processed float32 tensor."""
        return self._run(np.ascontiguousarray(x, dtype=np.float32))

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
    x = np.load(io.BytesIO(_read(descr.inputs[0].test_tensor)), allow_pickle=False)
    expected = np.load(io.BytesIO(_read(descr.outputs[0].test_tensor)), allow_pickle=False)
    return x, expected


def check_predictor(predictor: Predictor) -> FormatTest:
    """Does ``predictor`` reproduce its package's test output (bioimage.io tolerances)?"""
    fmt = predictor.weight_format
    try:
        x, expected = _test_tensors(predictor.package)
        got = predictor(x)
    except Exception as exc:  # whatever the engine raises on a broken graph or tensor
        msg = f"{fmt} weights fail on the package's test input: {_first_line(exc)}"
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
    formats = (
        [weight_format]
        if weight_format
        else [f for f in FORMATS if getattr(package.descr.weights, f) is not None]
    )
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
        others = [
            f
            for f in FORMATS
            if f != weight_format and getattr(package.descr.weights, f) is not None
        ]
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
