"""zoo: a registry and runner for pretrained microscopy denoisers."""

from zoo.errors import (
    DependencyError,
    DomainMismatchError,
    ExportError,
    ImageError,
    ImportFailedError,
    IntegrityError,
    ModelNotFoundError,
    PackageError,
    RegistryError,
    SpecError,
    UnsafeArchiveError,
    ZooError,
)

__version__ = "0.1.0"

__all__ = [
    "DependencyError",
    "DomainMismatchError",
    "ExportError",
    "ImageError",
    "ImportFailedError",
    "IntegrityError",
    "ModelNotFoundError",
    "PackageError",
    "RegistryError",
    "SpecError",
    "UnsafeArchiveError",
    "ZooError",
    "__version__",
]
