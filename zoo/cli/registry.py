"""Registry commands: publish, fetch, search, show, versions, yank."""

from pathlib import Path
from typing import Annotated, Any

import typer

from zoo.cli._app import (
    CacheOpt,
    JsonOpt,
    RegistryOpt,
    _registry,
    app,
    handles_errors,
    out,
)

TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="Bearer token for a `zoo serve` registry (ZOO_TOKEN).", show_default=False
    ),
]


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
    token: TokenOpt = None,
    allow_placeholders: Annotated[
        bool,
        typer.Option(
            help="Publish even with placeholder metadata (authors 'unknown', a licence or "
            "description zoo filled in, card values left TODO)."
        ),
    ] = False,
) -> None:
    """Validate a package (bioimage.io, card, its own test) and publish it."""
    from zoo.cardfile import load_card
    from zoo.registry import Registry

    zoo_card = load_card(card) if card is not None else None
    result = Registry(registry, cache=cache, token=token).publish(
        path,
        model_id=model_id,
        card=zoo_card,
        version=version,
        allow_placeholders=allow_placeholders,
    )
    what = "published" if result.created else "already published (identical bytes)"
    out.print(f"{what}: {result.id}@{result.version} sha256 {result.entry.sha256}", markup=False)
    if result.entry.compatibility is not None:
        summary = result.entry.compatibility.summary()
        ref = f"{result.id}@{result.version}"
        out.print(f"compatibility: {summary} (zoo show {ref} lists each check)", markup=False)


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
    data.pop("compatibility", None)
    for key, value in {**data, **summary}.items():
        out.print(f"{key:>15}: {value}", markup=False)
    _print_compatibility(entry.compatibility)


def _print_compatibility(report: Any) -> None:
    """The version's compatibility report: one line per tool and format."""
    if report is None:
        out.print(f"{'compatibility':>15}: no report (published before zoo kept one)", markup=False)
        return
    line = f"{report.summary()}, run by the publisher ({report.publisher}, {report.checked})"
    out.print(f"{'compatibility':>15}: {line}", markup=False)
    for c in report.checks:
        what = f"{c.tool} {c.format or ''}".strip()
        version = f" [{c.version}]" if c.version else ""
        detail = f": {c.detail}" if c.detail else ""
        out.print(f"{'':>17}{c.status:<8} {what}{version}{detail}", markup=False)


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
    token: TokenOpt = None,
) -> None:
    """Yank a version: it stays fetchable when pinned, never by default."""
    from zoo.registry import Registry

    Registry(registry, cache=cache, token=token).yank(ref, reason)
    out.print(f"yanked {ref}: {reason}", markup=False)
