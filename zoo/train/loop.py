"""The training loop: N2V / N2V2 / StructN2V (self-supervised) and CARE (supervised pairs).

The network is the packager's CAREamics UNet (``zoo/archs/careamics_unet.py``), so
a trained model is exactly what ``zoo package --from state-dict`` takes. One run:

1. images (and, for CARE, registered targets) are normalised with the mean and standard
   deviation of the training images (targets with the *same* numbers, so that the model
   maps grey values to grey values);
2. the bottom ``val_fraction`` of every image's rows is held out for validation; a fixed
   set of validation patches (and, for N2V, of masks) is drawn once, so the validation
   loss is comparable from one evaluation to the next;
3. Adam with a cosine learning-rate decay, ``steps`` batches of random augmented patches;
   N2V losses are the MSE at the blind spots only, CARE's the MSE over the whole patch;
4. the weights with the lowest validation loss are kept (the *best checkpoint*).

Everything random is drawn from generators seeded by ``seed``: the same seed, data, thread
count and torch build give bit-identical weights.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.errors import ImportFailedError, TrainConfigError, require
from zoo.train.data import PatchSampler, check_images, normalisation, split_rows
from zoo.train.masking import Masking, masked_mse

__all__ = [
    "METHODS",
    "Progress",
    "TrainConfig",
    "TrainResult",
    "load_trained",
    "train",
]

logger = logging.getLogger(__name__)

METHODS = ("n2v", "n2v2", "structn2v", "care")
MethodName = Literal["n2v", "n2v2", "structn2v", "care"]
ARCHITECTURE = "careamics-unet"
WEIGHTS_FILE = "weights.pt"
META_FILE = "training.json"


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (recorded in the card's method hyper-parameters).

    Settings that are invalid or contradict each other raise
    :class:`~zoo.errors.TrainConfigError` (a ``ValueError``)."""

    method: MethodName
    """n2v, n2v2, structn2v (self-supervised, noisy images only) or care (noisy/clean pairs)."""
    steps: int = 2000
    """Optimiser steps (batches)."""
    batch_size: int = 16
    """Patches per batch."""
    patch_size: int = 64
    """Side of the square training patches (a multiple of 2 ** depth)."""
    learning_rate: float = 4e-4
    """Initial Adam learning rate (cosine decay to 1 % of it)."""
    masked_fraction: float = 0.015
    """N2V: fraction of pixels masked per patch."""
    neighbourhood_radius: int = 2
    """N2V: replacement window radius (5 × 5 for 2)."""
    struct_axis: Literal["x", "y"] | None = None
    """StructN2V: axis of the correlated noise (x = along rows, e.g. scan lines)."""
    struct_span: int = 5
    """StructN2V: length of the hidden line (odd)."""
    depth: int = 2
    """UNet depth."""
    filters: int = 32
    """UNet filters at the top level."""
    batch_norm: bool = True
    """Batch normalisation in the UNet's blocks."""
    residual: bool = False
    """CARE: add the input to the network's output. Off by default (docs/models.md says why)."""
    val_fraction: float = 0.1
    """Bottom fraction of each image's rows held out for validation."""
    val_patches: int = 64
    """Number of fixed validation patches."""
    val_every: int = 100
    """Evaluate (and maybe keep a checkpoint) every this many steps."""
    augment: bool = True
    """Random flips and 90° rotations (StructN2V: flips only, the noise axis stays)."""
    seed: int = 0
    """Seed of every random choice (patches, masks, weight init)."""
    threads: int = 2
    """torch intra-op threads (results are reproducible for a fixed thread count)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise TrainConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method == "structn2v" and self.struct_axis is None:
            raise TrainConfigError("structn2v needs struct_axis ('x' or 'y'): the noise's axis")
        if self.residual and self.method != "care":
            raise TrainConfigError(
                "residual is a CARE setting: a blind-spot network must not see its input pixel"
            )
        if self.method != "structn2v" and self.struct_axis is not None:
            raise TrainConfigError(f"struct_axis is a StructN2V setting; method is {self.method}")
        if self.patch_size % 2**self.depth or self.patch_size < 2 ** (self.depth + 1):
            raise TrainConfigError(
                f"patch_size {self.patch_size} must be a multiple of 2 ** depth = "
                f"{2**self.depth} and at least twice that"
            )
        for name in ("steps", "batch_size", "val_patches", "val_every", "threads", "filters"):
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def self_supervised(self) -> bool:
        """True for the N2V family (no targets)."""
        return self.method != "care"

    def masking(self) -> Masking:
        """The blind-spot masking of this N2V variant."""
        return Masking(
            fraction=self.masked_fraction,
            radius=self.neighbourhood_radius,
            strategy="median" if self.method == "n2v2" else "uniform",
            struct_axis=self.struct_axis,
            struct_span=self.struct_span,
        )

    def arch_kwargs(self) -> dict[str, Any]:
        """Constructor keyword arguments of the CAREamics UNet for this run."""
        return {
            "conv_dims": 2,
            "num_classes": 1,
            "in_channels": 1,
            "depth": self.depth,
            "num_channels_init": self.filters,
            "use_batch_norm": self.batch_norm,
            "residual": self.residual and self.method == "care",
            "final_activation": "None",
            "n2v2": self.method == "n2v2",
            "independent_channels": True,
        }

    def hyperparameters(self) -> dict[str, Any]:
        """The settings that matter to a reader of the card (no None values)."""
        keep = {k: v for k, v in asdict(self).items() if v is not None and k != "threads"}
        if self.self_supervised:
            return keep
        return {k: v for k, v in keep.items() if not k.startswith(("masked", "neighbourhood"))}


@dataclass
class TrainResult:
    """A trained model: the best weights, how to rebuild it, and how training went."""

    config: TrainConfig
    state_dict: dict[str, Any]
    """Best weights (torch tensors), keys of the CAREamics UNet."""
    mean: float
    """Input (and target) normalisation: mean of the training images."""
    std: float
    """… and their standard deviation."""
    history: list[dict[str, float]] = field(default_factory=list)
    """One entry per evaluation: step, train_loss (mean since the last), val_loss."""
    best_step: int = 0
    best_val_loss: float = float("inf")
    seconds: float = 0.0
    """Wall-clock training time."""
    n_images: int = 0
    framework: str = ""

    def module(self) -> Any:
        """A fresh UNet with the best weights, in eval mode."""
        from zoo.export.importers import load_architecture

        _path, cls = load_architecture(ARCHITECTURE)
        module = cls(**self.config.arch_kwargs())
        module.load_state_dict(self.state_dict, strict=True)
        return module.eval()

    def imported_model(self, source: str = "") -> Any:
        """The model as :class:`~zoo.export.builder.ImportedModel`, ready for build_package."""
        from zoo.export.builder import ImportedModel
        from zoo.export.importers import load_architecture, mean_std_processing

        path, _cls = load_architecture(ARCHITECTURE)
        pre, post = mean_std_processing([self.mean], [self.std])
        return ImportedModel(
            module=self.module(),
            architecture=path,
            callable="UNet",
            kwargs=self.config.arch_kwargs(),
            method=self.config.method,
            framework=self.framework,
            preprocessing=pre,
            postprocessing=post,
            spatial_axes="yx",
            channels=1,
            size_step=2**self.config.depth,
            source=source or f"zoo train {self.config.method} (seed {self.config.seed})",
        )

    def save(self, folder: str | Path) -> Path:
        """Write ``weights.pt`` (a plain state dict) and ``training.json`` into ``folder``.

        ``training.json`` holds what ``zoo package --from state-dict`` needs (architecture,
        kwargs, method, mean, std) plus the config and history.
        """
        torch = require("torch", "export")
        from zoo.files import atomic_path

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / WEIGHTS_FILE) as tmp:
            torch.save(self.state_dict, tmp)
        meta = {
            "architecture": ARCHITECTURE,
            "kwargs": self.config.arch_kwargs(),
            "method": self.config.method,
            "mean": [self.mean],
            "std": [self.std],
            "framework": self.framework,
            "config": asdict(self.config),
            "best_step": self.best_step,
            "best_val_loss": self.best_val_loss,
            "seconds": self.seconds,
            "n_images": self.n_images,
            "history": self.history,
        }
        with atomic_path(folder / META_FILE) as tmp:
            tmp.write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    def package_command(self, folder: str | Path) -> str:
        """The ``zoo package`` command line that packages a saved result."""
        folder = Path(folder)
        kwargs = json.dumps(self.config.arch_kwargs(), separators=(",", ":"))
        return (
            f"zoo package --from state-dict {folder / WEIGHTS_FILE} --arch {ARCHITECTURE} "
            f"--arch-kwargs '{kwargs}' --method {self.config.method} "
            f"--mean {self.mean!r} --std {self.std!r} --card CARD.yaml --image EXAMPLE.tif "
            "-o model.zip"
        )


def load_trained(folder: str | Path) -> TrainResult:
    """Read back what :meth:`TrainResult.save` wrote (weights loaded with weights_only)."""
    torch = require("torch", "export")
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text())
        known = {f.name for f in fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in meta["config"].items() if k in known})
        state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ImportFailedError(
            f"{folder} is not a zoo training output ({META_FILE} + {WEIGHTS_FILE}): {exc}"
        ) from exc
    return TrainResult(
        config=config,
        state_dict=dict(state),
        mean=float(meta["mean"][0]),
        std=float(meta["std"][0]),
        history=list(meta.get("history", [])),
        best_step=int(meta.get("best_step", 0)),
        best_val_loss=float(meta.get("best_val_loss", float("inf"))),
        seconds=float(meta.get("seconds", 0.0)),
        n_images=int(meta.get("n_images", 0)),
        framework=str(meta.get("framework", "")),
    )


Progress = Callable[[int, int, float, float | None], None]
"""Called after every step with (step, steps, running train loss, last val loss or None)."""


def train(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray] | None = None,
    *,
    config: TrainConfig,
    progress: Progress | None = None,
) -> TrainResult:
    """Train a denoiser on 2D ``images`` (CARE: with registered clean ``targets``).

    Raises :class:`~zoo.errors.ImageError` for unusable images and
    :class:`~zoo.errors.TrainConfigError` for a method/target mismatch.
    """
    torch = require("torch", "export")
    from zoo import __version__

    if config.self_supervised and targets is not None:
        raise TrainConfigError(f"{config.method} is self-supervised: it takes no targets")
    if not config.self_supervised and targets is None:
        raise TrainConfigError("care needs clean targets, one per noisy image")
    mean, std, sampler, val_batch = prepare(images, targets, config)
    masking = config.masking() if config.self_supervised else None
    rng = np.random.default_rng(config.seed)

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        torch.manual_seed(config.seed)
        from zoo.export.importers import load_architecture

        _path, cls = load_architecture(ARCHITECTURE)
        model = cls(**config.arch_kwargs())
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimiser, T_max=config.steps, eta_min=config.learning_rate * 0.01
        )
        result = TrainResult(
            config=config,
            state_dict={},
            mean=mean,
            std=std,
            n_images=len(images),
            framework=f"zoo {__version__} (torch {str(torch.__version__).split('+')[0]})",
        )
        start = time.perf_counter()
        running: list[float] = []
        val_loss: float | None = None
        for step in range(1, config.steps + 1):
            model.train()
            x, y, mask = _batch(sampler, config.batch_size, masking, rng, torch)
            loss = _loss(model(x), y, mask)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            running.append(float(loss.detach()))
            if step % config.val_every == 0 or step == config.steps:
                val_loss = _evaluate(model, val_batch, torch)
                result.history.append(
                    {"step": step, "train_loss": float(np.mean(running)), "val_loss": val_loss}
                )
                running = []
                if val_loss < result.best_val_loss:
                    result.best_val_loss, result.best_step = val_loss, step
                    result.state_dict = copy.deepcopy(model.state_dict())
            if progress is not None:
                progress(step, config.steps, float(loss.detach()), val_loss)
        result.seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    logger.info(
        "trained %s: best val loss %.4g at step %d of %d (%.0f s)",
        config.method,
        result.best_val_loss,
        result.best_step,
        config.steps,
        result.seconds,
    )
    return result


def prepare(
    images: Sequence[np.ndarray], targets: Sequence[np.ndarray] | None, config: TrainConfig
) -> tuple[float, float, PatchSampler, tuple[Any, Any, Any]]:
    """Normalise and split the data: (mean, std, training patch sampler, the fixed
    validation batch (input, target, mask or None) as tensors)."""
    torch = require("torch", "export")
    imgs, tgts = check_images(images, targets, config.patch_size)
    mean, std = normalisation(imgs)
    imgs = [(a - mean) / std for a in imgs]
    tgts = None if tgts is None else [(t - mean) / std for t in tgts]
    split = split_rows(imgs, tgts, fraction=config.val_fraction, patch=config.patch_size)
    augment = None if not config.augment else "flips" if config.struct_axis else "dihedral"
    sampler = PatchSampler(
        split.train, split.train_targets, patch=config.patch_size, augment=augment
    )
    val_sampler = PatchSampler(split.val, split.val_targets, patch=config.patch_size, augment=None)
    masking = config.masking() if config.self_supervised else None
    val_rng = np.random.default_rng([config.seed, 1])
    return mean, std, sampler, _batch(val_sampler, config.val_patches, masking, val_rng, torch)


def _batch(
    sampler: PatchSampler,
    n: int,
    masking: Masking | None,
    rng: np.random.Generator,
    torch: Any,
) -> tuple[Any, Any, Any]:
    """(network input, loss target, loss mask or None) as (n, 1, p, p) tensors."""
    x, y = sampler.sample(n, rng)
    if masking is None:
        assert y is not None
        return torch.from_numpy(x[:, None]), torch.from_numpy(y[:, None]), None
    inputs, masks = zip(*(masking.apply(patch, rng) for patch in x), strict=True)
    return (
        torch.from_numpy(np.stack(inputs)[:, None]),
        torch.from_numpy(x[:, None]),
        torch.from_numpy(np.stack(masks)[:, None]),
    )


def _loss(prediction: Any, target: Any, mask: Any) -> Any:
    if mask is None:
        return ((prediction - target) ** 2).mean()
    return masked_mse(prediction, target, mask)


def _evaluate(model: Any, batch: tuple[Any, Any, Any], torch: Any) -> float:
    model.eval()
    x, y, mask = batch
    with torch.inference_mode():
        return float(_loss(model(x), y, mask))
