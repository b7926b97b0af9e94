"""zoo: a registry and runner for pretrained microscopy denoisers.

The Python API (docs/python-api.md)::

    import zoo

    path = zoo.fetch("n2v-ihc-careamics")          # a verified package zip, cached
    report = zoo.check("n2v-ihc-careamics", "image.tif")
    result = zoo.run("n2v-ihc-careamics", "image.tif", "denoised.ome.tif")
    result.provenance.model.sha256

Everything but the errors is imported on first use, so ``import zoo`` stays light: it
loads neither numpy nor torch nor ONNX Runtime.
"""

import importlib
import typing

from zoo.errors import (
    AuthError,
    DependencyError,
    DomainMismatchError,
    ExportError,
    ImageError,
    ImportFailedError,
    IncompatibleImageError,
    IntegrityError,
    ModelNotFoundError,
    OutputExistsError,
    PackageError,
    RegistryError,
    SpecError,
    TrainConfigError,
    UnsafeArchiveError,
    UploadTooLargeError,
    ZooError,
)

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str]] = {
    "fetch": ("zoo.registry", "fetch"),
    "Registry": ("zoo.registry", "Registry"),
    "open_package": ("zoo.package", "load_package"),
    "Package": ("zoo.package", "Package"),
    "open_model": ("zoo.runner", "open_model"),
    "ModelRef": ("zoo.runner", "ModelRef"),
    "check": ("zoo.runner", "check"),
    "run": ("zoo.runner", "run"),
    "RunResult": ("zoo.runner", "RunResult"),
    "DomainReport": ("zoo.domain", "DomainReport"),
    "Provenance": ("zoo.provenance", "Provenance"),
}
"""Public name -> (module, attribute), imported by :func:`__getattr__` on first use."""

if typing.TYPE_CHECKING:
    from zoo.domain import DomainReport
    from zoo.package import Package
    from zoo.package import load_package as open_package
    from zoo.provenance import Provenance
    from zoo.registry import Registry, fetch
    from zoo.runner import ModelRef, RunResult, check, open_model, run

__all__ = [
    "AuthError",
    "DependencyError",
    "DomainMismatchError",
    "DomainReport",
    "ExportError",
    "ImageError",
    "ImportFailedError",
    "IncompatibleImageError",
    "IntegrityError",
    "ModelNotFoundError",
    "ModelRef",
    "OutputExistsError",
    "Package",
    "PackageError",
    "Provenance",
    "Registry",
    "RegistryError",
    "RunResult",
    "SpecError",
    "TrainConfigError",
    "UnsafeArchiveError",
    "UploadTooLargeError",
    "ZooError",
    "__version__",
    "check",
    "fetch",
    "open_model",
    "open_package",
    "run",
]


def __getattr__(name: str) -> typing.Any:
    """Import a public name of the API on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
