"""Commands for users of models: check, run (and match, report)."""

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoo.cli._app import (
    CacheOpt,
    JsonOpt,
    RegistryOpt,
    app,
    err,
    handles_errors,
    out,
)

if TYPE_CHECKING:
    from zoo.runner import ModelRef, RunResult

VERDICT_EXIT = {"match": 0, "caution": 3, "mismatch": 4}
AxesOpt = Annotated[
    str | None, typer.Option(help="Image axes, e.g. zyx or yxc (default: from the file).")
]
PixelOpt = Annotated[
    list[float] | None, typer.Option(help="Pixel size in µm: one value or one per z/y/x.")
]
ModalityOpt = Annotated[str | None, typer.Option(help="Modality of the image, e.g. confocal.")]
ChannelOpt = Annotated[
    int | None,
    typer.Option(
        help="Keep this one channel (from 0) of a multi-channel image, e.g. one of an RGB "
        "PNG, before the check and the run."
    ),
]


TrialOpt = Annotated[
    bool,
    typer.Option(
        help="Also run the no-reference trial as the check's last stage: does the model beat "
        "a Gaussian filter on this image? Estimated not to: caution, unless the image sits well "
        "inside the model's measured range (docs/domain-check.md). (SURE on at most 4 windows "
        "of 256², about 1 s in all on 2 cores)"
    ),
]


def _pixel(values: list[float] | None) -> tuple[float, ...] | None:
    return tuple(values) if values else None


def _print_report(report: Any) -> None:
    from rich.table import Table

    from zoo.domain import LEARNED_MEANING, SCORE_MEANING, format_expected, format_value

    colour = {"match": "green", "caution": "yellow", "mismatch": "red"}[report.verdict]
    learned = "" if report.learned is None else f"learned score {report.learned:.2f}  "
    out.print(
        f"verdict: [{colour}]{report.verdict}[/{colour}]  {learned}score {report.score:.2f}  "
        f"(reference: {report.reference})"
    )
    if report.learned is not None:
        out.print(f"learned score: {LEARNED_MEANING}", markup=False)
    out.print(f"score: {SCORE_MEANING}", markup=False)
    table = Table("check", "status", "measured", "expected", "what it means")
    style = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
    for c in report.checks:
        table.add_row(
            c.name,
            f"[{style[c.status]}]{c.status}[/]",
            format_value(c.measured),
            format_expected(c.expected),
            c.message,
        )
    out.print(table)
    for note in report.notes:
        out.print(f"note: {note}", markup=False)


@app.command()
@handles_errors
def check(
    model: Annotated[str, typer.Argument(help="ID[@VERSION] or a package path.")],
    image: Annotated[Path, typer.Argument(help="Image file (TIFF, PNG, NPY).")],
    as_json: JsonOpt = False,
    axes: AxesOpt = None,
    pixel_size: PixelOpt = None,
    modality: ModalityOpt = None,
    channel: ChannelOpt = None,
    trial: TrialOpt = False,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Check an image against a model's domain before inference.

    Exit codes: 0 match, 3 caution, 4 mismatch, 2 error. With --trial, a model estimated
    not to beat a Gaussian filter on the image is at least a caution (docs/domain-check.md).
    """
    import json

    from zoo.domain import check_image, with_trial
    from zoo.imageio import read_image
    from zoo.inference import Predictor
    from zoo.nextstep import next_step
    from zoo.runner import open_model
    from zoo.trial import plane_of, trial_of

    ref = open_model(model, registry=registry, cache=cache)
    img = read_image(image, axes=axes, pixel_size=_pixel(pixel_size), channel=channel)
    report = check_image(ref.package, img, modality=modality)
    incompatible = bool(report.incompatible())
    found = trial_of(Predictor(ref.package), img) if trial and not incompatible else None
    if found is not None:
        report = with_trial(report, found)
    step = None
    if report.verdict == "mismatch" and not incompatible:
        ref_name = f"{ref.id}@{ref.version}"
        step = next_step(ref_name, image, plane_of(img), found, channel=channel)
    if as_json and found is None and step is None:
        out.print(report.to_json(), markup=False)
    elif as_json:
        data = json.loads(report.to_json())
        if found is not None:
            data["trial"] = found.to_dict()
        if step is not None:
            data["next_step"] = step.to_dict()
        out.print(json.dumps(data, indent=2), markup=False)
    else:
        _print_report(report)
        if found is not None:
            out.print(f"trial: {found.summary()}", markup=False)
        for line in step.lines() if step is not None else []:
            out.print(line, markup=False)
    raise typer.Exit(VERDICT_EXIT[report.verdict])


@app.command()
@handles_errors
def run(
    model: Annotated[str, typer.Argument(help="ID[@VERSION] or a package path.")],
    images: Annotated[list[Path], typer.Argument(help="Image file(s).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output .tif, or a folder for several images.")
    ],
    force: Annotated[
        bool,
        typer.Option(
            help="Run even on a mismatch (recorded); never an image the model cannot take."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs.")] = False,
    backend: Annotated[
        str | None, typer.Option(help="onnx | torchscript | pytorch_state_dict")
    ] = None,
    dtype: Annotated[
        str,
        typer.Option(
            help="float32 (the output's dtype whatever the input's) | input (the input's "
            "dtype, rounded and clipped to its range)."
        ),
    ] = "float32",
    device: Annotated[
        str, typer.Option(help="auto (CUDA when ONNX Runtime / torch has it) | cpu | cuda")
    ] = "auto",
    tile: Annotated[
        int | None,
        typer.Option(
            help="Tile side in pixels (memory grows with its square); default: the largest "
            "that keeps the run near 1 GiB, at least 448."
        ),
    ] = None,
    consistency: Annotated[
        bool, typer.Option(help="Also write the consistency map (model agreement with itself).")
    ] = False,
    trial: TrialOpt = False,
    dask: Annotated[
        str | None,
        typer.Option(
            help="OME-Zarr → OME-Zarr in Dask blocks: 'local' (threads here) or a "
            "dask.distributed scheduler address, e.g. tcp://10.0.0.5:8786."
        ),
    ] = None,
    axes: AxesOpt = None,
    pixel_size: PixelOpt = None,
    modality: ModalityOpt = None,
    channel: ChannelOpt = None,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Check, denoise in tiles, write OME-TIFF + provenance JSON (float32, or --dtype input).

    A mismatch is refused (nothing written) unless --force; a caution is recorded. An image
    the model cannot take (channels, dimensions) is refused even with --force (--channel N
    picks one channel).
    """
    from zoo.runner import open_model

    ref = open_model(model, registry=registry, cache=cache)
    several = len(images) > 1 or (output.is_dir() and output.suffix.lower() != ".zarr")
    options: dict[str, Any] = {
        "force": force, "overwrite": overwrite, "weight_format": backend, "tile": tile,
        "modality": modality, "channel": channel, "dtype": dtype,
    }  # fmt: skip
    for image in images:
        target = output / f"{image.stem}.denoised.ome.tif" if several else output
        if dask:
            _run_dask(ref, image, target, scheduler=dask, **options)
            continue
        result = _run_with_progress(
            ref, image, target, device=device, axes=axes, pixel_size=_pixel(pixel_size),
            with_consistency=consistency, with_trial=trial, **options,
        )  # fmt: skip
        _print_run(image, result)


def _run_dask(ref: "ModelRef", image: Path, target: Path, **options: Any) -> None:
    """One OME-Zarr image in Dask blocks (``zoo run --dask``)."""
    from zoo.runner import run_dask

    result = run_dask(ref, image, target, **options)
    out.print(
        f"{image} → {result.output} ({result.report.verdict}, score {result.report.score:.2f}, "
        "lower is better; Dask)",
        markup=False,
    )


def _run_with_progress(ref: "ModelRef", image: Path, target: Path, **options: Any) -> "RunResult":
    """One image through :func:`zoo.runner.run`, with a progress bar on stderr."""
    from rich.progress import Progress

    from zoo.runner import run as run_model

    with Progress(console=err.console, transient=True) as bar:
        task = bar.add_task(f"denoising {image.name}", total=None)
        return run_model(
            ref, image, target, progress=functools.partial(_advance, bar, task), **options
        )


def _print_run(image: Path, result: "RunResult") -> None:
    """What a run wrote: the output, the verdict, the sidecar and the consistency map."""
    out.print(
        f"{image} → {result.output} ({result.report.verdict}, score "
        f"{result.report.score:.2f}, lower is better; provenance {result.sidecar})",
        markup=False,
    )
    if result.consistency is not None and result.provenance.consistency is not None:
        scores = [p.score for p in result.provenance.consistency.planes]
        out.print(
            f"consistency map {result.consistency} (score {max(scores):.2f}: 0 = the model "
            "agrees with itself, 1 = it differs as much as the noise)",
            markup=False,
        )
    if result.provenance.trial is not None:
        from zoo.trial import Trial

        t = result.provenance.trial
        fields = {k: getattr(t, k) for k in Trial.__dataclass_fields__}
        out.print(f"trial: {Trial(**fields).summary()}", markup=False)


def _advance(bar: Any, task: Any, n: int, total: int) -> None:
    bar.update(task, completed=n, total=total)


@app.command()
@handles_errors
def match(
    image: Annotated[Path, typer.Argument(help="Image file (TIFF, PNG, NPY).")],
    as_json: JsonOpt = False,
    top: Annotated[int | None, typer.Option(help="Show the N best models only.")] = None,
    axes: AxesOpt = None,
    pixel_size: PixelOpt = None,
    modality: ModalityOpt = None,
    channel: ChannelOpt = None,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Rank the registry's models for an image (domain check of each; nothing is run)."""
    import json

    from rich.table import Table

    from zoo.domain import LEARNED_MEANING, SCORE_MEANING
    from zoo.imageio import read_image
    from zoo.match import rank_models
    from zoo.registry import Registry

    img = read_image(image, axes=axes, pixel_size=_pixel(pixel_size), channel=channel)
    ranking = rank_models(img, Registry(registry, cache=cache), modality=modality, top=top)
    if as_json:
        out.print(json.dumps([m.to_dict() for m in ranking], indent=2), markup=False)
        return
    if not ranking:
        out.print("the registry has no models", markup=False)
        return
    colour = {"match": "green", "caution": "yellow", "mismatch": "red", "error": "magenta"}
    table = Table(
        "rank", "model", "verdict", "learned", "score", "modality", "method", "why not a match"
    )
    for n, m in enumerate(ranking, start=1):
        table.add_row(
            str(n),
            f"{m.id}@{m.version}",
            f"[{colour[m.verdict]}]{m.verdict}[/]",
            "–" if m.learned is None else f"{m.learned:.2f}",
            "–" if m.verdict == "error" else f"{m.score:.2f}",
            str(m.summary.get("modality") or "–"),
            str(m.summary.get("method") or "–"),
            "\n".join(m.reasons) or "–",
        )
    out.print(table)
    out.print(f"learned: {LEARNED_MEANING}", markup=False)
    out.print(f"score: {SCORE_MEANING}", markup=False)
    best = next((m for m in ranking if m.verdict != "error"), None)
    if best is not None and best.verdict == "mismatch":
        from zoo.nextstep import next_step
        from zoo.trial import plane_of

        step = next_step(f"{best.id}@{best.version}", image, plane_of(img), channel=channel)
        for line in step.lines():
            out.print(line, markup=False)


@app.command()
@handles_errors
def report(
    model: Annotated[str, typer.Argument(help="ID[@VERSION] or a package path.")],
    image: Annotated[Path, typer.Argument(help="Image file (TIFF, PNG, NPY).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")],
    force: Annotated[
        bool,
        typer.Option(
            help="Report even on a mismatch (said on the page); never an image the model "
            "cannot take."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing report.")] = False,
    backend: Annotated[str | None, typer.Option(help="onnx | torchscript")] = None,
    axes: AxesOpt = None,
    pixel_size: PixelOpt = None,
    modality: ModalityOpt = None,
    channel: ChannelOpt = None,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """HTML report: noisy / denoised / removed, classic baselines, the check, consistency.

    The verdict comes first and the rule is zoo run's: a mismatch is refused (exit 4,
    nothing written) unless --force. BM3D and non-local means run on a central crop
    (at most 512 × 512).
    """
    from rich.progress import Progress

    from zoo.report import write_report
    from zoo.runner import open_model

    ref = open_model(model, registry=registry, cache=cache)
    with Progress(console=err.console, transient=True) as bar:
        task = bar.add_task(f"report on {image.name}", total=None)

        def step(name: str, done: int, total: int) -> None:
            bar.update(task, description=f"report on {image.name}: {name}", completed=done,
                       total=total)  # fmt: skip

        path = write_report(
            ref, image, output, axes=axes, pixel_size=_pixel(pixel_size), modality=modality,
            channel=channel, force=force, overwrite=overwrite, weight_format=backend,
            progress=step,
        )  # fmt: skip
    out.print(str(path), markup=False)
