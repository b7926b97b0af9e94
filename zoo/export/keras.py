"""Import csbdeep (CARE) and n2v (N2V, N2V2, structN2V) Keras models, without TensorFlow.

A model folder as csbdeep and n2v write it holds ``config.json`` and HDF5 weights
(``keras_model.save_weights``: Keras 2 or Keras 3's legacy HDF5 layout). The network is
rebuilt as zoo's port of their UNet (``zoo/archs/csbdeep_unet.py``, the
:data:`ARCHITECTURE` file) from the config, and the weights are read with h5py and mapped by
Keras layer name: the UNet's layers are named (``down_level_0_no_0``, ``middle_2``, ... with
n2v's ``channel_{k}`` prefix), the 1x1 output convolutions and the batch norms are not
(``conv2d``, ``conv2d_1``, ``batch_normalization_3``, ...) and are matched in the order Keras
created them, which their numeric suffixes record.

Anything the port cannot reproduce, and any file that does not fit its config, is refused
with :class:`~zoo.errors.ImportFailedError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.archs import ARCHS_DIR
from zoo.errors import ImportFailedError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ARCHITECTURE", "KerasImport", "load_keras_model", "mean_only"]

ARCHITECTURE = ARCHS_DIR / "csbdeep_unet.py"
"""Self-contained source of the ``CSBDeepUNet`` class the importer builds (copied into packages)."""

DEFAULT_WEIGHTS = "weights_best.h5"
"""The weights file csbdeep and n2v keep (the best validation loss during training)."""

N_CONV_PER_DEPTH = 2
POOL = 2
"""csbdeep's ``common_unet`` and n2v's ``_build_unet`` fix these; their configs do not hold them."""

BATCH_NORM_WEIGHTS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
"""torch ``BatchNorm`` state-dict name -> Keras ``BatchNormalization`` weight name."""


@dataclass(frozen=True)
class KerasImport:
    """A csbdeep/n2v Keras model rebuilt in torch.

    ``normalization`` is n2v's: per-channel ``means`` and ``stds`` from config.json, applied
    as ``(x - mean) / std`` before the network and ``y * std + mean`` after it. It is None for
    csbdeep CARE, which records no statistics: ``CARE.predict`` normalises each image by its
    own 2nd and 99.8th percentiles per channel (``PercentileNormalizer``) and maps the output
    back with the same two values.
    """

    module: nn.Module
    arch_kwargs: dict[str, Any]
    config: dict[str, Any]
    framework: str
    method: str
    normalization: dict[str, list[float]] | None


@dataclass(frozen=True)
class _Slot:
    """One torch state-dict entry and the Keras weight it comes from."""

    key: str
    layer: str
    weight: str


def load_keras_model(folder: str | Path, *, weights: str | Path | None = None) -> KerasImport:
    """Import the csbdeep or n2v model in ``folder`` (its config.json and HDF5 weights).

    The weights are ``weights`` when given (relative to ``folder``), else the config's
    ``train_checkpoint``, else ``weights_best.h5``. The module is returned in eval mode.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    config = _read_config(config_path)
    framework = "n2v" if any(key.startswith("n2v_") for key in config) else "csbdeep"
    kwargs = _arch_kwargs(config, framework, config_path)
    weights_path = _weights_path(folder, config, weights)
    module, kwargs = _build(kwargs, _read_h5(weights_path), framework, weights_path)
    return KerasImport(
        module=module,
        arch_kwargs=kwargs,
        config=config,
        framework=framework,
        method=_method(config, framework),
        normalization=_n2v_normalization(config, config_path) if framework == "n2v" else None,
    )


def mean_only(imported: KerasImport) -> KerasImport:
    """A probabilistic CARE model as the denoiser it is: its Laplace mean alone.

    csbdeep's probabilistic head predicts, per pixel, the mean and the scale of a Laplace
    distribution; ``CARE.predict`` returns the mean as the restored image. The network is
    rebuilt without the scale head (``probabilistic=False``; the mean's weights and the
    residual unchanged), so a package has one output that every bioimage.io runner reads
    as the denoised image; the scale is dropped (the package's README says so).
    """
    from zoo.archs.csbdeep_unet import CSBDeepUNet

    if not imported.arch_kwargs.get("probabilistic"):
        return imported
    kwargs = {**imported.arch_kwargs, "probabilistic": False}
    module = CSBDeepUNet(**kwargs)
    state = imported.module.state_dict()
    mean_state = {k: v for k, v in state.items() if "scale" not in k.split(".")}
    module.load_state_dict(mean_state, strict=True)
    return KerasImport(
        module=module.eval(),
        arch_kwargs=kwargs,
        config=imported.config,
        framework=imported.framework,
        method=imported.method,
        normalization=imported.normalization,
    )


# --- config ----------------------------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any]:
    """config.json as a dict."""
    if not path.parent.is_dir():
        raise ImportFailedError(
            f"no model folder at {path.parent}: expected a csbdeep/n2v model folder holding "
            "config.json and its weights (e.g. weights_best.h5); check the path"
        )
    if not path.is_file():
        found = sorted(p.name for p in path.parent.iterdir())
        raise ImportFailedError(
            f"no config.json in {path.parent} (found {_few(found)}); expected the config.json "
            "that csbdeep/n2v write next to the weights: copy the whole model folder"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFailedError(
            f"{path} is not valid JSON ({exc}); expected the config.json csbdeep/n2v write: "
            "copy it again from the model folder"
        ) from exc
    if not isinstance(config, dict):
        raise ImportFailedError(
            f"{path} holds a {type(config).__name__}, expected a JSON object (csbdeep/n2v config)"
        )
    return config


def _arch_kwargs(config: Mapping[str, Any], framework: str, path: Path) -> dict[str, Any]:
    """``CSBDeepUNet`` keyword arguments for a csbdeep or n2v config (unet_block not chosen)."""
    from zoo.archs.csbdeep_unet import LAST_ACTIVATIONS

    last_activation = _entry(config, "unet_last_activation", str, path)
    if last_activation not in LAST_ACTIVATIONS:
        raise ImportFailedError(
            f"{path}: unet_last_activation {last_activation!r} is not supported; expected one "
            f"of {LAST_ACTIVATIONS} (all csbdeep and n2v accept): fix config.json or retrain"
        )
    n_dim = _entry(config, "n_dim", int, path)
    n_channel_in = _entry(config, "n_channel_in", int, path)
    kwargs: dict[str, Any] = {
        "n_dim": n_dim,
        "n_channel_in": n_channel_in,
        "n_channel_out": _entry(config, "n_channel_out", int, path),
        "n_depth": _entry(config, "unet_n_depth", int, path),
        "kern_size": _entry(config, "unet_kern_size", int, path),
        "n_first": _entry(config, "unet_n_first", int, path),
        "n_conv_per_depth": N_CONV_PER_DEPTH,
        "pool": POOL,
        "residual": _entry(config, "unet_residual", bool, path),
        "last_activation": last_activation,
        "batch_norm": False,
        "probabilistic": _entry(config, "probabilistic", bool, path, default=False),
        "single_net_per_channel": False,
        "blurpool": False,
        "skip_skipone": False,
    }
    if framework == "n2v":
        kwargs.update(_n2v_kwargs(config, n_dim, n_channel_in, kwargs["residual"], path))
    return kwargs


def _n2v_kwargs(
    config: Mapping[str, Any], n_dim: int, n_channels: int, residual: bool, path: Path
) -> dict[str, Any]:
    """The settings n2v's ``N2V._build`` adds or overrides."""
    single_net = _entry(config, "single_net_per_channel", bool, path, default=False)
    blurpool = _entry(config, "blurpool", bool, path, default=False)
    refusals = [
        (
            single_net and n_channels > 1,
            "single_net_per_channel with more than one channel: n2v slices the channels with "
            "Lambda layers whose loop variable Python binds late, so Keras feeds the last "
            "channel to every per-channel net and the model ignores its other channels",
        ),
        (residual and n_channels > 1, "unet_residual with more than one channel"),
        (blurpool and n_dim != 2, "blurpool in 3D (n2v has no 3D max-blur pool)"),
    ]
    refused = [text for applies, text in refusals if applies]
    if refused:
        raise ImportFailedError(
            f"{path}: unsupported n2v settings (n_dim={n_dim}, n_channel_in={n_channels}): "
            f"{'; '.join(refused)}. Expected a 2D or 3D n2v model with one channel, or several "
            "channels in one net (single_net_per_channel false, no residual): retrain it so, "
            "or train one model per channel"
        )
    return {
        # N2V builds its net with prob_out=False and as many outputs as inputs
        "n_channel_out": n_channels,
        "probabilistic": False,
        "batch_norm": _entry(config, "batch_norm", bool, path, default=False),
        "single_net_per_channel": single_net,
        "blurpool": blurpool,
        "skip_skipone": _entry(config, "skip_skipone", bool, path, default=False),
    }


def _entry(config: Mapping[str, Any], key: str, kind: type, path: Path, default: Any = None) -> Any:
    """``config[key]``, checked to be of ``kind`` (a bool is no int here)."""
    value = config.get(key, default)
    if value is None:
        raise ImportFailedError(
            f"{path}: {key!r} is missing; expected a {kind.__name__} as csbdeep/n2v write "
            "it: this config.json is incomplete or not from csbdeep/n2v"
        )
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ImportFailedError(
            f"{path}: {key!r} is {value!r}, expected a {kind.__name__}: fix config.json"
        )
    return value


def _method(config: Mapping[str, Any], framework: str) -> str:
    """``care`` for csbdeep; ``n2v2`` (blurpool/skip_skipone), ``structn2v`` or ``n2v``."""
    if framework == "csbdeep":
        return "care"
    if config.get("blurpool") or config.get("skip_skipone"):
        return "n2v2"
    return "structn2v" if config.get("structN2Vmask") else "n2v"


def _n2v_normalization(config: Mapping[str, Any], path: Path) -> dict[str, list[float]]:
    """n2v's per-channel ``means`` and ``stds`` (config.json writes them as strings)."""
    channels = config["n_channel_in"]
    stats: dict[str, list[float]] = {}
    for key in ("means", "stds"):
        values = config.get(key)
        try:
            floats = [float(v) for v in values] if isinstance(values, list) else []
        except (TypeError, ValueError):
            floats = []
        if len(floats) != channels or not all(np.isfinite(floats)):
            raise ImportFailedError(
                f"{path}: {key!r} is {values!r}; expected {channels} finite number(s), one per "
                "channel, as n2v writes them: fix config.json or retrain"
            )
        stats[key] = floats
    if min(stats["stds"]) <= 0:
        raise ImportFailedError(f"{path}: 'stds' {stats['stds']} must be positive")
    return stats


# --- weights file ------------------------------------------------------------------------------


def _weights_path(folder: Path, config: Mapping[str, Any], weights: str | Path | None) -> Path:
    """The weights file: ``weights``, else ``train_checkpoint``, else weights_best.h5."""
    if weights is not None:
        path = folder / weights
        if not path.is_file():
            raise ImportFailedError(
                f"no weights file at {path}: the weights= given do not exist; pass an HDF5 "
                "file written by keras_model.save_weights"
            )
        return path
    checkpoint = config.get("train_checkpoint")
    names = list(dict.fromkeys(n for n in (checkpoint, DEFAULT_WEIGHTS) if isinstance(n, str)))
    for name in names:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p.name for p in folder.glob("*.h5"))
    raise ImportFailedError(
        f"no weights in {folder}: looked for {names}, found HDF5 files {found}; copy the "
        "weights with the model folder, or pass weights= to choose one of the files found"
    )


def _read_h5(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Keras layer name -> {weight name: array}, for the layers that have weights."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            root = file.get("model_weights", file)
            names = root.attrs.get("layer_names")
            if names is None:
                raise ImportFailedError(
                    f"{path} is HDF5 but has no Keras 'layer_names' attribute (its groups: "
                    f"{_few(sorted(root))}); expected weights saved by keras_model.save_weights "
                    "to a .h5 file (Keras 3's .weights.h5 layout is not supported)"
                )
            layers = {_text(name): _layer_weights(root[_text(name)]) for name in names}
    except (OSError, KeyError) as exc:
        raise ImportFailedError(
            f"cannot read {path} as Keras HDF5 weights ({type(exc).__name__}: {exc}); expected "
            "the complete file Keras wrote (a truncated copy or another format cannot be "
            "read): copy the weights file again"
        ) from exc
    return {name: weights for name, weights in layers.items() if weights}


def _layer_weights(group: Any) -> dict[str, np.ndarray]:
    """A layer group's weights by short name (``kernel``, ``gamma``; Keras 2's ``:0`` dropped)."""
    weights = {}
    for name in map(_text, group.attrs.get("weight_names", [])):
        short = name.rsplit("/", 1)[-1].removesuffix(":0")
        weights[short] = np.asarray(group[name], dtype=np.float32)
    return weights


def _text(name: bytes | str) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)


# --- weights -> module ---------------------------------------------------------------------------


def _build(
    kwargs: dict[str, Any],
    layers: Mapping[str, Mapping[str, np.ndarray]],
    framework: str,
    path: Path,
) -> tuple[nn.Module, dict[str, Any]]:
    """The module with the weights loaded, and its kwargs with the ``unet_block`` that fits.

    n2v >= 0.3 builds n2v's unet_block (the only one with N2V2's options), older n2v
    csbdeep's: the weights decide between them.
    """
    if framework == "csbdeep":
        blocks = ["csbdeep"]
    elif kwargs["blurpool"] or kwargs["skip_skipone"]:
        blocks = ["n2v"]
    else:
        blocks = ["n2v", "csbdeep"]
    problems: list[list[str]] = []
    for block in blocks:
        candidate = {**kwargs, "unet_block": block}
        module = _module(candidate)
        slots = _slots(module, layers, prefixed=framework == "n2v")
        problems.append(_mismatches(module, slots, layers))
        if not problems[-1]:
            _load(module, slots, layers)
            return module.eval(), candidate
    settings = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    raise ImportFailedError(
        f"the weights in {path} do not match the config ({settings}): {'; '.join(problems[0])}. "
        "Expected the weights written by the model that config.json describes: check that "
        "both files come from the same model folder"
    )


def _module(kwargs: Mapping[str, Any]) -> nn.Module:
    """``CSBDeepUNet(**kwargs)``; settings it refuses become ImportFailedError."""
    from zoo.archs.csbdeep_unet import CSBDeepUNet

    try:
        return CSBDeepUNet(**kwargs)
    except ValueError as exc:
        raise ImportFailedError(
            f"unsupported settings in config.json: {exc}; csbdeep/n2v cannot build such a "
            "network either: fix config.json"
        ) from exc


def _slots(module: nn.Module, layers: Mapping[str, Any], prefixed: bool) -> list[_Slot]:
    """Every weight the module needs and the Keras weight it comes from.

    With ``prefixed`` (n2v), net ``k``'s layer names start with ``channel_{k}`` when the file
    has such names (n2v 0.2 and later).
    """
    from torch import nn

    from zoo.archs.csbdeep_unet import ConvBlock, MaxBlurPool2d

    slots: list[_Slot] = []
    norms: list[str] = []
    heads: list[str] = []
    for k, net in enumerate(module.nets):
        prefix = f"channel_{k}"
        if not (prefixed and f"{prefix}down_level_0_no_0" in layers):
            prefix = ""
        for name, layer in net.layers.items():
            key = f"nets.{k}.layers.{name}"
            if isinstance(layer, ConvBlock):
                slots += _conv_slots(f"{key}.conv", prefix + name)
                if not isinstance(layer.norm, nn.Identity):
                    norms.append(f"{key}.norm")
            elif isinstance(layer, MaxBlurPool2d):
                slots.append(_Slot(f"{key}.blur_kernel", prefix + name, "blur_kernel"))
        heads += [f"nets.{k}.final"] + ([f"nets.{k}.scale"] if net.scale is not None else [])
    for key, layer in zip(
        norms, _auto_named(layers, "batch_normalization", len(norms)), strict=True
    ):
        slots += [_Slot(f"{key}.{t}", layer, w) for t, w in BATCH_NORM_WEIGHTS.items()]
    conv = f"conv{module.nets[0].final.weight.ndim - 2}d"
    for key, layer in zip(heads, _auto_named(layers, conv, len(heads)), strict=True):
        slots += _conv_slots(key, layer)
    return slots


def _conv_slots(key: str, layer: str) -> list[_Slot]:
    return [_Slot(f"{key}.weight", layer, "kernel"), _Slot(f"{key}.bias", layer, "bias")]


def _auto_named(layers: Mapping[str, Any], base: str, count: int) -> list[str]:
    """The first ``count`` layers Keras named ``base``, ``base_1``, ... in the order it made them.

    Missing ones are named ``<base #i>``, which no file holds, so they are reported missing.
    """
    pattern = re.compile(rf"{base}(?:_(\d+))?")
    found = sorted(
        (int(m.group(1) or 0), name) for name in layers if (m := pattern.fullmatch(name))
    )
    names = [name for _, name in found]
    return [*names, *(f"<{base} #{i + 1}>" for i in range(len(names), count))][:count]


def _mismatches(
    module: nn.Module, slots: Sequence[_Slot], layers: Mapping[str, Mapping[str, np.ndarray]]
) -> list[str]:
    """What keeps ``layers`` from filling ``slots``: missing, misshapen and unused weights."""
    state = module.state_dict()
    missing, misshapen = [], []
    for slot in slots:
        array = layers.get(slot.layer, {}).get(slot.weight)
        expected = _keras_shape(slot.weight, tuple(state[slot.key].shape))
        if array is None:
            missing.append(f"{slot.layer}/{slot.weight}")
        elif array.shape != expected:
            misshapen.append(f"{slot.layer}/{slot.weight} {array.shape} (expected {expected})")
    used = {slot.layer for slot in slots}
    unused = [name for name in layers if name not in used]
    problems = {
        "missing weights": missing,
        "weights of another shape": misshapen,
        "layers the config has no place for": unused,
    }
    return [f"{what} {_few(names)}" for what, names in problems.items() if names]


def _keras_shape(weight: str, torch_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The Keras shape of a weight with this torch shape."""
    if weight == "kernel":  # torch (out, in, *k) <- Keras (*k, in, out)
        return (*torch_shape[2:], torch_shape[1], torch_shape[0])
    if weight == "blur_kernel":  # torch (C, 1, *k) <- Keras depthwise (*k, C, 1)
        return (*torch_shape[2:], torch_shape[0], torch_shape[1])
    return torch_shape


def _load(
    module: nn.Module, slots: Sequence[_Slot], layers: Mapping[str, Mapping[str, np.ndarray]]
) -> None:
    """Copy the Keras weights into the module (kernels moved to torch's axis order)."""
    import torch

    state = module.state_dict()
    for slot in slots:
        array = layers[slot.layer][slot.weight]
        if slot.weight in ("kernel", "blur_kernel"):
            spatial = tuple(range(array.ndim - 2))
            last_two = (array.ndim - 1, array.ndim - 2)
            order = last_two if slot.weight == "kernel" else last_two[::-1]
            array = np.transpose(array, (*order, *spatial))
        state[slot.key] = torch.from_numpy(np.ascontiguousarray(array))
    module.load_state_dict(state, strict=True)


def _few(names: Sequence[str], limit: int = 6) -> str:
    """At most ``limit`` names, and how many there are in all."""
    if len(names) <= limit:
        return str(list(names))
    return f"{list(names[:limit])} … ({len(names)} in all)"
