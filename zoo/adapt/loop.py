"""The fine-tuning loop: blind-spot batches from the training rows, the held-out rows'
estimate every ``val_every`` steps, the best weights kept (the parent's included)."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.adapt.config import AdaptConfig, Adapted, Progress, default_minutes, image_sha256
from zoo.adapt.network import (
    Estimate,
    HeldOut,
    Network,
    checked_images,
    loss_of,
    margin,
    parent_module,
)
from zoo.errors import require

if TYPE_CHECKING:
    from zoo.runner import ModelRef

__all__ = ["adapt"]

logger = logging.getLogger(__name__)

_MEASURE = 10
"""A time budget becomes a step count after this many steps (their measured speed); the
learning rate is constant until then and decays after, for a time budget and ``steps`` alike,
so that the recorded step count reproduces a time-budget run."""
_EVAL_OVERHEAD = 1.1
"""Held-out evaluations take about this share of a time budget on top of the steps."""


def adapt(
    parent: ModelRef,
    images: Sequence[np.ndarray],
    config: AdaptConfig | None = None,
    *,
    progress: Progress | None = None,
) -> Adapted:
    """Fine-tune ``parent``'s network on ``images`` (2D, noisy; no targets).

    Raises :class:`~zoo.errors.ImageError` for unusable images and
    :class:`~zoo.errors.PackageError` for a parent zoo cannot fine-tune (no state-dict
    weights, not a 2D single-image model)."""
    from zoo.fingerprint import fingerprint
    from zoo.spec import AdaptedImage

    torch = require("torch", "export")
    config = config or AdaptConfig()
    imgs = checked_images(images, config)
    records = [
        AdaptedImage(sha256=image_sha256(a), shape=list(a.shape), fingerprint=fingerprint([a]))
        for a in imgs
    ]
    joint = records[0].fingerprint if len(imgs) == 1 else fingerprint(imgs)
    loss_name, masking = loss_of(parent, config, joint)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        torch.manual_seed(config.seed)
        module, path, cls_name, kwargs = parent_module(parent, torch)
        module.to(memory_format=torch.channels_last)  # 1.5x the speed of NCHW (docs/adapt.md)
        run = _Run.start(parent, module, imgs, masking, config, torch)
        run.loop(imgs, progress)
        module.load_state_dict(run.best_state)
        module.to(memory_format=torch.contiguous_format).eval()
        gaussian = run.held.gaussian()
    finally:
        torch.set_num_threads(threads)
    logger.info("adapted %s: %d steps, kept %d", parent.id, run.step, run.best_step)
    return Adapted(
        parent=parent, module=module, architecture=path, callable=cls_name, kwargs=kwargs,
        config=replace(config, steps=run.planned), loss=loss_name, masking=masking,
        steps=run.planned,
        stopped_at=run.step if run.step < run.planned else None, best_step=run.best_step,
        seconds=time.perf_counter() - run.started, images=records,
        fingerprint=joint, example=imgs[0], history=run.history,
        heldout={"parent": run.parent_estimate.risk, "adapted": run.best.risk,
                 "gaussian": gaussian},
    )  # fmt: skip


@dataclass
class _Run:
    """The state of one fine-tuning."""

    network: Network
    held: HeldOut
    sampler: Any
    masking: Any
    config: AdaptConfig
    torch: Any
    optimiser: Any
    started: float
    best: Estimate
    best_state: dict[str, Any]
    parent_estimate: Estimate
    rng: np.random.Generator
    best_step: int = 0
    step: int = 0
    planned: int = 0
    lowest: tuple[float, int] = (float("inf"), 0)
    """The lowest held-out estimate so far and its step (the patience counts from it)."""
    history: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        parent: ModelRef,
        module: Any,
        imgs: list[np.ndarray],
        masking: Any,
        config: AdaptConfig,
        torch: Any,
    ) -> _Run:
        """Network, held-out rows and patch sampler; the parent scored at step 0."""
        from zoo.train.data import PatchSampler

        start = time.perf_counter()
        network = Network(parent, module, torch)
        held = HeldOut(imgs, config)
        parts = [network.normalised(a)[: a.shape[0] - held.rows(a)] for a in imgs]
        sampler = PatchSampler(
            parts, patch=config.patch_size, augment="flips" if masking.struct_axis else "dihedral"
        )
        module.eval()
        estimate = held.estimate(network)
        optimiser = torch.optim.Adam(module.parameters(), lr=config.learning_rate)
        return cls(
            network, held, sampler, masking, config, torch, optimiser, start, estimate,
            copy.deepcopy(module.state_dict()), estimate, np.random.default_rng(config.seed),
            history=[{"step": 0, "train_loss": float("nan"), "heldout": estimate.risk}],
            lowest=(estimate.risk, 0),
        )  # fmt: skip

    def loop(self, imgs: list[np.ndarray], progress: Progress | None) -> None:
        """Train until the step count (given, or planned from the time budget) is reached,
        or until the held-out estimate has not reached a new low for ``patience``
        evaluations."""
        config = self.config
        budget = 60 * (config.minutes or default_minutes(sum(a.size for a in imgs)))
        steps = config.steps
        schedule = None
        running: list[float] = []
        last: float | None = self.best.risk
        self.planned = steps or 0
        first = time.perf_counter()
        while steps is None or self.step < steps:
            if self.step == _MEASURE:  # the step count from the speed; the same decay for both
                if steps is None:
                    per_step = (time.perf_counter() - first) / _MEASURE
                    left = budget - (time.perf_counter() - self.started)
                    steps = self.step + max(1, int(left / (per_step * _EVAL_OVERHEAD)))
                    self.planned = steps
                schedule = self._cosine(steps - self.step)
            loss = self._train_step()
            if schedule is not None:
                schedule.step()
            running.append(loss)
            if self.step % config.val_every == 0 or self.step == steps:
                last = self._evaluate(float(np.mean(running)))
                running = []
            if progress is not None:
                progress(self.step, steps or 0, loss, last)
            if self.step - self.lowest[1] >= config.patience * config.val_every:
                break

    def _cosine(self, length: int) -> Any:
        return self.torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimiser, T_max=max(length, 1), eta_min=self.config.learning_rate * 0.01
        )

    def _train_step(self) -> float:
        """One batch of masked patches: the MSE at the blind spots."""
        from zoo.train.masking import masked_mse

        torch, module = self.torch, self.network.module
        self.step += 1
        module.train()
        x, _none = self.sampler.sample(self.config.batch_size, self.rng)
        masked, masks = zip(*(self.masking.apply(p, self.rng) for p in x), strict=True)
        batch = torch.from_numpy(np.stack(masked)[:, None])
        out = module(batch.contiguous(memory_format=torch.channels_last))
        loss = masked_mse(
            out, torch.from_numpy(x[:, None]), torch.from_numpy(np.stack(masks)[:, None])
        )
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return float(loss.detach())

    def _evaluate(self, train_loss: float) -> float:
        """The held-out estimate now; the weights kept when it is the lowest so far among
        those clearly lower than the parent's (by :func:`~zoo.adapt.network.margin` standard
        errors for the run's planned evaluations; the steps so far while the plan is not yet
        known)."""
        module = self.network.module
        module.eval()
        estimate = self.held.estimate(self.network)
        gain, se = estimate.gain_over(self.parent_estimate)
        z = margin(max(self.planned, self.step) // self.config.val_every)
        self.history.append({"step": self.step, "train_loss": train_loss,
                             "heldout": estimate.risk, "gain": gain, "gain_se": se,
                             "margin": z})  # fmt: skip
        if estimate.risk < self.lowest[0]:
            self.lowest = (estimate.risk, self.step)
        if estimate.risk < self.best.risk and estimate.clearly_better_than(self.parent_estimate, z):
            self.best, self.best_step = estimate, self.step
            self.best_state = copy.deepcopy(module.state_dict())
        return estimate.risk
