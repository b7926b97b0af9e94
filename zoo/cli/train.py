"""``zoo train``: train an N2V / N2V2 / StructN2V / CARE denoiser for ``zoo package``."""

import contextlib
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoo.cli._app import CacheOpt, RegistryOpt, app, err, handles_errors, out

if TYPE_CHECKING:
    import numpy as np

    from zoo.train import TrainConfig, TrainResult


class TrainMethod(StrEnum):
    """Training schemes ``zoo train`` offers."""

    n2v = "n2v"
    n2v2 = "n2v2"
    structn2v = "structn2v"
    care = "care"


class Axis(StrEnum):
    """Axis of correlated noise for StructN2V."""

    x = "x"
    y = "y"


@app.command()
@handles_errors
def train(
    method: Annotated[TrainMethod, typer.Argument(help="n2v | n2v2 | structn2v | care")],
    images: Annotated[list[Path], typer.Argument(help="Noisy training images (2D each).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for weights.pt + training.json.")
    ],
    target: Annotated[
        list[Path] | None,
        typer.Option(help="care: clean target of each image, in the same order (repeatable)."),
    ] = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 2000,
    batch_size: Annotated[int, typer.Option(help="Patches per step.")] = 16,
    patch_size: Annotated[int, typer.Option(help="Patch side (multiple of 2**depth).")] = 64,
    learning_rate: Annotated[float, typer.Option(help="Initial Adam learning rate.")] = 4e-4,
    masked_fraction: Annotated[
        float, typer.Option(help="N2V: fraction of pixels masked per patch.")
    ] = 0.015,
    struct_axis: Annotated[
        Axis | None, typer.Option(help="structn2v: axis of the correlated noise (x or y).")
    ] = None,
    struct_span: Annotated[int, typer.Option(help="structn2v: hidden line length (odd).")] = 5,
    depth: Annotated[int, typer.Option(help="UNet depth.")] = 2,
    filters: Annotated[int, typer.Option(help="UNet filters at the top level.")] = 32,
    residual: Annotated[
        bool, typer.Option(help="care: add the input to the output (residual CARE).")
    ] = False,
    val_fraction: Annotated[
        float, typer.Option(help="Bottom fraction of each image's rows held out.")
    ] = 0.1,
    normalisation: Annotated[
        str,
        typer.Option(
            help="dataset: the training images' mean and std, fixed; percentile: each image by "
            "its own percentiles (any offset, gain or bit depth of the same signal)."
        ),
    ] = "dataset",
    percentiles: Annotated[
        tuple[float, float], typer.Option(help="percentile: low and high percentile.")
    ] = (1.0, 99.8),
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Train a denoiser on noisy images (CARE: with --target pairs); keep the best checkpoint.

    The output folder holds a plain state dict and training.json; the command printed at
    the end packages it (zoo package --from state-dict …).
    """
    from zoo.errors import OutputExistsError
    from zoo.imageio import read_array

    if (output / "training.json").exists() and not overwrite:
        raise OutputExistsError(f"{output} already holds a training output; pass --overwrite")
    config = _config(
        method=method.value, steps=steps, batch_size=batch_size, patch_size=patch_size,
        learning_rate=learning_rate, masked_fraction=masked_fraction,
        struct_axis=struct_axis.value if struct_axis else None, struct_span=struct_span,
        depth=depth, filters=filters, residual=residual, val_fraction=val_fraction, seed=seed,
        threads=threads, normalisation=normalisation, percentiles=tuple(percentiles),
    )  # fmt: skip
    _check_targets(method, target)
    noisy = [read_array(p) for p in images]
    clean = [read_array(p) for p in target] if target else None
    result = _train_with_progress(noisy, clean, config)
    result.save(output)
    out.print(
        f"best validation loss {result.best_val_loss:.4g} at step {result.best_step} of "
        f"{steps} ({result.seconds:.0f} s)",
        markup=False,
    )
    out.print(f"package it with:\n  {result.package_command(output)}", markup=False)
    out.print(str(output), markup=False)


def _config(**settings: Any) -> "TrainConfig":
    """The training settings, validated (the masking too); invalid ones as a SpecError."""
    from zoo.errors import SpecError, TrainConfigError
    from zoo.train import TrainConfig

    try:
        config = TrainConfig(**settings)
        config.masking()
    except TrainConfigError as exc:
        raise SpecError(f"invalid training settings: {exc}") from exc
    return config


def _check_targets(method: TrainMethod, target: list[Path] | None) -> None:
    """CARE needs a clean target per image; the self-supervised methods take none."""
    from zoo.errors import SpecError

    if method is TrainMethod.care and not target:
        raise SpecError("care needs --target CLEAN for every noisy image, in the same order")
    if method is not TrainMethod.care and target:
        raise SpecError(f"{method.value} is self-supervised: drop --target")


def _train_with_progress(
    noisy: list["np.ndarray"], clean: list["np.ndarray"] | None, config: "TrainConfig"
) -> "TrainResult":
    """Run the training with a progress bar (step, loss, validation loss) on stderr."""
    from zoo.train import train as run_training

    with _step_bar(f"training {config.method}", config.steps, "val", ".4f") as progress:
        return run_training(noisy, clean, config=config, progress=progress)


@contextlib.contextmanager
def _step_bar(
    what: str, steps: int | None, held: str, fmt: str
) -> Iterator[Callable[[int, int, float, float | None], None]]:
    """A progress bar on stderr (step, training loss, the ``held`` loss) and the callback
    that moves it; a total of 0 from the callback leaves the total as it is."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err.console, transient=True) as bar:
        task = bar.add_task(what, total=steps, loss="")

        def progress(step: int, total: int, loss: float, other: float | None) -> None:
            shown = f"loss {loss:.4f}" + (f" {held} {other:{fmt}}" if other is not None else "")
            bar.update(task, completed=step, total=total or steps, loss=shown)

        yield progress


@app.command()
@handles_errors
def adapt(
    model: Annotated[str, typer.Argument(help="The parent: ID[@VERSION] or a package path.")],
    images: Annotated[list[Path], typer.Argument(help="Your noisy images (2D each).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The adapted package (.zip).")],
    minutes: Annotated[
        float | None,
        typer.Option(help="Time budget (default: 10 min for 512², × √(pixels / 512²), ≤ 40)."),
    ] = None,
    steps: Annotated[
        int | None, typer.Option(help="Optimiser steps instead of a time budget (reproducible).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    loss: Annotated[
        str | None,
        typer.Option(
            help="n2v | n2v2 | structn2v (default: structn2v along the axis where the images' "
            "noise is correlated, else the parent's own, n2v2 for CARE)."
        ),
    ] = None,
    model_id: Annotated[
        str | None,
        typer.Option("--id", help="Id of the new model (default: PARENT-adapted-HASH8)."),
    ] = None,
    version: Annotated[str, typer.Option(help="Version of the new model.")] = "0.1.0",
    channel: Annotated[
        int | None, typer.Option(help="Use this one channel (from 0) of multi-channel images.")
    ] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 2,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    registry: RegistryOpt = None,
    cache: CacheOpt = None,
) -> None:
    """Fine-tune a model on your own noisy images (no clean image needed) into a new package.

    Every plane of a stack is an image; --channel N picks one channel of RGB or
    multi-channel files. Rows at the bottom of each image are held out: the weights with the
    lowest estimated error there (SURE) are kept when clearly better than the parent's (by
    about 3 standard errors, more the more checkpoints a run compares), the parent's
    otherwise; the run stops when that estimate stops falling. Where the images' noise is
    correlated between neighbours, the blind spot hides a line along that axis
    (StructN2V). The package records its lineage (parent, adaptation, your images by sha256
    and fingerprint, never their paths); Ctrl-C leaves no file behind.
    """
    from zoo.adapt import AdaptConfig, default_minutes, planes_of
    from zoo.adapt import adapt as run_adapt
    from zoo.errors import OutputExistsError
    from zoo.imageio import read_image
    from zoo.runner import open_model

    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output} exists; pass --overwrite to replace it")
    config = AdaptConfig(steps=steps, minutes=minutes, loss=loss, seed=seed, threads=threads)  # type: ignore[arg-type]
    parent = open_model(model, registry=registry, cache=cache)
    arrays = [a for p in images for a in planes_of(read_image(p, channel=channel))]
    budget = (
        f"{steps} steps" if steps is not None
        else f"{minutes or default_minutes(sum(a.size for a in arrays)):.0f} min"
    )  # fmt: skip
    err.print(f"adapting {parent.id}@{parent.version} to {len(arrays)} image(s) ({budget})")
    adapted = _adapt_with_progress(parent, arrays, config, run_adapt)
    built = _package_adapted(adapted, output, model_id, version)
    h = adapted.heldout
    out.print(
        "estimated error on the held-out rows (SURE, lower is better): "
        f"adapted {h['adapted']:.4g}, parent {h['parent']:.4g}, best Gaussian "
        f"{h['gaussian']:.4g}; {adapted.loss_description} loss, {_ran(adapted)} in "
        f"{adapted.seconds:.0f} s, kept step "
        f"{adapted.best_step}{' (the parent)' if adapted.best_step == 0 else ''}",
        markup=False,
    )
    out.print(str(built.path), markup=False)


def _ran(adapted: Any) -> str:
    if adapted.stopped_at is None:
        return f"{adapted.steps} steps"
    return (
        f"{adapted.stopped_at} of {adapted.steps} steps (stopped: no new low of the held-out "
        f"estimate for {adapted.config.patience} evaluations)"
    )


def _adapt_with_progress(parent: Any, arrays: list[Any], config: Any, run_adapt: Any) -> Any:
    """Run the adaptation with a progress bar (step, loss, held-out estimate) on stderr."""
    with _step_bar("adapting", config.steps, "held-out", ".4g") as progress:
        return run_adapt(parent, arrays, config, progress=progress)


def _package_adapted(adapted: Any, output: Path, model_id: str | None, version: str) -> Any:
    """Export and verify the adapted package, with the build steps on stderr."""
    from zoo.adapt import package_adapted

    return package_adapted(
        adapted, output, model_id=model_id, version=version, progress=lambda m: err.print(m)
    )
