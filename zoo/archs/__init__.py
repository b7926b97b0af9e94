"""The network architectures zoo ships, and the rule for running a package's architecture.

Each architecture is a self-contained source file in this folder (torch only), copied as it
is into the packages zoo builds. A package's ``pytorch_state_dict`` weights run only on one
of these files, recognised by its sha256, or on zoo's port of CAREamics's library UNet:
zoo never executes Python code that a package brings with it. Both the runtime
(:mod:`zoo.engines`) and the exporters (:mod:`zoo.export`) import this module.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from zoo.errors import ImportFailedError, PackageError
from zoo.hashes import sha256_bytes, sha256_file

__all__ = [
    "ARCHITECTURES",
    "ARCHS_DIR",
    "known_architecture",
    "load_architecture",
    "load_architecture_file",
    "refusal_reason",
]

ARCHS_DIR = Path(__file__).parent
"""The folder of the architecture source files."""

ARCHITECTURES: dict[str, tuple[str, str]] = {
    "careamics-unet": ("careamics_unet.py", "UNet"),
    "csbdeep-unet": ("csbdeep_unet.py", "CSBDeepUNet"),
}
"""Architecture name → (source file in :data:`ARCHS_DIR`, class name)."""


def load_architecture(name: str) -> tuple[Path, Any]:
    """The source file and class of a named architecture (the file is imported standalone)."""
    if name not in ARCHITECTURES:
        raise ImportFailedError(
            f"unknown architecture {name!r}: expected one of {sorted(ARCHITECTURES)}"
        )
    filename, cls_name = ARCHITECTURES[name]
    path = ARCHS_DIR / filename
    return path, load_architecture_file(path, cls_name)


def load_architecture_file(path: Path, cls_name: str) -> Any:
    """Import one of zoo's own self-contained architecture files and return the class."""
    spec = importlib.util.spec_from_file_location(f"zoo_arch_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, cls_name)


def known_architecture(arch: Any) -> tuple[Path, str]:
    """zoo's own copy of a package's architecture (a bioimage.io architecture description)
    as (source file, class name), or PackageError when zoo has none."""
    callable_name = str(arch.callable)
    if hasattr(arch, "source"):
        digest = sha256_bytes(arch.get_reader().read())
        for filename, cls in ARCHITECTURES.values():
            path = ARCHS_DIR / filename
            if cls == callable_name and sha256_file(path) == digest:
                return path, cls
        raise PackageError(
            f"architecture file {arch.source} is not one zoo ships; zoo does not run code "
            "from packages"
        )
    if str(arch.import_from).startswith("careamics.models") and callable_name == "UNet":
        filename, cls = ARCHITECTURES["careamics-unet"]
        return ARCHS_DIR / filename, cls
    raise PackageError(f"architecture {arch.import_from}.{callable_name} is not known to zoo")


def refusal_reason(exc: Exception) -> str:
    """torch's own reason for refusing a pickle, without its boilerplate paragraphs."""
    paragraphs = [p.strip() for p in str(exc).split("\n\n") if p.strip()]
    boilerplate = ("Weights only load failed", "Check the documentation")
    reason = [p for p in paragraphs if not p.startswith(boilerplate)]
    return " ".join(" ".join(reason).split()).rstrip(".") or "unsupported pickle content"
