"""Import CAREamics models: Lightning checkpoints and CAREamics's own bioimage.io exports.

Both importers rebuild the network as zoo's port of the CAREamics UNet
(``zoo/archs/careamics_unet.py``, the :data:`ARCHITECTURE` file), load its weights with
``torch.load(weights_only=True)`` — a file that needs code execution to unpickle is refused,
never run — and return a :class:`CareamicsImport`: the module in eval mode, its constructor
keyword arguments, the normalisation CAREamics applies around it, the data axes and the method.

Only CAREamics's UNet (N2V, N2V2, structN2V, CARE, N2N) is supported; other architectures
(LVAE/HDN/µSplit, custom models) and other normalisations are refused with
:class:`~zoo.errors.ImportFailedError`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.archs import ARCHS_DIR, refusal_reason
from zoo.errors import ImportFailedError, PackageError, SpecError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ARCHITECTURE",
    "CareamicsImport",
    "CareamicsNormalization",
    "load_careamics_bioimageio",
    "load_careamics_checkpoint",
]

ARCHITECTURE = ARCHS_DIR / "careamics_unet.py"
"""Self-contained source of the ``UNet`` class the importers build (copied into packages)."""

UNET_DEFAULTS: Mapping[str, Any] = {
    "conv_dims": 2,
    "num_classes": 1,
    "in_channels": 1,
    "depth": 2,
    "num_channels_init": 32,
    "residual": False,
    "final_activation": "None",
    "n2v2": False,
    "independent_channels": True,
    "use_batch_norm": True,
}
"""CAREamics 0.3's ``UNetConfig`` fields and defaults (a field missing from a config has these)."""

CAREAMICS_UNET_IMPORTS = ("careamics.models.unet", "careamics.models")
"""``import_from`` values of a bioimage.io architecture that name CAREamics's UNet."""

EPS = 1e-6
"""Added to the std by CAREamics's (de)normalisation and by bioimage.io's processing."""

CHECKPOINT_PREFIX = "model."
"""Prefix of the UNet's weights in a CAREamics Lightning checkpoint."""


@dataclass(frozen=True)
class CareamicsNormalization:
    """CAREamics's per-channel mean/std normalisation around the network.

    Input: ``(x - mean) / (std + eps)``; output: ``y * (std + eps) + mean``, as CAREamics's
    ``Normalize`` and ``Denormalize`` do. Output statistics are the target statistics, or the
    input statistics when CAREamics recorded none (N2V).
    """

    input_means: list[float]
    input_stds: list[float]
    output_means: list[float]
    output_stds: list[float]
    eps: float = EPS

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Normalise a ``(B, C, [Z,] Y, X)`` input for the network (float32)."""
        mean = _per_channel(self.input_means, x.ndim)
        std = _per_channel(self.input_stds, x.ndim)
        return ((x.astype(np.float64) - mean) / (std + self.eps)).astype(np.float32)

    def denormalize(self, y: np.ndarray) -> np.ndarray:
        """Map a ``(B, C, [Z,] Y, X)`` network output back to image intensities (float32)."""
        mean = _per_channel(self.output_means, y.ndim)
        std = _per_channel(self.output_stds, y.ndim)
        return (y.astype(np.float64) * (std + self.eps) + mean).astype(np.float32)


@dataclass(frozen=True)
class CareamicsImport:
    """A CAREamics UNet rebuilt in torch, with what is needed to feed it."""

    module: nn.Module
    """zoo's ``UNet`` (:data:`ARCHITECTURE`), weights loaded, in eval mode."""
    arch_kwargs: dict[str, Any]
    """Keyword arguments of ``UNet(**arch_kwargs)`` (JSON-able)."""
    normalization: CareamicsNormalization
    """Normalisation CAREamics applies before and after the network."""
    axes: str
    """Axes of the training data as CAREamics records them, e.g. "YX" or "SCZYX"."""
    method: str
    """"n2v", "n2v2", "structn2v", "care" or "n2n"."""
    config: dict[str, Any]
    """CAREamics's raw ``algorithm_config`` and ``data_config``, under those keys."""


def load_careamics_checkpoint(path: str | Path) -> CareamicsImport:
    """Import a Lightning checkpoint (``.ckpt``) written by CAREamics 0.3.

    Raises :class:`ImportFailedError` when the file is unreadable or would need code execution
    to load, lacks CAREamics's hyper-parameters, is not a UNet, or its weights do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFailedError(
            f"no checkpoint at {path}: expected a .ckpt file written by CAREamics"
        )
    checkpoint = _torch_load(path, path)
    if not isinstance(checkpoint, Mapping):
        raise ImportFailedError(
            f"{path} holds a {type(checkpoint).__name__}, expected a Lightning checkpoint "
            "(a dict with state_dict and hyper_parameters) written by CAREamics"
        )
    algorithm = _get(checkpoint, ("hyper_parameters", "algorithm_config"), path)
    data = _get(checkpoint, ("datamodule_hyper_parameters", "data_config"), path)
    model_config = _get(algorithm, ("model",), path, "hyper_parameters.algorithm_config")
    kwargs = _arch_kwargs(model_config, path)
    weights = _strip_prefix(_get(checkpoint, ("state_dict",), path), path)
    return CareamicsImport(
        module=_build_unet(kwargs, weights, path),
        arch_kwargs=kwargs,
        normalization=_config_normalization(data, kwargs, path),
        axes=str(_get(data, ("axes",), path, "data_config")),
        method=_method(algorithm, kwargs, path),
        config={"algorithm_config": dict(algorithm), "data_config": dict(data)},
    )


def load_careamics_bioimageio(path: str | Path) -> CareamicsImport:
    """Import a bioimage.io package written by CAREamics's ``export_to_bmz``.

    ``path`` is the package zip, its folder or its rdf.yaml. The network comes from the
    ``pytorch_state_dict`` weights (architecture ``careamics.models.unet.UNet``), the
    normalisation from the ``fixed_zero_mean_unit_variance`` pre- and post-processing, the
    axes and method from the ``careamics.yaml`` attachment.
    """
    path = Path(path)
    descr = _load_model_descr(path)
    weights_descr = _careamics_weights_descr(descr, path)
    kwargs = _arch_kwargs(weights_descr.architecture.kwargs, path)
    weights = _torch_load(weights_descr.get_reader().read(), path)
    careamics_config = _careamics_yaml(descr, path)
    algorithm = _get(careamics_config, ("algorithm_config",), path, "careamics.yaml")
    data = _get(careamics_config, ("data_config",), path, "careamics.yaml")
    return CareamicsImport(
        module=_build_unet(kwargs, weights, path),
        arch_kwargs=kwargs,
        normalization=_package_normalization(descr, kwargs, path),
        axes=str(_get(data, ("axes",), path, "careamics.yaml data_config")),
        method=_method(algorithm, kwargs, path),
        config={"algorithm_config": dict(algorithm), "data_config": dict(data)},
    )


# --- loading and checking -------------------------------------------------------------------


def _torch_load(source: Path | bytes, path: Path) -> Any:
    """``torch.load(weights_only=True)`` on a file or bytes; failures become ImportFailedError."""
    import pickle

    import torch

    try:
        return torch.load(
            io.BytesIO(source) if isinstance(source, bytes) else source,
            map_location="cpu",
            weights_only=True,
        )
    except pickle.UnpicklingError as exc:
        raise ImportFailedError(
            f"{path} was refused by torch.load(weights_only=True): {refusal_reason(exc)}. "
            "A CAREamics checkpoint or state dict holds only tensors and plain data, so this "
            "file is damaged or is not one; zoo never unpickles code. Re-save the weights "
            "with CAREamics from a source you trust."
        ) from exc
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise ImportFailedError(
            f"cannot read {path} as torch weights ({type(exc).__name__}: {exc}); expected a "
            "complete file written by torch.save (a truncated copy or another format cannot "
            "be read): copy or download it again"
        ) from exc


def _get(data: Any, keys: Sequence[str], path: Path, within: str = "") -> Any:
    """``data[keys[0]][keys[1]]...``; a missing level raises ImportFailedError naming it."""
    where = within
    for key in keys:
        if not isinstance(data, Mapping) or data.get(key) is None:
            found = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
            raise ImportFailedError(
                f"{path}: expected {'.'.join(filter(None, [where, key]))} as CAREamics 0.3 "
                f"writes it, found {found}; this file was not written by CAREamics 0.3 "
                "(re-export the model with CAREamics, or import its weights another way)"
            )
        data = data[key]
        where = ".".join(filter(None, [where, key]))
    return data


def _arch_kwargs(model_config: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """UNet keyword arguments from a CAREamics model config; anything else is refused."""
    from zoo.archs.careamics_unet import ACTIVATIONS

    architecture = model_config.get("architecture", "UNet")
    if architecture != "UNet":
        raise ImportFailedError(
            f"{path}: architecture {architecture!r} is not supported: zoo imports CAREamics's UNet "
            "only (N2V, N2V2, structN2V, CARE, N2N); export this model to ONNX or TorchScript "
            "with CAREamics instead"
        )
    unknown = sorted(set(model_config) - set(UNET_DEFAULTS) - {"architecture"})
    if unknown:
        raise ImportFailedError(
            f"{path}: the UNet configuration has fields zoo's port does not know: {unknown}; "
            f"expected only {sorted(UNET_DEFAULTS)} (CAREamics 0.3). A newer CAREamics may have "
            "changed the network: update zoo/archs/careamics_unet.py before importing it"
        )
    kwargs = {**UNET_DEFAULTS, **{k: v for k, v in model_config.items() if k in UNET_DEFAULTS}}
    if kwargs["conv_dims"] not in (2, 3) or kwargs["final_activation"] not in ACTIVATIONS:
        raise ImportFailedError(
            f"{path}: unsupported UNet settings conv_dims={kwargs['conv_dims']!r}, "
            f"final_activation={kwargs['final_activation']!r}: expected conv_dims 2 or 3 and "
            f"final_activation one of {ACTIVATIONS}"
        )
    return kwargs


def _strip_prefix(state_dict: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The UNet's weights of a Lightning state dict, without the ``model.`` prefix."""
    _require_mapping(state_dict, path)
    foreign = sorted(k for k in state_dict if not k.startswith(CHECKPOINT_PREFIX))
    if foreign:
        raise ImportFailedError(
            f"{path}: state_dict has unexpected keys outside '{CHECKPOINT_PREFIX}': "
            f"{_few(foreign)}; expected only the UNet's weights, as CAREamics saves them"
        )
    return {k.removeprefix(CHECKPOINT_PREFIX): v for k, v in state_dict.items()}


def _build_unet(kwargs: Mapping[str, Any], state_dict: Mapping[str, Any], path: Path) -> nn.Module:
    """zoo's UNet with ``state_dict`` loaded strictly, in eval mode."""
    from zoo.archs.careamics_unet import UNet

    _require_mapping(state_dict, path)
    module = UNet(**kwargs)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshapen = sorted(
        k
        for k in set(expected) & set(state_dict)
        if tuple(getattr(state_dict[k], "shape", ())) != tuple(expected[k].shape)
    )
    if missing or unexpected or misshapen:
        raise ImportFailedError(
            f"{path}: the weights do not fit UNet({_kwargs_text(kwargs)}): "
            f"unexpected keys {_few(unexpected)}, missing keys {_few(missing)}, wrong shapes "
            f"{_few(misshapen)}. The weights and the architecture settings must come from the "
            "same CAREamics model; re-export it with CAREamics"
        )
    module.load_state_dict(state_dict, strict=True)
    return module.eval()


def _require_mapping(state_dict: Any, path: Path) -> None:
    """Refuse weights that are not a state dict (a mapping of names to tensors)."""
    if not isinstance(state_dict, Mapping):
        raise ImportFailedError(
            f"{path}: the weights are a {type(state_dict).__name__}, expected a state dict "
            "(a mapping of parameter names to tensors)"
        )


def _method(algorithm: Mapping[str, Any], kwargs: Mapping[str, Any], path: Path) -> str:
    """zoo's method name for a CAREamics ``algorithm_config``."""
    name = algorithm.get("algorithm")
    if name in ("care", "n2n"):
        return str(name)
    if name != "n2v":
        raise ImportFailedError(
            f"{path}: algorithm {name!r} is not supported; expected 'n2v', 'care' or 'n2n' "
            "(CAREamics's UNet algorithms)"
        )
    if (algorithm.get("n2v_config") or {}).get("struct_mask"):
        return "structn2v"
    return "n2v2" if kwargs["n2v2"] else "n2v"


# --- normalisation ---------------------------------------------------------------------------


def _config_normalization(
    data: Mapping[str, Any], kwargs: Mapping[str, Any], path: Path
) -> CareamicsNormalization:
    """The mean/std normalisation recorded in a CAREamics 0.3 ``data_config``."""
    norm = _get(data, ("normalization",), path, "data_config")
    if norm.get("name") != "mean_std":
        raise ImportFailedError(
            f"{path}: normalization {norm.get('name')!r} is not supported; zoo imports "
            "CAREamics models trained with 'mean_std' normalisation only"
        )
    within = "data_config.normalization"
    means = _get(norm, ("input_means",), path, within)
    stds = _get(norm, ("input_stds",), path, within)
    has_target = bool(norm.get("target_means") and norm.get("target_stds"))
    out_means = norm["target_means"] if has_target else means
    out_stds = norm["target_stds"] if has_target else stds
    inputs, outputs = kwargs["in_channels"], kwargs["num_classes"]
    return CareamicsNormalization(
        input_means=_stats(means, inputs, "input_means", path),
        input_stds=_stats(stds, inputs, "input_stds", path),
        output_means=_stats(out_means, outputs, "output means", path),
        output_stds=_stats(out_stds, outputs, "output stds", path),
    )


def _package_normalization(
    descr: Any, kwargs: Mapping[str, Any], path: Path
) -> CareamicsNormalization:
    """CAREamics's normalisation from the package's pre- and post-processing.

    bioimage.io computes ``(t - mean) / (std + eps)``. CAREamics writes its input statistics
    as they are, and its denormalisation ``y * (std + eps) + mean`` as the post-processing
    ``mean' = -mean / (std + eps)``, ``std' = 1 / (std + eps) - eps``; this inverts that.
    """
    means, stds = _fixed_mean_std(descr.inputs[0].preprocessing, kwargs["in_channels"], path)
    post_means, post_stds = _fixed_mean_std(
        descr.outputs[0].postprocessing, kwargs["num_classes"], path
    )
    scales = [1.0 / (s + EPS) for s in post_stds]
    return CareamicsNormalization(
        input_means=means,
        input_stds=stds,
        output_means=[-m * s for m, s in zip(post_means, scales, strict=True)],
        output_stds=[s - EPS for s in scales],
    )


def _fixed_mean_std(
    steps: Iterable[Any], channels: int, path: Path
) -> tuple[list[float], list[float]]:
    """Mean and std of the one ``fixed_zero_mean_unit_variance`` step among ``steps``."""
    ids = [step.id for step in steps]
    if [i for i in ids if i != "ensure_dtype"] != ["fixed_zero_mean_unit_variance"]:
        raise ImportFailedError(
            f"{path}: processing steps {ids} are not CAREamics's; expected one "
            "fixed_zero_mean_unit_variance (besides ensure_dtype) on the input and the output"
        )
    kw = next(step.kwargs for step in steps if step.id == "fixed_zero_mean_unit_variance")
    axis = str(getattr(kw, "axis", "channel"))
    if axis != "channel":
        raise ImportFailedError(
            f"{path}: fixed_zero_mean_unit_variance is given along axis {axis!r}; expected "
            "one value per channel (axis 'channel'), as CAREamics writes it"
        )
    return _stats(kw.mean, channels, "mean", path), _stats(kw.std, channels, "std", path)


def _stats(values: Any, channels: int, what: str, path: Path) -> list[float]:
    """Per-channel statistics as ``channels`` floats; one value applies to every channel."""
    values = list(values) if isinstance(values, Sequence) else [values]
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise ImportFailedError(
            f"{path}: {what} has {len(values)} values for a model with {channels} channels; "
            "expected one value per channel (or one for all)"
        )
    return [float(v) for v in values]


def _per_channel(values: Sequence[float], ndim: int) -> np.ndarray:
    """Values shaped ``(1, C, 1, ...)`` to broadcast over a ``(B, C, ...)`` array."""
    return np.asarray(values, dtype=np.float64).reshape(1, -1, *[1] * (ndim - 2))


# --- bioimage.io packages --------------------------------------------------------------------


def _load_model_descr(path: Path) -> Any:
    """The validated bioimage.io model description of a package (zip, folder or rdf.yaml)."""
    from zoo.package import load_package

    try:
        return load_package(path).descr
    except (PackageError, SpecError) as exc:
        raise ImportFailedError(f"cannot import {path}: {exc}") from exc


def _careamics_weights_descr(descr: Any, path: Path) -> Any:
    """The package's ``pytorch_state_dict`` entry, checked to be CAREamics's UNet."""
    entry = descr.weights.pytorch_state_dict
    if entry is None:
        formats = [fmt for fmt, e in descr.weights if e is not None]
        raise ImportFailedError(
            f"{path} has no pytorch_state_dict weights (it has {formats}); zoo rebuilds "
            "CAREamics models from their state dict only"
        )
    arch = entry.architecture
    import_from = getattr(arch, "import_from", None)
    if import_from not in CAREAMICS_UNET_IMPORTS or arch.callable != "UNet":
        origin = import_from or f"file {arch.source}"
        raise ImportFailedError(
            f"{path}: architecture {arch.callable!r} from {origin} is not CAREamics's UNet; "
            f"expected callable 'UNet' imported from one of {CAREAMICS_UNET_IMPORTS}, as "
            "CAREamics's export_to_bmz writes it"
        )
    return entry


def _careamics_yaml(descr: Any, path: Path) -> Mapping[str, Any]:
    """The CAREamics configuration attached to a package by ``export_to_bmz``."""
    import yaml

    for attachment in descr.attachments:
        if PurePosixPath(str(attachment.source)).name == "careamics.yaml":
            config = yaml.safe_load(attachment.get_reader().read())
            if isinstance(config, Mapping):
                return config
    raise ImportFailedError(
        f"{path} has no careamics.yaml attachment (a mapping); expected a package written by "
        "CAREamics's export_to_bmz, which attaches its configuration"
    )


def _few(keys: Sequence[str], limit: int = 5) -> str:
    """At most ``limit`` keys, and how many there are in all."""
    if len(keys) <= limit:
        return str(list(keys))
    return f"{list(keys[:limit])} … ({len(keys)} in all)"


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
