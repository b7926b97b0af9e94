"""The one error tree of zoo.

Every error zoo raises on purpose is a :class:`ZooError`; each subclass also inherits the
builtin exception a caller would naturally catch, so ``except ValueError`` keeps working::

    ZooError (Exception)
    ├── SpecError (ValueError)            a card or rdf.yaml is invalid or incomplete
    ├── PackageError (ValueError)         a package cannot be read or written
    │   ├── UnsafeArchiveError            an archive member would escape its folder
    │   └── OutputExistsError (FileExistsError)  an output is there already (no --overwrite)
    ├── ModelNotFoundError (LookupError)  no such model id or version in a registry
    ├── IntegrityError (ValueError)       bytes do not match their recorded sha256
    ├── RegistryError (RuntimeError)      a registry refuses an operation (e.g. version exists)
    │   └── UploadTooLargeError           an upload exceeds a registry server's size limit
    ├── AuthError (PermissionError)       a registry server needs a token, or refused the one given
    ├── ImportFailedError (ValueError)    trained weights cannot be turned into a torch module
    ├── TrainConfigError (ValueError)     training settings are invalid or contradict each other
    ├── ExportError (RuntimeError)        an export does not reproduce its source numerically
    ├── ImageError (ValueError)           an image is unreadable or unusable (NaN, wrong axes)
    ├── DomainMismatchError (ValueError)  an image does not match a model's domain
    │   └── IncompatibleImageError        the model cannot take the image (channels, dimensions)
    └── DependencyError (ImportError)     an optional dependency (torch, …) is not installed

Messages say what was expected, what was found, and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "DependencyError",
    "DomainMismatchError",
    "ExportError",
    "ImageError",
    "ImportFailedError",
    "IncompatibleImageError",
    "IntegrityError",
    "ModelNotFoundError",
    "OutputExistsError",
    "PackageError",
    "RegistryError",
    "SpecError",
    "TrainConfigError",
    "UnsafeArchiveError",
    "UploadTooLargeError",
    "ZooError",
]


class ZooError(Exception):
    """Base of every error zoo raises on purpose."""


class SpecError(ZooError, ValueError):
    """A denoiser card or bioimage.io description is invalid or incomplete."""


class PackageError(ZooError, ValueError):
    """A model package cannot be read or written."""


class UnsafeArchiveError(PackageError):
    """An archive member would be written outside its target folder."""


class OutputExistsError(PackageError, FileExistsError):
    """An output (a file, folder or training output) exists and overwriting was not asked for."""


class ModelNotFoundError(ZooError, LookupError):
    """No model with this id (or version) exists in the registry."""


class IntegrityError(ZooError, ValueError):
    """Bytes do not match the sha256 recorded for them."""


class RegistryError(ZooError, RuntimeError):
    """The registry refuses an operation (a version exists with other bytes, …)."""


class UploadTooLargeError(RegistryError):
    """An upload exceeds the size limit of a registry server (``zoo serve --max-upload-mb``)."""


class AuthError(ZooError, PermissionError):
    """A registry server needs a bearer token for this, or does not accept the one given."""


class ImportFailedError(ZooError, ValueError):
    """Trained weights (checkpoint, Keras folder, state dict) cannot be imported."""


class TrainConfigError(ZooError, ValueError):
    """Training settings are invalid or contradict each other (e.g. CARE without targets)."""


class ExportError(ZooError, RuntimeError):
    """An exported model does not reproduce its source numerically, or cannot be written."""


class ImageError(ZooError, ValueError):
    """An image cannot be read or is unusable (NaN, empty, wrong axes)."""


class DomainMismatchError(ZooError, ValueError):
    """An image does not match the domain a model was trained for."""

    exit_code = 4
    """``zoo run`` refusing a mismatch exits like ``zoo check`` saying ``mismatch``."""


class IncompatibleImageError(DomainMismatchError):
    """The model cannot take the image at all (channel count, dimensionality, size): a
    mismatch that ``--force`` cannot run; the message says how to make the image fit."""


class DependencyError(ZooError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def require(module: str, extra: str):  # type: ignore[no-untyped-def]
    """Import an optional dependency or raise :class:`DependencyError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyError(
            f"{module!r} is needed for this but is not installed; "
            f"install it with: pip install 'zoo[{extra}]'"
        ) from exc
