"""The public surface and start-up cost of zoo."""

from __future__ import annotations

import subprocess
import sys

import zoo


def test_all_is_exactly_the_public_surface() -> None:
    public = {name for name in vars(zoo) if not name.startswith("_")}
    submodules = {name for name in public if type(getattr(zoo, name)).__name__ == "module"}
    assert set(zoo.__all__) == (public - submodules) | {"__version__"}


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def test_import_zoo_is_light() -> None:
    mods = _imported_after("import zoo")
    assert not {"torch", "onnxruntime", "bioimageio.spec"} & mods


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
