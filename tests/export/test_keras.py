"""zoo's port of the csbdeep/n2v Keras UNet and the Keras importer, checked on real models.

The data (../shared/data/keras, see its MANIFEST.md) was written by csbdeep 0.8.2 and n2v with
TensorFlow 2.21: each folder's config.json and weights_best.h5, and Keras's own prediction
(``keras_output.npy``) of ``keras_input.npy``. Variants without a real model (3D, N2V2) are
built from the real weights so that their answer is known.
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from zoo.archs.csbdeep_unet import CSBDeepUNet, MaxBlurPool2d
from zoo.errors import ImportFailedError
from zoo.export.keras import ARCHITECTURE, KerasImport, load_keras_model

Layers = dict[str, dict[str, np.ndarray]]


@pytest.fixture
def keras_dir(shared_data: Path) -> Path:
    return shared_data / "keras"


def _predict(imported: KerasImport, x_nhwc: np.ndarray) -> np.ndarray:
    """The torch port on a Keras (NHWC) input, returned as NHWC."""
    x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
    with torch.inference_mode():
        return imported.module(x).numpy().transpose(0, 2, 3, 1)


def _copy_model(source: Path, target: Path) -> Path:
    """A writable copy of a model folder (config.json and weights only)."""
    target.mkdir()
    for name in ("config.json", "weights_best.h5"):
        shutil.copyfile(source / name, target / name)
    return target


def _edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


def _read_layers(path: Path) -> Layers:
    """The layers with weights of a Keras HDF5 weights file, as {layer: {weight: array}}."""

    def text(name: bytes | str) -> str:
        return name.decode() if isinstance(name, bytes) else name

    layers: Layers = {}
    with h5py.File(path, "r") as file:
        for name in map(text, file.attrs["layer_names"]):
            names = map(text, file[name].attrs["weight_names"])
            layers[name] = {w.rsplit("/", 1)[-1]: file[name][w][()] for w in names}
    return {name: weights for name, weights in layers.items() if weights}


def _write_layers(path: Path, layers: Layers) -> None:
    """Write ``layers`` as Keras 2's ``model.save`` lays them out (``model_weights``, ``:0``)."""
    with h5py.File(path, "w") as file:
        root = file.create_group("model_weights")
        root.attrs["layer_names"] = [name.encode() for name in layers]
        for name, weights in layers.items():
            group = root.create_group(name)
            names = [f"{name}/{w}:0" for w in weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for full_name, array in zip(names, weights.values(), strict=True):
                group.create_dataset(full_name, data=array)


# --- the real models ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["care_d2_k3_f32", "n2v_tiny"])
def test_port_reproduces_keras_prediction(keras_dir: Path, name: str) -> None:
    folder = keras_dir / name
    imported = load_keras_model(folder)
    expected = np.load(folder / "keras_output.npy")

    got = _predict(imported, np.load(folder / "keras_input.npy"))

    error = float(np.abs(got - expected).max())
    np.testing.assert_allclose(
        got, expected, atol=1e-4, rtol=0, err_msg=f"{name}: max abs error {error:.3g}"
    )
    assert not imported.module.training


def test_care_import_describes_the_model(keras_dir: Path) -> None:
    imported = load_keras_model(keras_dir / "care_d2_k3_f32")

    assert (imported.framework, imported.method, imported.normalization) == (
        "csbdeep",
        "care",
        None,
    )
    assert imported.arch_kwargs["residual"] and imported.arch_kwargs["unet_block"] == "csbdeep"
    assert imported.config["unet_n_first"] == 32
    CSBDeepUNet(**json.loads(json.dumps(imported.arch_kwargs)))  # JSON-able kwargs


def test_n2v_import_describes_the_model(keras_dir: Path) -> None:
    imported = load_keras_model(keras_dir / "n2v_tiny")

    assert (imported.framework, imported.method) == ("n2v", "n2v")
    assert imported.normalization == {"means": [0.45865837], "stds": [0.24954814]}
    kwargs = imported.arch_kwargs
    assert kwargs["batch_norm"] and kwargs["single_net_per_channel"]
    assert kwargs["unet_block"] == "n2v"  # up_level_1_no_0 has n_first filters, not 2 * n_first
    assert imported.module.nets[0].layers["down_level_0_no_0"].norm.eps == 1e-3


def test_struct_n2v_mask_only_names_the_method(keras_dir: Path, tmp_path: Path) -> None:
    folder = _copy_model(keras_dir / "n2v_tiny", tmp_path / "structn2v")
    _edit_config(folder, structN2Vmask=[[0, 1, 0], [0, 1, 0], [0, 1, 0]])

    imported = load_keras_model(folder)

    assert imported.method == "structn2v"
    x = np.load(keras_dir / "n2v_tiny" / "keras_input.npy")
    expected = np.load(keras_dir / "n2v_tiny" / "keras_output.npy")
    np.testing.assert_allclose(_predict(imported, x), expected, atol=1e-4, rtol=0)


def test_explicit_weights_file(keras_dir: Path, tmp_path: Path) -> None:
    folder = _copy_model(keras_dir / "care_d2_k3_f32", tmp_path / "model")
    (folder / "weights_best.h5").rename(folder / "weights_last.h5")

    with pytest.raises(ImportFailedError, match=r"no weights in .*weights_last\.h5"):
        load_keras_model(folder)
    imported = load_keras_model(folder, weights="weights_last.h5")

    x = np.load(keras_dir / "care_d2_k3_f32" / "keras_input.npy")
    expected = np.load(keras_dir / "care_d2_k3_f32" / "keras_output.npy")
    np.testing.assert_allclose(_predict(imported, x), expected, atol=1e-4, rtol=0)


# --- variants built from the real weights ---------------------------------------------------


def test_3d_port_of_2d_weights_matches_2d(keras_dir: Path, tmp_path: Path) -> None:
    """3D kernels that are the 2D ones at the centre plane act on a z-constant stack as 2D."""
    source = keras_dir / "care_d2_k3_f32"
    folder = _copy_model(source, tmp_path / "care3d")
    layers = _read_layers(source / "weights_best.h5")
    layers["conv3d"] = layers.pop("conv2d")  # Keras names the 1x1 output conv by its class
    for weights in layers.values():
        kernel = weights["kernel"]
        weights["kernel"] = np.zeros((kernel.shape[0], *kernel.shape), kernel.dtype)
        weights["kernel"][kernel.shape[0] // 2] = kernel
    _write_layers(folder / "weights_best.h5", layers)
    _edit_config(folder, n_dim=3, axes="ZYXC", unet_input_shape=[None, None, None, 1])
    x = np.load(source / "keras_input.npy")[:, :64, :64]

    imported = load_keras_model(folder)
    stack = np.repeat(x.transpose(0, 3, 1, 2)[:, :, None], 4, axis=2)
    with torch.inference_mode():
        got = imported.module(torch.from_numpy(stack)).numpy()

    expected = _predict(load_keras_model(source), x).transpose(0, 3, 1, 2)
    assert imported.arch_kwargs["n_dim"] == 3
    for z in range(4):
        np.testing.assert_allclose(got[:, :, z], expected, atol=1e-5, rtol=0)


def test_n2v2_weights_load_into_blurpool_and_skip_skipone(keras_dir: Path, tmp_path: Path) -> None:
    source = keras_dir / "n2v_tiny"
    folder = _copy_model(source, tmp_path / "n2v2")
    layers = _read_layers(source / "weights_best.h5")
    # skip_skipone: up_level_1_no_0 has 2 * n_first filters instead of n_first (weights doubled
    # here, with its batch norm), and up_level_0_no_0 gets no skip, only the upsampled features
    for name, weight, axis in [
        ("channel_0up_level_1_no_0", "kernel", 3),
        ("channel_0up_level_1_no_0", "bias", 0),
        ("channel_0up_level_1_no_2", "kernel", 2),
        *[("batch_normalization_6", w, 0) for w in layers["batch_normalization_6"]],
    ]:
        layers[name][weight] = np.concatenate([layers[name][weight]] * 2, axis=axis)
    up = layers["channel_0up_level_0_no_0"]
    up["kernel"] = up["kernel"][:, :, :32]
    blur = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16
    for n, channels in enumerate((32, 64)):
        layers[f"channel_0max_{n}"] = {"blur_kernel": np.repeat(blur[..., None, None], channels, 2)}
    _write_layers(folder / "weights_best.h5", layers)
    _edit_config(folder, blurpool=True, skip_skipone=True, n2v_manipulator="median")

    imported = load_keras_model(folder)
    y = _predict(imported, np.load(source / "keras_input.npy")[:, :64, :64])

    assert imported.method == "n2v2"
    assert imported.arch_kwargs["blurpool"] and imported.arch_kwargs["skip_skipone"]
    assert y.shape == (1, 64, 64, 1) and np.isfinite(y).all()
    pool = imported.module.nets[0].layers["max_1"]
    np.testing.assert_array_equal(pool.blur_kernel[:, 0].numpy(), np.broadcast_to(blur, (64, 3, 3)))


def _tf_max_blur_pool(x: np.ndarray) -> np.ndarray:
    """n2v's MaxBlurPool2D on one (H, W) channel, with TensorFlow's documented "SAME" padding."""

    def same_pad(size: int, window: int, stride: int) -> tuple[int, int]:
        total = max((-(-size // stride) - 1) * stride + window - size, 0)
        return total // 2, total - total // 2

    h, w = x.shape
    padded = np.pad(x, [same_pad(h, 2, 1), same_pad(w, 2, 1)], constant_values=-np.inf)
    pooled = np.max([padded[i : i + h, j : j + w] for i in (0, 1) for j in (0, 1)], axis=0)
    padded = np.pad(pooled, [same_pad(h, 3, 2), same_pad(w, 3, 2)])
    blur = np.outer([1, 2, 1], [1, 2, 1]) / 16
    out = np.zeros((-(-h // 2), -(-w // 2)))
    for i, j in np.ndindex(*out.shape):
        out[i, j] = (padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * blur).sum()
    return out


def test_max_blur_pool_follows_tensorflow_same_padding() -> None:
    x = np.random.default_rng(0).normal(size=(1, 3, 8, 6)).astype(np.float32)

    got = MaxBlurPool2d(3)(torch.from_numpy(x)).numpy()

    expected = np.stack([_tf_max_blur_pool(channel) for channel in x[0]])
    np.testing.assert_allclose(got[0], expected, atol=1e-6, rtol=0)


def test_single_net_per_channel_runs_each_channel_through_its_own_net() -> None:
    torch.manual_seed(0)
    module = CSBDeepUNet(n_channel_in=2, n_channel_out=2, n_first=4, single_net_per_channel=True)
    x = torch.randn(1, 2, 16, 16)

    with torch.inference_mode():
        y = module(x)
        per_channel = [net(x[:, c : c + 1]) for c, net in enumerate(module.nets)]

    torch.testing.assert_close(y, torch.cat(per_channel, dim=1), rtol=0, atol=0)


# --- bad sources -------------------------------------------------------------------------------


def _truncate(folder: Path) -> None:
    data = (folder / "weights_best.h5").read_bytes()
    (folder / "weights_best.h5").write_bytes(data[: len(data) // 2])


BAD_SOURCES: dict[str, tuple[str, Callable[[Path, Path], None], str]] = {
    "truncated h5": ("care_d2_k3_f32", lambda f, _: _truncate(f), r"truncated copy"),
    "not HDF5": (
        "care_d2_k3_f32",
        lambda f, _: (f / "weights_best.h5").write_text("not hdf5"),
        r"cannot read .*weights_best\.h5 as Keras HDF5 weights",
    ),
    "no config.json": (
        "care_d2_k3_f32",
        lambda f, _: (f / "config.json").unlink(),
        r"no config\.json in .*found \['weights_best\.h5'\]",
    ),
    "unknown last activation": (
        "care_d2_k3_f32",
        lambda f, _: _edit_config(f, unet_last_activation="swish"),
        r"unet_last_activation 'swish' is not supported; expected one of \('linear', 'relu'\)",
    ),
    "depth differs from the weights": (
        "care_d2_k3_f32",
        lambda f, _: _edit_config(f, unet_n_depth=3),
        r"do not match the config .*missing weights \['down_level_2_no_0/kernel'",
    ),
    "weights of the CARE model in the n2v folder": (
        "n2v_tiny",
        lambda f, k: shutil.copyfile(
            k / "care_d2_k3_f32" / "weights_best.h5", f / "weights_best.h5"
        ),
        r"weights of another shape \['up_level_1_no_0/kernel \(3, 3, 128, 64\) "
        r"\(expected \(3, 3, 128, 32\)\)'",
    ),
    "weights of the n2v model in the CARE folder": (
        "care_d2_k3_f32",
        lambda f, k: shutil.copyfile(k / "n2v_tiny" / "weights_best.h5", f / "weights_best.h5"),
        r"do not match the config .*layers the config has no place for "
        r"\['channel_0down_level_0_no_0', 'batch_normalization'",
    ),
    "multi-channel single net per channel": (
        "n2v_tiny",
        lambda f, _: _edit_config(f, n_channel_in=2, means=["0", "0"], stds=["1", "1"]),
        r"single_net_per_channel with more than one channel",
    ),
    "no weights": (
        "care_d2_k3_f32",
        lambda f, _: (f / "weights_best.h5").unlink(),
        r"no weights in .*looked for \['weights_best\.h5'\]",
    ),
}


@pytest.mark.parametrize("case", BAD_SOURCES)
def test_bad_source_is_refused(keras_dir: Path, tmp_path: Path, case: str) -> None:
    model, spoil, message = BAD_SOURCES[case]
    folder = _copy_model(keras_dir / model, tmp_path / "model")
    spoil(folder, keras_dir)

    with pytest.raises(ImportFailedError, match=message):
        load_keras_model(folder)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFailedError, match=r"no model folder at .*nowhere"):
        load_keras_model(tmp_path / "nowhere")


# --- the architecture file ---------------------------------------------------------------------


def test_architecture_imports_only_torch_and_the_standard_library() -> None:
    tree = ast.parse(ARCHITECTURE.read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imported - {"torch"} <= set(sys.stdlib_module_names)
