"""zoo: a registry and runner for pretrained microscopy denoisers."""

from zoo.errors import (
    AuthError,
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
    UploadTooLargeError,
    ZooError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError",
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
    "UploadTooLargeError",
    "ZooError",
    "__version__",
]
