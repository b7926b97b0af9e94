"""bioimage.io pre/post-processing (format 0.5) in numpy, with bioimage.io semantics.

Each step is a bioimage.io processing description (``descr.id`` + ``descr.kwargs``). Tensors
are numpy arrays with an axes string such as ``"bcyx"`` (b = batch, c = channel). Sample
statistics (percentiles, mean/std) are computed on the array given as ``stats_source`` when
one is passed, so that a tile can be normalised with the statistics of its whole image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from zoo.errors import SpecError

__all__ = ["BMZ_EPS", "STAT_OPS", "apply_processing", "bind_processing", "parse_processing"]

BMZ_EPS = 1e-6
"""bioimageio.core adds this to the std of ``fixed_zero_mean_unit_variance``."""


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
    stats = None if stats_source is None else stats_source.astype(np.float64)
    for step in steps:
        source = out if stats is None else stats
        if stats is not None:
            stats = _as_float(_step(stats, axes, step, stats))
        out = _as_float(_step(out, axes, step, source))
    return out.astype(np.float32)


STAT_OPS = frozenset({"zero_mean_unit_variance", "scale_range"})
"""Steps that need sample statistics (of the whole image, not of a tile)."""


def bind_processing(
    steps: Sequence[Any], axes: str, sample: np.ndarray | None
) -> Callable[[np.ndarray], np.ndarray]:
    """``steps`` as one function for tiles of ``sample``, its statistics frozen from the whole.

    Tiles then get exactly the processing :func:`apply_processing` gives the whole image,
    without a processed copy of the whole image in memory: sample statistics are computed
    once (only when a step needs them, on the whole image processed up to that step) and
    the step becomes the affine map they define. ``sample`` may be None when no step needs
    statistics.
    """
    bound: list[Callable[[np.ndarray], np.ndarray]] = []
    stats_needed = [i for i, step in enumerate(steps) if step.id in STAT_OPS]
    current = None
    for i, step in enumerate(steps):
        if step.id in STAT_OPS:
            if sample is None:
                raise ValueError(f"processing step {step.id!r} needs the whole sample")
            if current is None:
                current = sample.astype(np.float64)
                for f in bound:
                    current = _as_float(f(current))
            frozen = _frozen_stats(current, axes, step)
            bound.append(frozen)
        else:
            bound.append(lambda x, step=step: _step(x, axes, step, x))
        if current is not None:
            current = _as_float(bound[-1](current)) if i < stats_needed[-1] else None

    def run(x: np.ndarray) -> np.ndarray:
        out = x.astype(np.float64)
        for f in bound:
            out = _as_float(f(out))
        return out.astype(np.float32)

    return run


def _frozen_stats(whole: np.ndarray, axes: str, step: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A statistics step as ``x ↦ (x − a) / b`` with ``a``, ``b`` from the whole sample."""
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
    return lambda x: (x - a) / b


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
