"""``zoo train``: train an N2V / N2V2 / StructN2V / CARE denoiser for ``zoo package``."""

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoo.cli._app import app, err, handles_errors, out

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
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from zoo.train import train as run_training

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err.console, transient=True) as bar:
        task = bar.add_task(f"training {config.method}", total=config.steps, loss="")

        def progress(step: int, total: int, loss: float, val: float | None) -> None:
            shown = f"loss {loss:.4f}" + (f" val {val:.4f}" if val is not None else "")
            bar.update(task, completed=step, loss=shown)

        return run_training(noisy, clean, config=config, progress=progress)
