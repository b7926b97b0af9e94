"""The ``zoo`` command's shared parts: the app, consoles, error handling and options.

The ``zoo`` command: parse, call the library, map errors to a message and an exit code.

Exit codes: 0 success; 1 the thing checked is invalid (``validate``); 2 a zoo error (bad
input, missing file, …) with its message on standard error. Heavy libraries are imported
inside the commands so that ``zoo --help`` stays fast.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from zoo import __version__
from zoo.errors import ZooError

app = typer.Typer(
    name="zoo",
    help="A registry and runner for pretrained microscopy denoisers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class LazyConsole:
    """A rich ``Console`` made on first use (importing rich costs ``zoo --help`` ~50 ms).

    Attribute access is forwarded (``out.print(...)``); pass ``.console`` where a real
    ``Console`` is needed (``Progress(console=err.console)``). ``wide_when_piped``: when the
    output is not a terminal (piped, redirected, captured) and ``COLUMNS`` is not set, lines
    are as wide as their content (:data:`PIPED_WIDTH`), so no table cell is cut or wrapped."""

    def __init__(self, *, wide_when_piped: bool = False, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._wide = wide_when_piped
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kwargs)
            if self._wide and not self._console.is_terminal and not os.environ.get("COLUMNS"):
                self._console.width = PIPED_WIDTH
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


PIPED_WIDTH = 10_000
"""Columns of standard output when it is not a terminal: wider than any table zoo prints."""

out = LazyConsole(highlight=False, soft_wrap=True, wide_when_piped=True)
err = LazyConsole(stderr=True, highlight=False, soft_wrap=True)

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
            from rich.markup import escape

            err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
            raise typer.Exit(getattr(exc, "exit_code", EXIT_ERROR)) from exc

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


RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Registry directory or http(s) URL (default: ZOO_REGISTRY, "
        "else the embedded registry).",
    ),
]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Cache folder (ZOO_CACHE).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _registry(registry: str | None, cache: Path | None):  # type: ignore[no-untyped-def]
    from zoo.registry import Registry

    return Registry(registry, cache=cache)
