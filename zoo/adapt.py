"""``zoo adapt``: fit a zoo model to the user's own noisy images, without any clean target.

The parent package's network (its ``pytorch_state_dict`` weights in zoo's copy of the
architecture) is fine-tuned on the user's images with a self-supervised loss, then exported
and verified like any package (:func:`zoo.export.builder.build_package`), its card recording
the lineage (:class:`zoo.spec.Lineage`): parent id, version and sha256, the adaptation, and
the images by sha256, shape and fingerprint, never by path.

1. Each image goes through the parent's own preprocessing (statistics from the whole image,
   as ``zoo run`` computes them); the network's output is in the same normalised units.
2. The bottom ``val_fraction`` of every image's rows is held out; training patches come
   from the rest.
3. Loss: blind-spot masking (Noise2Void; N2V2's median replacement by default, StructN2V's
   for a StructN2V parent), the MSE at the masked pixels against their noisy values. It
   suits CARE parents too: a CARE network sees the pixel it denoises, so it cannot be
   trained on the noisy image itself without a blind spot (docs/adapt.md has the numbers).
4. Stopping rule: every ``val_every`` steps the network, run as ``zoo run`` runs it, is
   scored on the held-out rows by the trial's estimate of its error against the noise-free
   image (SURE, :mod:`zoo.trial`); the weights with the lowest estimate are kept, the
   parent's own (step 0) included, so the result is never estimated worse than the parent.
5. Budget: ``steps``, or ``minutes`` of wall-clock time (default
   :func:`default_minutes`: 10 minutes for 512², growing with the square root of the
   pixels to at most 40 minutes, which a 2048² image gets); the step count a time budget
   gives is recorded, and ``steps=N`` with the same seed reproduces the weights.

Nothing is written until the package is complete: an interrupt (Ctrl-C) or a kill during
the fine-tuning or the export leaves no file behind.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from zoo.errors import ImageError, PackageError, SpecError, require

if TYPE_CHECKING:
    from zoo.export.builder import BuildResult
    from zoo.runner import ModelRef
    from zoo.spec import AdaptedImage, ZooCard

__all__ = [
    "AdaptConfig",
    "Adapted",
    "adapt",
    "default_id",
    "default_minutes",
    "image_sha256",
    "package_adapted",
]

logger = logging.getLogger(__name__)

Loss = Literal["n2v", "n2v2", "structn2v"]
Progress = Callable[[int, int, float, float | None], None]
"""Called after every step with (step, steps, training loss, last held-out estimate or None)."""

MINUTES_512 = 10.0
"""Default budget for one 512 × 512 image on 2 cores."""
MAX_MINUTES = 40.0
"""The default budget's ceiling (a 2048² image, or several 1024² ones)."""
SELECTION = "lowest SURE estimate of the error on the held-out rows (zoo.trial)"


def default_minutes(pixels: int) -> float:
    """The default budget in minutes for images of ``pixels`` pixels in all: 10 for 512²,
    × √(pixels / 512²), at most :data:`MAX_MINUTES` (2048² and beyond get 40)."""
    return float(min(MAX_MINUTES, MINUTES_512 * np.sqrt(max(pixels, 1) / 512**2)))


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of one adaptation (recorded in the card's method hyper-parameters)."""

    steps: int | None = None
    """Optimiser steps; None: as many as ``minutes`` allow."""
    minutes: float | None = None
    """Wall-clock budget when ``steps`` is None; None: :func:`default_minutes`."""
    loss: Loss | None = None
    """Blind-spot variant; None: the parent's own (n2v, n2v2, structn2v), n2v2 otherwise."""
    batch_size: int = 16
    patch_size: int = 64
    learning_rate: float = 1e-4
    """Adam's initial rate (cosine decay to 1 % of it): lower than training from scratch."""
    masked_fraction: float = 0.015
    val_fraction: float = 0.1
    """Bottom fraction of each image's rows held out for the stopping rule."""
    val_every: int = 100
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 0:
            raise SpecError(f"steps must be >= 0, got {self.steps}")
        if self.minutes is not None and self.minutes <= 0:
            raise SpecError(f"minutes must be > 0, got {self.minutes}")
        if self.loss not in (None, "n2v", "n2v2", "structn2v"):
            raise SpecError(f"loss must be n2v, n2v2 or structn2v, got {self.loss!r}")
        if not 0 < self.val_fraction < 0.5:
            raise SpecError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        for name in ("batch_size", "patch_size", "val_every", "threads"):
            if getattr(self, name) < 1:
                raise SpecError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class Adapted:
    """The fine-tuned network and everything its card records."""

    parent: ModelRef
    module: Any
    architecture: Path
    callable: str
    kwargs: dict[str, Any]
    config: AdaptConfig
    loss: str
    steps: int
    best_step: int
    seconds: float
    images: list[AdaptedImage]
    example: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    """One entry per evaluation: step, train_loss, heldout (SURE estimate, input units²)."""
    heldout: dict[str, float] = field(default_factory=dict)
    """Estimated error on the held-out rows: parent, adapted, gaussian (best sigma)."""


def image_sha256(image: np.ndarray) -> str:
    """sha256 of an image's pixels: dtype, shape and C-order bytes."""
    a = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    digest.update(a.tobytes())
    return digest.hexdigest()


def default_id(parent_id: str, images: Sequence[AdaptedImage]) -> str:
    """``<parent>-adapted-<first 8 hex of the images' hash>`` (the hash of their sha256s)."""
    joined = "".join(i.sha256 for i in images)
    return f"{parent_id}-adapted-{hashlib.sha256(joined.encode()).hexdigest()[:8]}"


class _Network:
    """The parent's network with its processing, on one image: normalise, run, map back."""

    def __init__(self, parent: ModelRef, module: Any, torch: Any) -> None:
        from zoo.inference import tensor_axes
        from zoo.processing import STAT_OPS
        from zoo.tiling import _step_of

        package = parent.package
        self.inp, self.outp = package.descr.inputs[0], package.descr.outputs[0]
        self.axes = tensor_axes(self.inp)
        if self.axes != "bcyx":
            raise PackageError(
                f"zoo adapt fine-tunes models of single 2D images (axes bcyx); "
                f"{parent.id} takes {self.axes!r}"
            )
        if any(s.id in STAT_OPS for s in self.outp.postprocessing):
            raise PackageError(
                f"{parent.id}'s postprocessing needs statistics of the whole output; zoo "
                "adapt fine-tunes networks whose output is in their input's normalised units"
            )
        self.module, self.torch = module, torch
        self.step = _step_of(package)
        self.input_units = package.card is not None and package.card.output_units == "input"

    def bind(self, image: np.ndarray) -> Any:
        from zoo.processing import bind_processing

        return bind_processing(self.inp.preprocessing, self.axes, image[None, None])

    def normalised(self, image: np.ndarray) -> np.ndarray:
        """``image`` in the network's units (its own statistics)."""
        return self.bind(image)(image[None, None].astype(np.float32))[0, 0]

    def function(self, whole: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The network as ``zoo run`` runs it on regions of ``whole``, in input units."""
        from zoo.processing import bind_processing

        pre = self.bind(whole)
        post = bind_processing(self.outp.postprocessing, self.axes, None)
        restore = pre.inverse(1) if self.input_units else None

        def f(region: np.ndarray) -> np.ndarray:
            h, w = region.shape
            ph, pw = (-h) % self.step, (-w) % self.step
            x = np.pad(region, ((0, ph), (0, pw)), mode="reflect")[None, None]
            with self.torch.inference_mode():
                t = self.torch.from_numpy(np.ascontiguousarray(pre(x.astype(np.float32))))
                y = post(self.module(t).numpy())
            if restore is not None:
                y = restore(y)
            return y[0, 0, :h, :w].astype(np.float64)

        return f


def _parent_module(parent: ModelRef, torch: Any) -> tuple[Any, Path, str, dict[str, Any]]:
    """The parent's network (train mode), its architecture file, class and kwargs."""
    import io

    from zoo.archs import known_architecture, load_architecture_file
    from zoo.engines.base import read_bytes

    weights = getattr(parent.package.descr.weights, "pytorch_state_dict", None)
    if weights is None:
        raise PackageError(
            f"{parent.id} has no pytorch_state_dict weights: zoo adapt fine-tunes those "
            "(in zoo's copy of the architecture)"
        )
    path, cls_name = known_architecture(weights.architecture)
    kwargs = dict(weights.architecture.kwargs)
    module = load_architecture_file(path, cls_name)(**kwargs)
    state = torch.load(io.BytesIO(read_bytes(weights)), map_location="cpu", weights_only=True)
    module.load_state_dict(state)
    return module, path, cls_name, kwargs


def _loss_of(parent: ModelRef, config: AdaptConfig) -> tuple[str, Any]:
    """The blind-spot variant and its masking."""
    from zoo.train.masking import Masking

    card = parent.package.card
    method = str(card.method.name) if card is not None else ""
    loss = config.loss or (method if method in ("n2v", "n2v2", "structn2v") else "n2v2")
    hyper = card.method.hyperparameters if card is not None else {}
    axis = hyper.get("struct_axis") if loss == "structn2v" else None
    if loss == "structn2v" and axis not in ("x", "y"):
        raise SpecError(
            "structn2v needs the noise's axis; the parent's card has no struct_axis "
            "hyper-parameter: choose --loss n2v or n2v2"
        )
    masking = Masking(
        fraction=config.masked_fraction,
        strategy="uniform" if loss == "n2v" else "median",
        struct_axis=axis,  # type: ignore[arg-type]
        struct_span=int(hyper.get("struct_span", 5) or 5),  # type: ignore[arg-type]
    )
    return loss, masking


def _checked_images(images: Sequence[np.ndarray], config: AdaptConfig) -> list[np.ndarray]:
    out = []
    for i, image in enumerate(images):
        a = np.asarray(image)
        if a.ndim != 2:
            raise ImageError(
                f"image {i} has shape {a.shape}: zoo adapt takes 2D (YX) images; pass the "
                "planes or channels as separate images"
            )
        need = config.patch_size + max(config.patch_size, 32)
        if a.shape[0] < need or a.shape[1] < config.patch_size:
            raise ImageError(
                f"image {i} is {a.shape[0]}×{a.shape[1]}: adaptation needs at least "
                f"{need} rows (training patches of {config.patch_size} and held-out rows) and "
                f"{config.patch_size} columns"
            )
        if a.dtype.kind not in "uif" or not np.all(np.isfinite(a)):
            raise ImageError(f"image {i} is not finite real numbers ({a.dtype})")
        out.append(a)
    if not out:
        raise ImageError("zoo adapt needs at least one image")
    return out


class _HeldOut:
    """The held-out rows of every image and the SURE estimate of a network's error there."""

    def __init__(self, images: list[np.ndarray], config: AdaptConfig) -> None:
        from zoo.trial import noise_level

        self.parts = []
        for image in images:
            y = image.astype(np.float64)
            rows = max(32, round(y.shape[0] * config.val_fraction))
            cut = y.shape[0] - rows
            margin = min(16, cut)
            slope, offset = noise_level(y)
            self.parts.append((y, slice(cut - margin, None), slice(margin, None), slope, offset))
        self.seed = config.seed

    def estimate(self, network: _Network) -> float:
        from zoo.trial import Sums, model_terms, noise_variance

        sums, rng = Sums(), np.random.default_rng([self.seed, 2])
        for y, rows, inner, slope, offset in self.parts:
            region = y[rows]
            var = noise_variance(region, slope, offset)
            f = network.function(y)
            sums.add(*model_terms(f, region, var, (inner, slice(None)), probes=2, rng=rng))
        return sums.risk()

    def gaussian(self) -> float:
        from zoo.trial import TRIAL_SIGMAS, Sums, gaussian_terms, noise_variance

        sums = [Sums() for _ in TRIAL_SIGMAS]
        for y, rows, inner, slope, offset in self.parts:
            region = y[rows]
            var = noise_variance(region, slope, offset)
            for s, terms in zip(
                sums, gaussian_terms(region, var, (inner, slice(None))), strict=True
            ):
                s.add(*terms)
        return min(s.risk() for s in sums)


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
    from zoo.train.data import PatchSampler
    from zoo.train.masking import masked_mse

    torch = require("torch", "export")
    config = config or AdaptConfig()
    imgs = _checked_images(images, config)
    loss_name, masking = _loss_of(parent, config)
    records = [
        AdaptedImage(sha256=image_sha256(a), shape=list(a.shape), fingerprint=fingerprint([a]))
        for a in imgs
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    try:
        torch.manual_seed(config.seed)
        module, path, cls_name, kwargs = _parent_module(parent, torch)
        network = _Network(parent, module, torch)
        held = _HeldOut(imgs, config)
        train_parts = [
            network.normalised(a)[: a.shape[0] - max(32, round(a.shape[0] * config.val_fraction))]
            for a in imgs
        ]
        sampler = PatchSampler(
            train_parts,
            patch=config.patch_size,
            augment="flips" if masking.struct_axis else "dihedral",
        )
        rng = np.random.default_rng(config.seed)
        module.eval()
        best = (held.estimate(network), 0, copy.deepcopy(module.state_dict()))
        parent_estimate = best[0]
        history = [{"step": 0, "train_loss": float("nan"), "heldout": best[0]}]
        budget = 60 * (config.minutes or default_minutes(sum(a.size for a in imgs)))
        optimiser = torch.optim.Adam(module.parameters(), lr=config.learning_rate)

        def cosine(length: int) -> Any:
            return torch.optim.lr_scheduler.CosineAnnealingLR(
                optimiser, T_max=max(length, 1), eta_min=config.learning_rate * 0.01
            )

        steps = config.steps
        schedule = None if steps is None else cosine(steps)
        running: list[float] = []
        last: float | None = best[0]
        step, first = 0, time.perf_counter()
        while steps is None or step < steps:
            if steps is None and step == _MEASURE:  # the step count from the measured speed
                per_step = (time.perf_counter() - first) / _MEASURE
                left = budget - (time.perf_counter() - start)
                steps = step + max(1, int(left / (per_step * _EVAL_OVERHEAD)))
                schedule = cosine(steps - step)
            step += 1
            module.train()
            x, _none = sampler.sample(config.batch_size, rng)
            masked, masks = zip(*(masking.apply(p, rng) for p in x), strict=True)
            out = module(torch.from_numpy(np.stack(masked)[:, None]))
            loss = masked_mse(
                out, torch.from_numpy(x[:, None]), torch.from_numpy(np.stack(masks)[:, None])
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if schedule is not None:
                schedule.step()
            running.append(float(loss.detach()))
            if step % config.val_every == 0 or step == steps:
                module.eval()
                last = held.estimate(network)
                history.append(
                    {"step": step, "train_loss": float(np.mean(running)), "heldout": last}
                )
                running = []
                if last < best[0]:
                    best = (last, step, copy.deepcopy(module.state_dict()))
            if progress is not None:
                progress(step, steps or 0, float(loss.detach()), last)
        module.load_state_dict(best[2])
        module.eval()
        seconds = time.perf_counter() - start
        gaussian = held.gaussian()
    finally:
        torch.set_num_threads(threads)
    logger.info("adapted %s: %d steps, best at %d (%.0f s)", parent.id, steps, best[1], seconds)
    return Adapted(
        parent=parent, module=module, architecture=path, callable=cls_name, kwargs=kwargs,
        config=replace(config, steps=step), loss=loss_name, steps=step, best_step=best[1],
        seconds=seconds, images=records, example=imgs[0], history=history,
        heldout={"parent": parent_estimate, "adapted": best[0], "gaussian": gaussian},
    )  # fmt: skip


_MEASURE = 10
"""A time budget becomes a step count after this many steps (their measured speed)."""
_EVAL_OVERHEAD = 1.1
"""Held-out evaluations take about this share of a time budget on top of the steps."""


def adapted_card(adapted: Adapted) -> ZooCard:
    """The parent's card, made the adapted model's: its images as training data and domain
    fingerprint, the adaptation as method, the lineage, the held-out estimates."""
    from zoo import __version__
    from zoo.fingerprint import fingerprint
    from zoo.spec import Adaptation, Lineage, Method, Metric, TrainingData, Validation

    parent = adapted.parent
    card = parent.package.card
    if card is None:
        raise PackageError(f"{parent.id} has no zoo card: zoo adapt starts from a zoo package")
    n = len(adapted.images)
    torch = require("torch", "export")
    ref = f"{parent.id}@{parent.version}"
    what = f"{n} image(s) of the user, adapted from {ref}"
    measured = (
        ("model", adapted.heldout["adapted"]),
        (f"parent {ref}", adapted.heldout["parent"]),
        ("gaussian (best sigma by SURE)", adapted.heldout["gaussian"]),
    )
    where = f"held-out rows of the {n} adaptation image(s)"
    metrics = [Metric(name="sure_mse", value=v, dataset=where, method=m) for m, v in measured]
    hyper = {k: v for k, v in asdict(adapted.config).items() if v is not None and k != "threads"}
    shapes = [i.shape for i in adapted.images]
    return card.model_copy(
        update={
            "method": Method(
                name=adapted.loss,
                framework=f"zoo {__version__} adapt (torch {str(torch.__version__).split('+')[0]})",
                architecture=card.method.architecture,
                hyperparameters=hyper | {"parent": ref},
            ),
            "training_data": TrainingData(
                description=f"{what}: fine-tuned without clean targets on the images listed "
                "in the lineage (by sha256, shape and fingerprint; they are not distributed).",
                license="the user's own images (not distributed with the model)",
                n_images=n,
                image_shape=shapes[0],
                acquisition="unknown: the user's",
            ),
            "validation": Validation(
                intended_use=f"Denoise images like the {n} it was adapted to (their fingerprint "
                f"is the model's domain); the parent's use: {card.validation.intended_use}",
                limitations=[
                    f"adapted to {n} image(s) only: the domain check compares new images with them",
                    "judged without a clean target (SURE estimates on held-out rows)",
                    *card.validation.limitations,
                ],
                metrics=metrics,
            ),
            "fingerprint": fingerprint([np.asarray(adapted.example)])
            if n == 1 else _fingerprint_of(adapted),
            "sources": None,
            "lineage": Lineage(
                parent=ref,
                parent_sha256=parent.sha256,
                adaptation=Adaptation(
                    loss=adapted.loss, steps=adapted.steps, seconds=round(adapted.seconds, 1),
                    seed=adapted.config.seed, best_step=adapted.best_step, selection=SELECTION,
                ),
                images=adapted.images,
            ),
        }
    )  # fmt: skip


def _fingerprint_of(adapted: Adapted) -> Any:
    """The images' joint fingerprint from their own (the images are not kept)."""
    from zoo.spec import Stat

    prints = [i.fingerprint for i in adapted.images if i.fingerprint is not None]
    first = prints[0]
    stats = {
        name: Stat(
            value=float(np.median([p.stats[name].value for p in prints])),
            low=min(p.stats[name].low for p in prints),
            high=max(p.stats[name].high for p in prints),
        )
        for name in first.stats
    }
    return first.model_copy(
        update={
            "n_images": len(prints),
            "value_range": (
                min(p.value_range[0] for p in prints),
                max(p.value_range[1] for p in prints),
            ),
            "stats": stats,
        }
    )


def package_adapted(
    adapted: Adapted,
    output: str | Path,
    *,
    model_id: str | None = None,
    version: str = "0.1.0",
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Export, verify and write the adapted package (nothing is written if any step fails)."""
    from zoo.export.builder import ImportedModel, build_package

    parent = adapted.parent
    package = parent.package
    inp, outp = package.descr.inputs[0], package.descr.outputs[0]

    def steps(chain: Any) -> list[dict[str, Any]]:
        return [s.model_dump(mode="json", exclude_none=True) for s in chain]

    card = adapted_card(adapted)
    imported = ImportedModel(
        module=adapted.module,
        architecture=adapted.architecture,
        callable=adapted.callable,
        kwargs=adapted.kwargs,
        method=adapted.loss,
        framework=card.method.framework,
        preprocessing=steps(inp.preprocessing),
        postprocessing=steps(outp.postprocessing),
        spatial_axes="yx",
        channels=1,
        size_step=_Network(parent, adapted.module, require("torch", "export")).step,
        source=f"zoo adapt {parent.id}@{parent.version} (seed {adapted.config.seed})",
        output_units=card.output_units,
    )
    name = model_id or default_id(parent.id, adapted.images)
    descr = package.descr
    return build_package(
        imported,
        card,
        np.asarray(adapted.example),
        Path(output),
        name=name,
        description=f"{parent.id}@{parent.version} adapted by zoo adapt to "
        f"{len(adapted.images)} image(s) of its user, without clean targets ({adapted.loss} "
        f"loss, {adapted.steps} steps). {descr.description}",
        authors=[str(a.name) for a in descr.authors] or None,
        license=str(descr.license) if descr.license else None,
        cite=[
            {"text": str(c.text), "doi": str(c.doi)} for c in descr.cite if getattr(c, "doi", None)
        ],
        version=version,
        tags=("adapted",),
        progress=progress,
    )
