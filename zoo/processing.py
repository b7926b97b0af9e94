"""bioimage.io pre/post-processing (format 0.5) in numpy, with bioimage.io semantics.

Each step is a bioimage.io processing description (``descr.id`` + ``descr.kwargs``). Tensors
are numpy arrays with an axes string such as ``"bcyx"`` (b = batch, c = channel). Sample
statistics (percentiles, mean/std) are computed on the array given as ``stats_source`` when
one is passed, so that a tile can be normalised with the statistics of its whole image.

Sample statistics are taken from :func:`stats_view`: the whole sample up to
:data:`STATS_PIXELS` pixels per plane, a regular strided subsample of larger ones. The
subsample depends on the shape alone, so the whole-image, tiled and Dask paths (which reads
it from disk without the rest) compute the same statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from zoo.errors import SpecError

__all__ = [
    "AFFINE_OPS",
    "BMZ_EPS",
    "STATS_PIXELS",
    "STAT_OPS",
    "BoundProcessing",
    "apply_processing",
    "bind_processing",
    "parse_processing",
    "stats_view",
]

BMZ_EPS = 1e-6
"""bioimageio.core adds this to the std of ``fixed_zero_mean_unit_variance``."""

STATS_PIXELS = 1 << 22
"""Sample statistics use at most this many pixels of each plane (2048 × 2048): the whole
plane when it is no larger, else every ``s``-th pixel along each spatial axis with the
smallest stride ``s`` that fits (bioimageio.core uses every pixel: the two can differ on
planes over 4 Mpx, by the sampling error of a percentile from ≥ 4 M samples)."""

_SPATIAL = "zyx"


def stats_view(x: Any, axes: str) -> Any:
    """The pixels of ``x`` (numpy or Dask, laid out as ``axes``) that sample statistics are
    computed from: ``x`` itself, or a strided view of it (:data:`STATS_PIXELS`).

    A view of ``STATS_PIXELS`` or fewer pixels is its own view, so statistics of a view taken
    once are those of the whole."""
    spatial = [i for i, a in enumerate(axes) if a in _SPATIAL]
    sizes = [x.shape[i] for i in spatial]
    stride = 1
    while np.prod([-(-n // stride) for n in sizes]) > STATS_PIXELS:
        stride += 1
    if stride == 1:
        return x
    index = [slice(None)] * len(axes)
    for i in spatial:
        index[i] = slice(None, None, stride)
    return x[tuple(index)]


def _reduce_axes(axes: str, names: Sequence[Any] | None) -> tuple[int, ...]:
    """Indices of the axes to reduce over; None means every axis."""
    if names is None:
        return tuple(range(len(axes)))
    ids = [str(n)[0] if str(n) in ("batch", "channel") else str(n) for n in names]
    return tuple(axes.index(i) for i in ids)


def _along(axes: str, axis: Any, values: Sequence[float], ndim: int) -> np.ndarray:
    """Per-channel (or per-index) values shaped to broadcast along ``axis``."""
    name = str(axis)
    idx = axes.index("c" if name == "channel" else name)
    shape = [1] * ndim
    shape[idx] = len(values)
    return np.asarray(values, dtype=np.float64).reshape(shape)


def _scalar_or_along(axes: str, kwargs: Any, field: str, ndim: int) -> Any:
    value = getattr(kwargs, field)
    if isinstance(value, (list, tuple)):
        return _along(axes, kwargs.axis, value, ndim)
    return value


def _step(x: np.ndarray, axes: str, step: Any, stats: np.ndarray) -> np.ndarray:
    op, kw = step.id, step.kwargs
    if op == "ensure_dtype":
        return x.astype(kw.dtype)
    if op == "fixed_zero_mean_unit_variance":
        mean = _scalar_or_along(axes, kw, "mean", x.ndim)
        std = _scalar_or_along(axes, kw, "std", x.ndim)
        return (x - mean) / (std + BMZ_EPS)
    if op == "scale_linear":
        gain = _scalar_or_along(axes, kw, "gain", x.ndim)
        offset = _scalar_or_along(axes, kw, "offset", x.ndim)
        return x * gain + offset
    if op == "zero_mean_unit_variance":
        red = _reduce_axes(axes, kw.axes)
        mean = stats.mean(axis=red, keepdims=True)
        std = stats.std(axis=red, keepdims=True)
        return (x - mean) / (std + kw.eps)
    if op == "scale_range":
        red = _reduce_axes(axes, kw.axes)
        lo = np.percentile(stats, kw.min_percentile, axis=red, keepdims=True)
        hi = np.percentile(stats, kw.max_percentile, axis=red, keepdims=True)
        return (x - lo) / (hi - lo + kw.eps)
    if op == "clip":
        return np.clip(x, kw.min, kw.max)
    if op == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    raise SpecError(
        f"processing step {op!r} is not supported by zoo; supported: ensure_dtype, "
        "fixed_zero_mean_unit_variance, zero_mean_unit_variance, scale_linear, scale_range, "
        "clip, sigmoid"
    )


def apply_processing(
    x: np.ndarray,
    axes: str,
    steps: Sequence[Any],
    *,
    stats_source: np.ndarray | None = None,
) -> np.ndarray:
    """Apply bioimage.io processing ``steps`` to ``x`` (float64 inside, float32 out).

    ``stats_source`` (same axes as ``x``) supplies sample statistics; it defaults to ``x``.
    """
    out = x.astype(np.float64)
    stats = None
    if any(step.id in STAT_OPS for step in steps):
        view = stats_view(x if stats_source is None else stats_source, axes)
        stats = None if view is x else np.asarray(view, dtype=np.float64)
    for step in steps:
        source = out if stats is None else stats
        if stats is not None:
            stats = _as_float(_step(stats, axes, step, stats))
        out = _as_float(_step(out, axes, step, source))
    return out.astype(np.float32)


STAT_OPS = frozenset({"zero_mean_unit_variance", "scale_range"})
"""Steps that need sample statistics (of the whole image, not of a tile)."""


AFFINE_OPS = frozenset(
    {"fixed_zero_mean_unit_variance", "scale_linear", "zero_mean_unit_variance", "scale_range"}
)
"""Steps that are an affine map per channel once their statistics are fixed (and
``ensure_dtype`` to a float type)."""


@dataclass(frozen=True)
class BoundProcessing:
    """Processing steps as one function for tiles of a sample, its statistics frozen.

    ``frozen`` maps the index of each statistics step to ``(a, b)``: the step is
    ``x ↦ (x − a) / b`` with ``a``, ``b`` taken from the whole sample. Plain data, so it
    travels to Dask workers.
    """

    steps: tuple[Any, ...]
    axes: str
    frozen: Mapping[int, tuple[np.ndarray, np.ndarray]]

    def _apply(self, x: np.ndarray) -> np.ndarray:
        out = x.astype(np.float64)
        for i, step in enumerate(self.steps):
            if i in self.frozen:
                a, b = self.frozen[i]
                out = (out - a) / b
            else:
                out = _step(out, self.axes, step, out)
            out = _as_float(out)
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._apply(x).astype(np.float32)

    def inverse(self, channels: int = 1) -> Callable[[np.ndarray], np.ndarray]:
        """``y ↦ x`` with ``self(x) = y``: the steps' affine map per channel undone.

        Raises :class:`SpecError` when a step is not affine (``clip``, ``sigmoid``, an
        integer ``ensure_dtype``)."""
        for step in self.steps:
            dtype = getattr(step.kwargs, "dtype", "float32")
            if step.id not in AFFINE_OPS and not (
                step.id == "ensure_dtype" and np.dtype(dtype).kind == "f"
            ):
                raise SpecError(
                    f"the output cannot be mapped back to the input's units: preprocessing "
                    f"step {step.id!r} is not an affine map"
                )
        shape = [1] * len(self.axes)
        if "c" in self.axes:
            shape[self.axes.index("c")] = channels
        offset = self._apply(np.zeros(shape))
        gain = self._apply(np.ones(shape)) - offset
        return lambda y: ((y.astype(np.float64) - offset) / gain).astype(np.float32)


def bind_processing(steps: Sequence[Any], axes: str, sample: Any | None) -> BoundProcessing:
    """``steps`` as one function for tiles of ``sample``, its statistics frozen from the whole.

    Tiles then get exactly the processing :func:`apply_processing` gives the whole image,
    without a processed copy of the whole image in memory: sample statistics are computed
    once (only when a step needs them, on :func:`stats_view` of the sample processed up to
    that step) and the step becomes the affine map they define. ``sample`` (numpy or Dask)
    may be None when no step needs statistics.
    """
    steps = tuple(steps)
    frozen: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    needed = [i for i, step in enumerate(steps) if step.id in STAT_OPS]
    if needed and sample is None:
        raise ValueError(f"processing step {steps[needed[0]].id!r} needs the whole sample")
    if needed:
        current = np.asarray(stats_view(sample, axes), dtype=np.float64)
        for i, step in enumerate(steps[: needed[-1] + 1]):
            if i in needed:
                frozen[i] = _frozen_stats(current, axes, step)
            if i < needed[-1]:
                done = BoundProcessing((step,), axes, {0: frozen[i]} if i in frozen else {})
                current = done._apply(current)
    return BoundProcessing(steps, axes, frozen)


def _frozen_stats(whole: np.ndarray, axes: str, step: Any) -> tuple[np.ndarray, np.ndarray]:
    """A statistics step's ``(a, b)`` (it is ``x ↦ (x − a) / b``) from the whole sample."""
    kw = step.kwargs
    red = _reduce_axes(axes, kw.axes)
    kept = [axes[i] for i in range(len(axes)) if i not in red and axes[i] not in "bc"]
    if kept:
        raise SpecError(
            f"{step.id} with statistics per {''.join(kept)} position cannot be tiled; zoo "
            "supports reductions over every spatial axis"
        )
    if step.id == "zero_mean_unit_variance":
        a = whole.mean(axis=red, keepdims=True)
        b = whole.std(axis=red, keepdims=True) + kw.eps
    else:
        a = np.percentile(whole, kw.min_percentile, axis=red, keepdims=True)
        b = np.percentile(whole, kw.max_percentile, axis=red, keepdims=True) - a + kw.eps
    return a, b


def _as_float(x: np.ndarray) -> np.ndarray:
    """Keep computing in float64 after an ``ensure_dtype`` to a float type."""
    return x.astype(np.float64) if x.dtype.kind == "f" else x


def parse_processing(kind: Literal["pre", "post"], steps: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Validate plain ``{"id": …, "kwargs": …}`` steps into bioimage.io processing descriptions."""
    from bioimageio.spec.model import v0_5 as bmz
    from pydantic import TypeAdapter, ValidationError

    descr = bmz.PreprocessingDescr if kind == "pre" else bmz.PostprocessingDescr
    try:
        return TypeAdapter(list[descr]).validate_python([dict(s) for s in steps])  # type: ignore[valid-type]
    except ValidationError as exc:
        raise SpecError(f"invalid {kind}processing steps: {exc}") from exc
