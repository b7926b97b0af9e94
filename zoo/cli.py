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


@app.command()
@handles_errors
def package(
    source: Annotated[Path, typer.Argument(help="Checkpoint, model folder, state dict or zip.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Package zip to write.")],
    image: Annotated[
        Path, typer.Option(help="Example raw image of the domain (test tensors and cover).")
    ],
    from_: Annotated[
        str, typer.Option("--from", help="careamics | bioimageio | keras | state-dict")
    ],
    card: Annotated[Path | None, typer.Option(help="Card YAML (the config.zoo part).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Card override, e.g. domain.modality=confocal (repeatable)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name (default: output stem).")] = None,
    description: Annotated[str, typer.Option(help="One-line description.")] = "",
    author: Annotated[list[str] | None, typer.Option(help="Author name (repeatable).")] = None,
    license: Annotated[str, typer.Option(help="SPDX licence of the weights.")] = "CC-BY-4.0",
    version: Annotated[str, typer.Option(help="Package version (semver).")] = "0.1.0",
    arch: Annotated[
        str | None, typer.Option(help="state-dict: careamics-unet | csbdeep-unet")
    ] = None,
    arch_kwargs: Annotated[
        str, typer.Option(help="state-dict: architecture kwargs (JSON).")
    ] = "{}",
    method: Annotated[str | None, typer.Option(help="state-dict: training method.")] = None,
    mean: Annotated[list[float] | None, typer.Option(help="state-dict: input mean.")] = None,
    std: Annotated[list[float] | None, typer.Option(help="state-dict: input std.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
) -> None:
    """Import trained weights, export ONNX + TorchScript (verified), write a bioimage.io zip."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from zoo.errors import PackageError
    from zoo.export.builder import build_package
    from zoo.export.importers import import_model
    from zoo.imageio import read_image
    from zoo.spec import load_card

    if output.exists() and not overwrite:
        raise PackageError(f"{output} exists; pass --overwrite to replace it")
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"importing {source}")
        model = import_model(
            from_, source, architecture=arch, kwargs=arch_kwargs, method=method, mean=mean, std=std
        )
        defaults = {"method": {"name": model.method, "framework": model.framework}}
        zoo_card = load_card(card, overrides=set_ or (), defaults=defaults)
        example = read_image(image)
        result = build_package(
            model,
            zoo_card,
            example,
            output,
            name=name or output.stem,
            description=description or f"{model.method} denoiser packaged by zoo",
            authors=author or ["unknown"],
            license=license,
            version=version,
            progress=lambda msg: bar.update(task, description=msg),
        )
    for check in result.checks:
        out.print(f"{check.format}: max abs error {check.max_abs_error:.2g} vs torch", markup=False)
    out.print(str(result.path), markup=False)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
