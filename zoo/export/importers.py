"""One entry point for every source of trained weights → :class:`ImportedModel`.

Sources: a CAREamics checkpoint (``careamics``), a CAREamics bioimage.io export
(``bioimageio``), a Keras csbdeep/n2v model folder (``keras``), and a plain PyTorch state
dict with a named zoo architecture (``state-dict``). Each importer's normalisation becomes
bioimage.io pre/post-processing, so the package runs the same anywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from zoo.archs import ARCHITECTURES, ARCHS_DIR, load_architecture, load_architecture_file
from zoo.errors import DependencyError, ImportFailedError, require
from zoo.export.builder import ImportedModel
from zoo.processing import BMZ_EPS

__all__ = [
    "ARCHITECTURES",
    "ARCHS_DIR",
    "SOURCES",
    "import_model",
    "load_architecture",
    "load_architecture_file",
    "mean_std_processing",
    "require_export",
]

Source = Literal["careamics", "bioimageio", "keras", "state-dict"]
SOURCES: tuple[str, ...] = ("careamics", "bioimageio", "keras", "state-dict")

EXPORT_MODULES: tuple[str, ...] = ("torch", "onnx", "onnxscript")
"""What the packager imports for every source (the ``export`` extra); Keras folders also
need ``h5py``."""


def require_export(source: str = "") -> None:
    """Import the packager's dependencies, or raise :class:`DependencyError` naming every
    missing one and the command that installs them (the ``export`` extra, torch pinned)."""
    import importlib

    modules = [*EXPORT_MODULES, *(("h5py",) if source == "keras" else ())]
    missing = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise DependencyError(
            f"packaging needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            "not installed (zoo's runtime does not need torch); install the export extra, "
            "with torch pinned explicitly so that pip does not pull a multi-GB CUDA build: "
            "pip install torch==2.13.0 'zoo[export]'"
        )


def mean_std_processing(
    in_mean: Sequence[float],
    in_std: Sequence[float],
    out_mean: Sequence[float] | None = None,
    out_std: Sequence[float] | None = None,
    *,
    eps: float = 0.0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-channel ``(x - mean) / (std + eps)`` before, ``y * (std + eps) + mean`` after.

    bioimage.io's ``fixed_zero_mean_unit_variance`` divides by ``std + 1e-6``; the std written
    is shifted so that the package computes exactly what the training framework did.
    """
    pre = [
        {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
        {
            "id": "fixed_zero_mean_unit_variance",
            "kwargs": {
                "mean": list(in_mean),
                "std": [s + eps - BMZ_EPS for s in in_std],
                "axis": "channel",
            },
        },
    ]
    out_mean = in_mean if out_mean is None else out_mean
    out_std = in_std if out_std is None else out_std
    post = [
        {
            "id": "scale_linear",
            "kwargs": {
                "gain": [s + eps for s in out_std],
                "offset": list(out_mean),
                "axis": "channel",
            },
        }
    ]
    return pre, post


def import_state_dict(
    path: Path,
    *,
    architecture: str,
    kwargs: Mapping[str, Any],
    method: str,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    percentiles: Sequence[float] | None = None,
) -> ImportedModel:
    """A plain state dict (``torch.save(model.state_dict())``) for a named zoo architecture.

    ``mean``/``std`` become a fixed normalisation (and its inverse on the output);
    ``percentiles`` (low, high) a per-image ``scale_range`` whose inverse zoo applies to the
    output (the card's ``output_units: input``), as ``zoo train --normalisation percentile``
    trains. Loaded with ``weights_only=True``: a file that needs code execution is refused.
    """
    if percentiles is not None and (mean or std):
        raise ImportFailedError("give --mean/--std or --percentiles, not both")
    if percentiles is not None and len(percentiles) != 2:
        raise ImportFailedError(f"percentiles are (low, high), got {list(percentiles)}")
    torch = require("torch", "export")
    arch_file, cls = load_architecture(architecture)
    try:
        module = cls(**kwargs)
    except TypeError as exc:
        raise ImportFailedError(f"bad kwargs for architecture {architecture!r}: {exc}") from exc
    state = _torch_load(torch, path)
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ImportFailedError(f"{path} holds a {type(state).__name__}, expected a state dict")
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        raise ImportFailedError(
            f"{path} does not fit {architecture} with kwargs {dict(kwargs)}: {exc}"
        ) from exc
    pre, post = mean_std_processing(mean, std) if mean and std else ((), ())
    if percentiles is not None:
        pre, post = percentile_processing(*percentiles), []
    return ImportedModel(
        module=module.eval(),
        architecture=arch_file,
        callable=cls.__name__,
        kwargs=dict(kwargs),
        method=method,
        framework="pytorch state dict",
        preprocessing=pre,
        postprocessing=post,
        spatial_axes="zyx" if kwargs.get("conv_dims", kwargs.get("n_dim", 2)) == 3 else "yx",
        channels=int(kwargs.get("in_channels", kwargs.get("n_channel_in", 1))),
        size_step=2 ** int(kwargs.get("depth", kwargs.get("n_depth", 2))),
        source=str(path),
        output_units="input" if percentiles is not None else None,
    )


def percentile_processing(low: float, high: float) -> list[dict[str, Any]]:
    """Per-image normalisation by the image's own percentiles (bioimage.io ``scale_range``
    over the spatial axes, per channel)."""
    kwargs = {"axes": ["y", "x"], "min_percentile": low, "max_percentile": high, "eps": 1e-6}
    return [
        {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
        {"id": "scale_range", "kwargs": kwargs},
    ]


def _torch_load(torch: Any, path: Path) -> Any:
    if not path.is_file():
        raise ImportFailedError(f"no weights file at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ImportFailedError(
            f"cannot load {path} safely ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "expected tensors only — zoo never unpickles code (weights_only=True)"
        ) from exc


def import_model(
    source: Source | str, path: str | os.PathLike[str], **options: Any
) -> ImportedModel:
    """Import trained weights of kind ``source`` from ``path``.

    ``state-dict`` needs ``architecture`` and ``kwargs`` (a dict or a JSON string) and
    ``method``; optional ``mean``/``std`` become the normalisation.
    """
    require_export(str(source))
    p = Path(path)
    if source == "careamics":
        from zoo.export.careamics import load_careamics_checkpoint

        return _from_careamics(load_careamics_checkpoint(p), p)
    if source == "bioimageio":
        from zoo.export.careamics import load_careamics_bioimageio

        return _from_careamics(load_careamics_bioimageio(p), p)
    if source == "keras":
        from zoo.export.keras import load_keras_model

        return _from_keras(load_keras_model(p), p)
    if source == "state-dict":
        kwargs = options.get("kwargs") or {}
        if isinstance(kwargs, str):
            kwargs = json.loads(kwargs)
        if not options.get("architecture"):
            raise ImportFailedError(
                f"a state dict needs its architecture: one of {sorted(ARCHITECTURES)}"
            )
        return import_state_dict(
            p,
            architecture=options["architecture"],
            kwargs=kwargs,
            method=options.get("method") or "n2v",
            mean=options.get("mean"),
            std=options.get("std"),
            percentiles=options.get("percentiles"),
        )
    raise ImportFailedError(f"unknown source kind {source!r}: expected one of {list(SOURCES)}")


def _from_careamics(imp: Any, path: Path) -> ImportedModel:
    arch_file, cls_name = ARCHITECTURES["careamics-unet"]
    norm = imp.normalization
    pre, post = mean_std_processing(
        norm.input_means, norm.input_stds, norm.output_means, norm.output_stds, eps=norm.eps
    )
    kwargs = dict(imp.arch_kwargs)
    conv_dims = int(kwargs.get("conv_dims", 2))
    return ImportedModel(
        module=imp.module,
        architecture=ARCHS_DIR / arch_file,
        callable=cls_name,
        kwargs=kwargs,
        method=imp.method,
        framework="careamics",
        preprocessing=pre,
        postprocessing=post,
        spatial_axes="zyx" if conv_dims == 3 else "yx",
        channels=int(kwargs.get("in_channels", 1)),
        size_step=2 ** int(kwargs.get("depth", 2)),
        source=str(path),
    )


PROBABILISTIC_NOTE = (
    "Probabilistic CARE (csbdeep, Laplace loss): the network predicts a Laplace mean and "
    "scale per pixel; this package outputs the mean, the denoised image CARE.predict returns, "
    "and leaves the scale head out (its weights are not in the package)."
)
"""What the README of a package made from a probabilistic CARE model says."""


def _from_keras(imp: Any, path: Path) -> ImportedModel:
    from zoo.export.keras import mean_only

    arch_file, cls_name = ARCHITECTURES["csbdeep-unet"]
    probabilistic = bool(imp.arch_kwargs.get("probabilistic"))
    imp = mean_only(imp)
    kwargs = dict(imp.arch_kwargs)
    if imp.normalization is not None:
        means, stds = imp.normalization["means"], imp.normalization["stds"]
        pre, post = mean_std_processing(means, stds)
    else:
        # csbdeep CARE: each image is percentile-normalised (2, 99.8). csbdeep's predict scales
        # the output back with the input's percentiles; bioimage.io processing cannot express
        # that per-sample inverse, so the package's output stays in normalised units.
        pre = [
            {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
            {
                "id": "scale_range",
                "kwargs": {"axes": ["y", "x"], "min_percentile": 2.0, "max_percentile": 99.8},
            },
        ]
        post = []
    n_dim = int(kwargs.get("n_dim", 2))
    return ImportedModel(
        module=imp.module,
        architecture=ARCHS_DIR / arch_file,
        callable=cls_name,
        kwargs=kwargs,
        method=imp.method,
        framework=imp.framework,
        preprocessing=pre,
        postprocessing=post,
        spatial_axes="zyx" if n_dim == 3 else "yx",
        channels=int(kwargs.get("n_channel_in", 1)),
        size_step=int(kwargs.get("pool", 2)) ** int(kwargs.get("n_depth", 2)),
        source=str(path),
        notes=(PROBABILISTIC_NOTE,) if probabilistic else (),
    )
