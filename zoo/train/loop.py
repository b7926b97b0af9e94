"""The training loop: N2V / N2V2 / StructN2V (self-supervised) and CARE (supervised pairs).

The network is the packager's CAREamics UNet (``zoo/archs/careamics_unet.py``), so
a trained model is exactly what ``zoo package --from state-dict`` takes. One run:

1. images (and, for CARE, registered targets) are normalised with the mean and standard
   deviation of the training images, or (``normalisation="percentile"``) each image by its
   own percentiles as bioimage.io's ``scale_range`` does it; targets with the *same*
   numbers as their image, so that the model maps grey values to grey values;
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import TrainConfigError, require
from zoo.train.config import METHODS, TrainConfig
from zoo.train.data import PatchSampler, check_images, normalisation, split_rows
from zoo.train.masking import Masking, masked_mse
from zoo.train.result import ARCHITECTURE, TrainResult, load_trained, percentile_map

__all__ = [
    "METHODS",
    "Progress",
    "TrainConfig",
    "TrainResult",
    "load_trained",
    "train",
]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, float, float | None], None]
"""Called after every step with (step, steps, running train loss, last val loss or None)."""


def train(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray] | None = None,
    *,
    config: TrainConfig,
    progress: Progress | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 250,
    initial: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train a denoiser on 2D ``images`` (CARE: with registered clean ``targets``).

    ``checkpoint``: a file where the whole state of the run (weights, optimiser, schedule,
    random generator, history, best weights) is saved every ``checkpoint_every`` steps and at
    the end; a run given an existing checkpoint of the same config resumes from it, and
    ends with the weights an uninterrupted run gives. ``initial``: a state dict of the same
    architecture to start from instead of random weights (fine-tuning a published model;
    a resumed checkpoint takes precedence). Raises
    :class:`~zoo.errors.ImageError` for unusable images and
    :class:`~zoo.errors.TrainConfigError` for a method/target mismatch or a checkpoint of
    another config.
    """
    torch = require("torch", "export")
    if config.self_supervised and targets is not None:
        raise TrainConfigError(f"{config.method} is self-supervised: it takes no targets")
    if not config.self_supervised and targets is None:
        raise TrainConfigError("care needs clean targets, one per noisy image")
    mean, std, sampler, val_batch = prepare(images, targets, config)
    masking = config.masking() if config.self_supervised else None
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        run = _Run.start(config, mean, std, len(images), torch, initial)
        if checkpoint is not None and Path(checkpoint).exists():
            run.resume(Path(checkpoint), torch)
        start = time.perf_counter() - run.result.seconds
        running: list[float] = []
        for step in range(run.step + 1, config.steps + 1):
            run.model.train()
            x, y, mask = _batch(sampler, config.batch_size, masking, run.rng, torch)
            loss = _loss(run.model(x), y, mask)
            run.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            run.optimiser.step()
            run.schedule.step()
            running.append(float(loss.detach()))
            run.step = step
            if step % config.val_every == 0 or step == config.steps:
                run.evaluate(val_batch, float(np.mean(running)), torch)
                running = []
            run.result.seconds = time.perf_counter() - start
            if checkpoint is not None and (step % checkpoint_every == 0 or step == config.steps):
                run.save(Path(checkpoint), torch)
            if progress is not None:
                progress(step, config.steps, float(loss.detach()), run.val_loss)
    finally:
        torch.set_num_threads(threads)
    result = run.result
    logger.info(
        "trained %s: best val loss %.4g at step %d of %d (%.0f s)",
        config.method,
        result.best_val_loss,
        result.best_step,
        config.steps,
        result.seconds,
    )
    return result


@dataclass
class _Run:
    """The state of a training run: what a checkpoint holds."""

    model: Any
    optimiser: Any
    schedule: Any
    rng: np.random.Generator
    result: TrainResult
    step: int = 0
    val_loss: float | None = None

    @classmethod
    def start(
        cls,
        config: TrainConfig,
        mean: float,
        std: float,
        n: int,
        torch: Any,
        initial: Mapping[str, Any] | None = None,
    ) -> _Run:
        from zoo import __version__
        from zoo.export.importers import load_architecture

        torch.manual_seed(config.seed)
        _path, arch = load_architecture(ARCHITECTURE)
        model = arch(**config.arch_kwargs())
        if initial is not None:
            try:
                model.load_state_dict(initial)
            except RuntimeError as e:
                raise TrainConfigError(
                    f"the initial weights do not fit a UNet of {config.arch_kwargs()}: {e}"
                ) from e
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimiser, T_max=config.steps, eta_min=config.learning_rate * 0.01
        )
        framework = f"zoo {__version__} (torch {str(torch.__version__).split('+')[0]})"
        result = TrainResult(config, {}, mean, std, n_images=n, framework=framework)
        return cls(model, optimiser, schedule, np.random.default_rng(config.seed), result)

    def evaluate(self, val_batch: tuple[Any, Any, Any], train_loss: float, torch: Any) -> None:
        self.val_loss = _evaluate(self.model, val_batch, torch)
        self.result.history.append(
            {"step": self.step, "train_loss": train_loss, "val_loss": self.val_loss}
        )
        if self.val_loss < self.result.best_val_loss:
            self.result.best_val_loss, self.result.best_step = self.val_loss, self.step
            self.result.state_dict = copy.deepcopy(self.model.state_dict())

    def save(self, path: Path, torch: Any) -> None:
        from zoo.files import atomic_path

        r = self.result
        state = {
            "config": json.dumps(asdict(r.config), sort_keys=True),
            "step": self.step,
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": json.dumps(self.rng.bit_generator.state),
            "best": r.state_dict,
            "best_step": r.best_step,
            "best_val_loss": r.best_val_loss,
            "val_loss": self.val_loss,
            "history": json.dumps(r.history),
            "seconds": r.seconds,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    def resume(self, path: Path, torch: Any) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["config"] != json.dumps(asdict(self.result.config), sort_keys=True):
            raise TrainConfigError(
                f"{path} is a checkpoint of other training settings: "
                f"{state['config']} (this run: {asdict(self.result.config)})"
            )
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.schedule.load_state_dict(state["schedule"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.step, self.val_loss = int(state["step"]), state["val_loss"]
        r = self.result
        r.state_dict, r.best_step = dict(state["best"]), int(state["best_step"])
        r.best_val_loss, r.seconds = float(state["best_val_loss"]), float(state["seconds"])
        r.history = json.loads(state["history"])
        logger.info("resumed %s at step %d of %d", path, self.step, r.config.steps)


def prepare(
    images: Sequence[np.ndarray], targets: Sequence[np.ndarray] | None, config: TrainConfig
) -> tuple[float, float, PatchSampler, tuple[Any, Any, Any]]:
    """Normalise and split the data: (mean, std, training patch sampler, the fixed
    validation batch (input, target, mask or None) as tensors)."""
    torch = require("torch", "export")
    imgs, tgts = check_images(images, targets, config.patch_size)
    if config.normalisation == "percentile":
        maps = [percentile_map(a, config) for a in imgs]
        imgs = [m(a[None, None])[0, 0] for m, a in zip(maps, imgs, strict=True)]
        if tgts is not None:
            tgts = [m(t[None, None])[0, 0] for m, t in zip(maps, tgts, strict=True)]
        mean, std = 0.0, 1.0
    else:
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
