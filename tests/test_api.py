"""The public surface and start-up cost of zoo."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest

import zoo

PUBLIC = {
    # the API (imported on first use)
    "check",
    "fetch",
    "open_model",
    "open_package",
    "run",
    "Registry",
    # what it returns
    "DomainReport",
    "ModelRef",
    "Package",
    "Provenance",
    "RunResult",
    # the errors
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
    "__version__",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert sorted(zoo.__all__) == sorted(PUBLIC)
    for name in zoo.__all__:
        assert getattr(zoo, name) is not None, name
    # once every name is resolved, nothing else public is left in the namespace
    public = {name for name in vars(zoo) if not name.startswith("_")}
    submodules = {name for name in public if isinstance(getattr(zoo, name), ModuleType)}
    assert public - submodules == PUBLIC - {"__version__"}
    assert set(dir(zoo)) >= PUBLIC


def test_public_names_are_the_library_objects() -> None:
    from zoo.errors import ZooError
    from zoo.package import load_package
    from zoo.registry import Registry
    from zoo.runner import check, run

    assert (zoo.check, zoo.run, zoo.Registry, zoo.open_package) == (
        check,
        run,
        Registry,
        load_package,
    )
    assert all(issubclass(getattr(zoo, n), ZooError) for n in PUBLIC if n.endswith("Error"))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        zoo.nope  # noqa: B018


def test_output_exists_error_is_caught_as_before() -> None:
    """Raised where a PackageError was: both, and a FileExistsError, catch it."""
    assert issubclass(zoo.OutputExistsError, zoo.PackageError)
    assert issubclass(zoo.OutputExistsError, FileExistsError)
    assert issubclass(zoo.TrainConfigError, ValueError)


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def test_import_zoo_is_light() -> None:
    mods = _imported_after("import zoo")
    assert not {"torch", "onnxruntime", "bioimageio.spec", "numpy", "zoo.runner"} & mods


def test_the_api_names_resolve_without_torch_or_onnxruntime() -> None:
    """zoo.check, zoo.run and zoo.fetch exist; the runtimes load when a model runs."""
    mods = _imported_after(
        "import zoo\nassert callable(zoo.check) and callable(zoo.run) and callable(zoo.fetch)"
    )
    assert "zoo.runner" in mods
    assert not {"torch", "onnxruntime"} & mods


def test_cli_help_imports_neither_torch_nor_onnxruntime() -> None:
    mods = _imported_after(
        "import sys\nfrom zoo.cli import app\nsys.argv=['zoo','--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert "typer" in mods
    assert not {"torch", "onnxruntime"} & mods
    # nor numpy, pydantic or the card models: together they tripled zoo --help's start-up
    assert not {"numpy", "pydantic", "zoo.spec", "zoo.domain"} & mods
    # nor rich: help is click's plain text and the consoles are made on first use
    assert not {m for m in mods if m == "rich" or m.startswith("rich.")}


def test_version_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == f"zoo {zoo.__version__}"


def test_domain_check_does_not_import_scipy_stats() -> None:
    """scipy.stats took ~0.6 s of every zoo run for one line fit (zoo.fingerprint._line_fit)."""
    mods = _imported_after("import zoo.domain, zoo.fingerprint, zoo.runner")
    assert "zoo.fingerprint" in mods
    assert "scipy.stats" not in mods


def test_every_extra_a_message_names_exists() -> None:
    """zoo.errors.require tells the user to pip install 'zoo[EXTRA]': EXTRA must exist."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(zoo.__file__).parent
    project = tomllib.loads((root.parent / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    named = {
        (module, extra)
        for path in root.rglob("*.py")
        for module, extra in re.findall(r'require\(\s*"([^"]+)",\s*"([^"]+)"\)', path.read_text())
    }
    assert "export" in {extra for _, extra in named}  # the pattern finds the calls
    for module, extra in named:
        assert extra in extras, f"require({module!r}, {extra!r}): no extra {extra!r}"
        top = module.split(".")[0]
        installed = [*extras[extra], *project["dependencies"]]
        assert any(re.match(rf"{top}\b", req.replace("[", " ")) for req in installed), (
            f"neither extra {extra!r} nor zoo itself installs {module!r}"
        )
