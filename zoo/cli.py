"""The ``zoo`` command: parse, call the library, map errors to a message and an exit code.

Exit codes: 0 success; 1 the thing checked is invalid (``validate``); 2 a zoo error (bad
input, missing file, …) with its message on standard error. Heavy libraries are imported
inside the commands so that ``zoo --help`` stays fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from zoo import __version__
from zoo.errors import ZooError

app = typer.Typer(
    name="zoo",
    help="A registry and runner for pretrained microscopy denoisers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INVALID = 1
EXIT_ERROR = 2


def _quiet_bioimageio() -> None:
    """bioimageio.spec logs through loguru to stderr; zoo reports problems itself."""
    from loguru import logger

    logger.disable("bioimageio")


def handles_errors(func: F) -> F:
    """Turn a :class:`ZooError` into its message on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _quiet_bioimageio()
        try:
            return func(*args, **kwargs)
        except ZooError as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True)
            raise typer.Exit(EXIT_ERROR) from exc

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        out.print(f"zoo {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """A registry and runner for pretrained microscopy denoisers."""


@app.command()
@handles_errors
def validate(
    path: Annotated[Path, typer.Argument(help="Package .zip, folder or rdf.yaml.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check bioimage.io validity and the zoo card; list every problem with its field."""
    from zoo.validation import validate_package

    report = validate_package(path)
    if as_json:
        out.print(report.to_json(), markup=False)
    else:
        bmz = "valid" if report.bioimageio_valid else "INVALID"
        out.print(f"{report.path}: bioimage.io {bmz}; zoo card {report.card}", markup=False)
        for problem in report.problems:
            out.print(f"  {problem}", markup=False)
        if report.card == "missing":
            out.print(
                "  note: no zoo card under config.zoo; the domain check will only be able to "
                "compare images with the package's test input",
                markup=False,
            )
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
