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
    from zoo.imageio import read_array
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
        example = read_array(image)
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


def _entry_json(model_id: str, version: str, entry: Any) -> dict[str, Any]:
    return {"id": model_id, "version": version, **entry.model_dump(mode="json")}


@app.command()
@handles_errors
def publish(
    path: Annotated[Path, typer.Argument(help="Package zip, folder or rdf.yaml.")],
    card: Annotated[
        Path | None, typer.Option(help="Card YAML to attach (for packages without one).")
    ] = None,
    model_id: Annotated[str | None, typer.Option("--id", help="Model id (slug).")] = None,
    version: Annotated[str | None, typer.Option(help="Version (default: the package's).")] = None,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Validate a package (bioimage.io, card, its own test) and publish it."""
    from zoo.spec import load_card

    zoo_card = load_card(card) if card is not None else None
    result = _registry(registry, cache).publish(
        path, model_id=model_id, card=zoo_card, version=version
    )
    what = "published" if result.created else "already published (identical bytes)"
    out.print(f"{what}: {result.id}@{result.version} sha256 {result.entry.sha256}", markup=False)


@app.command()
@handles_errors
def fetch(
    ref: Annotated[str, typer.Argument(help="ID[@VERSION]")],
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Fetch a verified package into the cache; print its path as the last line."""
    out.print(str(_registry(registry, cache).fetch(ref)), markup=False)


@app.command()
@handles_errors
def search(
    text: Annotated[str | None, typer.Argument(help="Free text (id, name, structures…).")] = None,
    modality: Annotated[str | None, typer.Option(help="e.g. widefield, confocal, TEM")] = None,
    noise: Annotated[str | None, typer.Option(help="gaussian, poisson, …")] = None,
    method: Annotated[str | None, typer.Option(help="n2v, n2v2, care, …")] = None,
    structure: Annotated[str | None, typer.Option(help="e.g. nuclei")] = None,
    pixel_size_min: Annotated[float | None, typer.Option(help="Minimum pixel size (µm).")] = None,
    pixel_size_max: Annotated[float | None, typer.Option(help="Maximum pixel size (µm).")] = None,
    include_yanked: Annotated[bool, typer.Option(help="Consider yanked versions.")] = False,
    as_json: JsonOpt = False,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Search the registry by text and typed filters."""
    import json

    hits = _registry(registry, cache).search(
        text,
        modality=modality,
        noise=noise,
        method=method,
        structure=structure,
        pixel_size_min=pixel_size_min,
        pixel_size_max=pixel_size_max,
        include_yanked=include_yanked,
    )
    if as_json:
        rows = [
            {
                "id": h.id,
                "version": h.version,
                "sha256": h.entry.sha256,
                "yanked": h.entry.yanked,
                **h.entry.summary.model_dump(mode="json"),
            }
            for h in hits
        ]
        out.print(json.dumps(rows, indent=2), markup=False)
        return
    from rich.table import Table

    table = Table()
    table.add_column("id", no_wrap=True)
    for header in ("version", "modality", "structures", "noise", "method", "pixel µm"):
        table.add_column(header)
    for h in hits:
        s = h.entry.summary
        px = f"{s.pixel_size_um:g}" if s.pixel_size_um else "-"
        table.add_row(
            h.id,
            h.version,
            s.modality or "-",
            ", ".join(s.structures) or "-",
            s.noise_type or "-",
            s.method or "-",
            px,
        )
    out.print(table)
    out.print(f"{len(hits)} model(s)", markup=False)


@app.command()
@handles_errors
def show(
    ref: Annotated[str, typer.Argument(help="ID[@VERSION]")],
    as_json: JsonOpt = False,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Show one version's index entry and card summary."""
    import json

    model_id, version, entry = _registry(registry, cache).resolve(ref)
    data = _entry_json(model_id, version, entry)
    if as_json:
        out.print(json.dumps(data, indent=2), markup=False)
        return
    summary = data.pop("summary")
    for key, value in {**data, **summary}.items():
        out.print(f"{key:>15}: {value}", markup=False)


@app.command()
@handles_errors
def versions(
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    as_json: JsonOpt = False,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """List every version of a model, with yanked marks."""
    import json

    rows = _registry(registry, cache).versions(model_id)
    if as_json:
        out.print(
            json.dumps([_entry_json(model_id, v, e) for v, e in rows], indent=2), markup=False
        )
        return
    for v, e in rows:
        mark = f"  YANKED: {e.yank_reason}" if e.yanked else ""
        out.print(f"{v}  {e.created.isoformat()}  {e.sha256[:12]}{mark}", markup=False)


@app.command()
@handles_errors
def yank(
    ref: Annotated[str, typer.Argument(help="ID@VERSION")],
    reason: Annotated[str, typer.Option(help="Why it is yanked.")],
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Yank a version: it stays fetchable when pinned, never by default."""
    _registry(registry, cache).yank(ref, reason)
    out.print(f"yanked {ref}: {reason}", markup=False)


card_app = typer.Typer(help="Work with denoiser cards.", no_args_is_help=True)
app.add_typer(card_app, name="card")


@card_app.command("init")
@handles_errors
def card_init(
    path: Annotated[Path, typer.Argument(help="bioimage.io package to write a card for.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Card YAML.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a card template for a package: what the package tells is filled in, TODOs left."""
    from zoo.errors import PackageError
    from zoo.package import card_template, load_package

    target = output or path.with_name(f"{path.stem}.card.yaml")
    if target.exists() and not overwrite:
        raise PackageError(f"{target} exists; pass --overwrite to replace it")
    target.write_text(card_template(load_package(path)))
    out.print(str(target), markup=False)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
