"""The parent's network as zoo adapt trains and judges it: with the package's own
processing, the blind-spot loss that suits it, and the held-out rows' SURE estimate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from zoo.adapt.config import AdaptConfig
from zoo.errors import ImageError, PackageError, SpecError

if TYPE_CHECKING:
    from zoo.runner import ModelRef

__all__ = [
    "ALPHA",
    "CORRELATED",
    "Estimate",
    "HeldOut",
    "Network",
    "checked_images",
    "correlated_axis",
    "loss_of",
    "margin",
    "parent_module",
]


class Network:
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


def parent_module(parent: ModelRef, torch: Any) -> tuple[Any, Path, str, dict[str, Any]]:
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


CORRELATED = 0.05
"""Correlation of neighbouring pixels' noise (the fingerprint's ``noise_corr_x`` /
``noise_corr_y``) from which the blind spot hides a line along that axis (StructN2V): with a
one-pixel blind spot the network learns to predict correlated noise from the neighbours and
keeps it. Independent noise measures near 0 (docs/adapt.md gives the held-out images')."""


def correlated_axis(fingerprint: Any) -> Literal["x", "y"] | None:
    """The axis along which the images' noise is correlated (:data:`CORRELATED`; the more
    correlated one when both are), or None."""
    stats = fingerprint.stats if fingerprint is not None else {}
    corr = {a: stats[f"noise_corr_{a}"].value for a in "xy" if f"noise_corr_{a}" in stats}
    axis = max(corr, key=lambda a: corr[a], default=None)
    return axis if axis is not None and corr[axis] >= CORRELATED else None  # type: ignore[return-value]


def loss_of(parent: ModelRef, config: AdaptConfig, fingerprint: Any = None) -> tuple[str, Any]:
    """The blind-spot variant and its masking: ``config.loss`` when given; else the parent's
    own StructN2V; else StructN2V along the axis where the images' noise (``fingerprint``)
    is correlated; else the parent's N2V or N2V2 (N2V2 for other parents, CARE included)."""
    from zoo.train.masking import Masking

    card = parent.package.card
    method = str(card.method.name) if card is not None else ""
    hyper = card.method.hyperparameters if card is not None else {}
    own = method == "structn2v"
    measured = correlated_axis(fingerprint)
    loss = config.loss or (
        "structn2v" if own or measured
        else method if method in ("n2v", "n2v2") else "n2v2"
    )  # fmt: skip
    axis = (hyper.get("struct_axis") if own else measured) if loss == "structn2v" else None
    if loss == "structn2v" and axis not in ("x", "y"):
        raise SpecError(
            "structn2v needs the noise's axis: the parent's card has no struct_axis "
            f"hyper-parameter and the images' noise is not correlated (>= {CORRELATED}) "
            "along x or y: choose --loss n2v or n2v2"
        )
    masking = Masking(
        fraction=config.masked_fraction,
        strategy="uniform" if loss == "n2v" else "median",
        struct_axis=axis,  # type: ignore[arg-type]
        struct_span=int((hyper.get("struct_span", 5) if own else 5) or 5),  # type: ignore[arg-type]
    )
    return loss, masking


def checked_images(images: Sequence[np.ndarray], config: AdaptConfig) -> list[np.ndarray]:
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


class HeldOut:
    """The held-out rows of every image and the SURE estimate of a network's error there."""

    def __init__(self, images: list[np.ndarray], config: AdaptConfig) -> None:
        from zoo.trial import noise_level

        self.fraction = config.val_fraction
        self.parts = []
        for image in images:
            y = image.astype(np.float64)
            cut = y.shape[0] - self.rows(y)
            margin = min(16, cut)
            slope, offset = noise_level(y)
            self.parts.append((y, slice(cut - margin, None), slice(margin, None), slope, offset))
        self.seed = config.seed

    def rows(self, image: np.ndarray) -> int:
        """How many bottom rows of ``image`` are held out (at least 32)."""
        return max(32, round(image.shape[0] * self.fraction))

    def estimate(self, network: Network) -> Estimate:
        """SURE of ``network``'s error on the held-out rows (the same probes every time)."""
        from zoo.trial import Sums, model_terms, noise_variance

        sums, rng, parts = Sums(), np.random.default_rng([self.seed, 2]), []
        for y, rows, inner, slope, offset in self.parts:
            region = y[rows]
            var = noise_variance(region, slope, offset)
            f = network.function(y)
            parts.append(model_terms(f, region, var, (inner, slice(None)), probes=2, rng=rng))
            sums.add(*parts[-1])
        return Estimate.of(sums, parts)

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


BLOCK = 32
"""Columns per block of the held-out rows: the unit of :class:`Estimate`'s standard error."""
ALPHA = 0.05
"""The chance, over a whole run, that some checkpoint no better than the parent is estimated
better by :func:`margin`: the run compares every evaluation with the parent, and the best
of many noisy comparisons looks better than it is."""


def margin(evaluations: int) -> float:
    """How many standard errors lower than the parent's a checkpoint's estimate must be to
    replace it, in a run of ``evaluations`` comparisons: the one-sided bound at
    :data:`ALPHA` / ``evaluations`` (Bonferroni)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - ALPHA / max(1, evaluations))


@dataclass(frozen=True)
class Estimate:
    """The held-out SURE estimate of one network, whole and per block of :data:`BLOCK`
    columns (each at the whole estimate's affine map)."""

    risk: float
    blocks: np.ndarray

    @classmethod
    def of(cls, sums: Any, parts: list[Any]) -> Estimate:
        from zoo.trial import pixel_risk

        a, b = sums.fit()
        blocks = []
        for terms in parts:
            r = pixel_risk(terms, a, b)
            for c in range(0, r.shape[1] - BLOCK // 2, BLOCK):
                blocks.append(float(r[:, c : c + BLOCK].mean()))
        return cls(sums.risk(), np.asarray(blocks))

    def gain_over(self, other: Estimate) -> tuple[float, float]:
        """(estimated error of ``other`` minus this one's, its standard error), the
        difference taken block by block (the same pixels and probes: a paired estimate)."""
        d = other.blocks - self.blocks
        se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("inf")
        return other.risk - self.risk, se

    def clearly_better_than(self, other: Estimate, z: float) -> bool:
        """Lower than ``other`` by more than ``z`` standard errors (:func:`margin`)."""
        gain, se = self.gain_over(other)
        return gain > z * se
