"""Commands for model authors: validate, package, card init."""

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from zoo.cli._app import (
    EXIT_INVALID,
    app,
    err,
    handles_errors,
    out,
)


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


class _WarningsToStderr(logging.Handler):
    """zoo's own warnings (placeholder metadata, …) as ``warning: …`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"warning: {record.getMessage()}", markup=False)


@contextlib.contextmanager
def _zoo_warnings() -> Iterator[None]:
    handler = _WarningsToStderr(logging.WARNING)
    zoo_logger = logging.getLogger("zoo")
    zoo_logger.addHandler(handler)
    try:
        yield
    finally:
        zoo_logger.removeHandler(handler)


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
    description: Annotated[str | None, typer.Option(help="One-line description.")] = None,
    author: Annotated[list[str] | None, typer.Option(help="Author name (repeatable).")] = None,
    license: Annotated[
        str | None, typer.Option(help="SPDX licence of the weights (placeholder: CC-BY-4.0).")
    ] = None,
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
    percentiles: Annotated[
        tuple[float, float] | None,
        typer.Option(
            help="state-dict: per-image normalisation by these percentiles (low high); zoo "
            "maps the output back to the input's units."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
) -> None:
    """Import trained weights, export ONNX + TorchScript (verified), write a bioimage.io zip."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from zoo.cardfile import load_card
    from zoo.errors import OutputExistsError
    from zoo.export.builder import build_package
    from zoo.export.importers import import_model
    from zoo.imageio import read_array

    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} exists; pass --overwrite to replace it")
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    # off the terminal the transient bar would leave a blank line before the results
    quiet = not err.console.is_terminal
    bar = Progress(*columns, console=err.console, transient=True, disable=quiet)
    with bar, _zoo_warnings():
        task = bar.add_task(f"importing {source}")
        model = import_model(
            from_, source, architecture=arch, kwargs=arch_kwargs, method=method, mean=mean,
            std=std, percentiles=percentiles,
        )  # fmt: skip
        defaults = {"method": {"name": model.method, "framework": model.framework}}
        zoo_card = load_card(card, overrides=set_ or (), defaults=defaults)
        example = read_array(image)
        result = build_package(
            model,
            zoo_card,
            example,
            output,
            name=name or output.stem,
            description=description,
            authors=author,
            license=license,
            version=version,
            progress=lambda msg: bar.update(task, description=msg),
        )
    for check in result.checks:
        out.print(f"{check.format}: max abs error {check.max_abs_error:.2g} vs torch", markup=False)
    out.print(str(result.path), markup=False)


card_app = typer.Typer(help="Work with denoiser cards.", no_args_is_help=True)
app.add_typer(card_app, name="card")


@card_app.command("init")
@handles_errors
def card_init(
    path: Annotated[
        Path,
        typer.Argument(
            help="bioimage.io package, CAREamics checkpoint (.ckpt) or Keras model folder."
        ),
    ],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Card YAML.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a card template: what the package or weights tell is filled in, TODOs left."""
    from zoo.errors import OutputExistsError
    from zoo.export.cardinit import weights_card_template, weights_kind
    from zoo.package import card_template, load_package

    target = output or path.with_name(f"{path.stem}.card.yaml")
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists; pass --overwrite to replace it")
    kind = weights_kind(path)
    text = card_template(load_package(path)) if kind is None else weights_card_template(path, kind)
    target.write_text(text)
    out.print(str(target), markup=False)
