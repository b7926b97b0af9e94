"""The compatibility report of a version: which runtimes and formats run its package.

Like the per-tool reports the bioimage.io collection keeps, computed by whoever publishes
(``zoo publish`` into a folder, or the HTTP client before it uploads) and stored with the
version in the index (:class:`zoo.index.Compatibility`). A check the publisher cannot run
(bioimageio.core or torch not installed) is recorded as ``not run`` with the reason, never
as passed.
"""

from __future__ import annotations

import importlib.util
import logging
import platform
import re
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from zoo.index import Compatibility, ToolCheck, now
from zoo.inference import FORMATS, FormatTest, runnable_formats
from zoo.package import Package

__all__ = ["CORE_TOOL", "compatibility_report"]

logger = logging.getLogger(__name__)

CORE_TOOL = "bioimageio.core test_model"
"""The ``tool`` of bioimage.io's own test in a report."""

_RUNTIME = {
    "onnx": ("ONNX Runtime", "onnxruntime"),
    "torchscript": ("PyTorch", "torch"),
    "pytorch_state_dict": ("PyTorch", "torch"),
}
"""Weight format → (runtime's name, its module)."""


def _version(distribution: str) -> str | None:
    try:
        return f"{distribution} {metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def compatibility_report(
    package: Package, zip_path: Path, *, tests: Sequence[FormatTest] | None = None
) -> Compatibility:
    """Run (or take) zoo's own test of every weight format, and bioimageio.core's
    ``test_model`` on ``zip_path``, and say which passed, with the tools' versions.

    ``tests`` are zoo's self-test results when the caller has them already (a publish
    runs them to decide whether to accept the package).
    """
    from zoo import __version__
    from zoo.inference import self_test

    zoo_tests = list(self_test(package) if tests is None else tests)
    checks = [_bioimageio_spec(package)]
    checks += [_zoo_check(fmt, zoo_tests) for fmt in runnable_formats(package)]
    checks += _core_checks(package, zip_path)
    python = f"Python {platform.python_version()}"
    return Compatibility(
        checked=now(),
        publisher=f"zoo {__version__}, {python}, {platform.system()} {platform.machine()}",
        checks=checks,
    )


def _bioimageio_spec(package: Package) -> ToolCheck:
    """The description validated (the package was loaded): bioimageio.spec's verdict."""
    return ToolCheck(
        tool="bioimageio.spec validation",
        version=_version("bioimageio.spec"),
        status="passed",
        detail=f"model format {package.descr.format_version}",
    )


def _zoo_check(fmt: str, tests: Sequence[FormatTest]) -> ToolCheck:
    """zoo's own engine for ``fmt`` on the package's test input and output."""
    runtime, module = _RUNTIME[fmt]
    test = next((t for t in tests if t.format == fmt), None)
    if test is None:
        status, detail = "not run", "zoo did not test this format"
    elif test.status == "skipped":
        status, detail = "not run", test.message
    elif test.status == "passed" and test.max_abs_error is not None:
        status, detail = "passed", f"test output reproduced, max abs error {test.max_abs_error:.2g}"
    else:
        status, detail = test.status, test.message
    return ToolCheck(
        tool=f"zoo ({runtime})", format=fmt, version=_version(module), status=status, detail=detail
    )


def _core_checks(package: Package, zip_path: Path) -> list[ToolCheck]:
    """bioimageio.core's ``test_model``, one verdict per weight format; ``not run`` for the
    formats whose framework (or bioimageio.core itself) is not installed here."""
    formats = runnable_formats(package)
    version = _version("bioimageio.core")
    if version is None or not _installed("bioimageio.core"):
        reason = "bioimageio.core is not installed here (pip install bioimageio.core)"
        return [_core(fmt, None, "not run", reason) for fmt in formats]
    runnable = [fmt for fmt in formats if _installed(_RUNTIME[fmt][1])]
    out = {
        fmt: _core(fmt, version, "not run", f"{_RUNTIME[fmt][1]} is not installed here")
        for fmt in formats
        if fmt not in runnable
    }
    if runnable:
        from bioimageio.core import test_model

        summaries = (
            [(runnable, test_model(zip_path))]
            if runnable == formats
            else [([fmt], test_model(zip_path, weight_format=fmt)) for fmt in runnable]
        )
        for tested, summary in summaries:
            for fmt in tested:
                out[fmt] = _core_verdict(fmt, version, summary.details)
    return [out[fmt] for fmt in formats]


def _core(fmt: str, version: str | None, status: Any, detail: str) -> ToolCheck:
    return ToolCheck(tool=CORE_TOOL, format=fmt, version=version, status=status, detail=detail)


def _core_verdict(fmt: str, version: str, details: Sequence[Any]) -> ToolCheck:
    """A format's verdict from test_model's details: its own (named "… (onnx)", "Run onnx
    inference …") and the format-less ones (validation) all passed."""
    named = [d for d in details if re.search(rf"\b{fmt}\b", d.name)]
    general = [d for d in details if not any(re.search(rf"\b{f}\b", d.name) for f in FORMATS)]
    failed = [d for d in (*general, *named) if d.status == "failed"]
    if failed:
        first = failed[0]
        msg = first.errors[0].msg if first.errors else ""
        return _core(fmt, version, "failed", f"{first.name}: {msg}".strip(": ")[:300])
    if not any(d.status == "passed" for d in named):
        return _core(fmt, version, "not run", "test_model ran nothing for this format")
    return _core(fmt, version, "passed", f"{len(named)} checks passed")
