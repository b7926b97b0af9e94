"""zoo's port of the CAREamics UNet and the CAREamics importers, checked on a real model.

The data (../shared/data/careamics, see its MANIFEST.md) was written by CAREamics 0.3.5: a
Lightning checkpoint, CAREamics's own prediction with it, and its bioimage.io export.
"""

from __future__ import annotations

import ast
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from zoo.archs.careamics_unet import MaxBlurPool, UNet
from zoo.errors import ImportFailedError
from zoo.export.careamics import (
    ARCHITECTURE,
    CareamicsImport,
    load_careamics_bioimageio,
    load_careamics_checkpoint,
)

EXPORT_ZIP = "n2v_short_bioimageio_export.zip"
EXPORT_FOLDER = "n2v_short_bioimageio_with_onnx"


@pytest.fixture
def careamics_dir(shared_data: Path) -> Path:
    return shared_data / "careamics"


@pytest.fixture
def checkpoint(careamics_dir: Path) -> dict[str, Any]:
    """The real checkpoint as a dict, to be altered and saved again by a test."""
    return torch.load(careamics_dir / "n2v_short.ckpt", weights_only=True, map_location="cpu")


def _predict(imported: CareamicsImport, x: np.ndarray) -> np.ndarray:
    """Normalise, run the network, denormalise: CAREamics's prediction, untiled."""
    norm = imported.normalization
    with torch.inference_mode():
        y = imported.module(torch.from_numpy(norm.normalize(x))).numpy()
    return norm.denormalize(y)


def _package_file(source: Path, name: str) -> bytes:
    """A file of a package given as a zip or a folder."""
    if source.suffix == ".zip":
        with zipfile.ZipFile(source) as archive:
            return archive.read(name)
    return (source / name).read_bytes()


def _npy(data: bytes, tmp_path: Path) -> np.ndarray:
    path = tmp_path / "tensor.npy"
    path.write_bytes(data)
    return np.load(path)


# --- the real model ---------------------------------------------------------------------------


def test_checkpoint_reproduces_careamics_prediction(careamics_dir: Path) -> None:
    imported = load_careamics_checkpoint(careamics_dir / "n2v_short.ckpt")
    noisy = np.load(careamics_dir / "input_noisy.npy")
    expected = np.load(careamics_dir / "n2v_short_careamics_prediction.npy")

    got = _predict(imported, noisy[None, None])[0, 0]

    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert not imported.module.training
    assert (imported.method, imported.axes) == ("n2v", "YX")
    assert imported.arch_kwargs["depth"] == 2
    assert imported.arch_kwargs["num_channels_init"] == 32
    assert imported.normalization.output_means == imported.normalization.input_means  # N2V
    assert set(imported.config) == {"algorithm_config", "data_config"}


@pytest.mark.parametrize("where", [EXPORT_ZIP, EXPORT_FOLDER, f"{EXPORT_FOLDER}/rdf.yaml"])
def test_bioimageio_export_reproduces_its_test_output(
    careamics_dir: Path, tmp_path: Path, where: str
) -> None:
    source = careamics_dir / where
    package = careamics_dir / where.removesuffix("/rdf.yaml")
    imported = load_careamics_bioimageio(source)
    inputs = _npy(_package_file(package, "inputs.npy"), tmp_path)
    outputs = _npy(_package_file(package, "outputs.npy"), tmp_path)

    np.testing.assert_allclose(_predict(imported, inputs), outputs, atol=1e-4, rtol=0)
    assert (imported.method, imported.axes) == ("n2v", "YX")


def test_bioimageio_export_matches_the_checkpoint(careamics_dir: Path) -> None:
    from_checkpoint = load_careamics_checkpoint(careamics_dir / "n2v_short.ckpt")
    from_package = load_careamics_bioimageio(careamics_dir / EXPORT_ZIP)

    assert from_package.arch_kwargs == from_checkpoint.arch_kwargs
    expected = from_checkpoint.module.state_dict()
    got = from_package.module.state_dict()
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    # CAREamics writes its denormalisation as the inverse post-processing; it must round-trip
    for field in ("input_means", "input_stds", "output_means", "output_stds"):
        np.testing.assert_allclose(
            getattr(from_package.normalization, field),
            getattr(from_checkpoint.normalization, field),
            rtol=1e-12,
        )


# --- the architecture ---------------------------------------------------------------------------


def test_n2v2_has_blur_pool_and_no_top_skip() -> None:
    n2v2 = UNet(conv_dims=2, depth=3, num_channels_init=8, n2v2=True).eval()
    plain = UNet(conv_dims=2, depth=3, num_channels_init=8).eval()

    assert isinstance(n2v2.encoder.encoder_blocks[1], MaxBlurPool)
    # the top decoder block sees the upsampled features only, not [upsampled, skip]
    assert n2v2.decoder.decoder_blocks[-1].conv1.in_channels == 8
    assert plain.decoder.decoder_blocks[-1].conv1.in_channels == 16
    with torch.inference_mode():
        assert n2v2(torch.randn(2, 1, 32, 48)).shape == (2, 1, 32, 48)


def test_blur_pool_kernel_is_binomial() -> None:
    row = torch.tensor([1.0, 2.0, 1.0])
    pool = MaxBlurPool(2, channels=4)
    torch.testing.assert_close(pool.kernel, (torch.outer(row, row) / 16).expand(4, 1, 3, 3))
    assert MaxBlurPool(3, channels=2).kernel.shape == (2, 1, 3, 3, 3)
    assert pool.state_dict() == {}  # not a weight: CAREamics does not save it


def test_independent_channels_do_not_mix() -> None:
    torch.manual_seed(0)
    unet = UNet(conv_dims=2, in_channels=2, num_classes=2, depth=3, num_channels_init=8).eval()
    x = torch.randn(1, 2, 32, 32)
    changed = x.clone()
    changed[:, 1] = torch.randn(32, 32)

    with torch.inference_mode():
        y, y_changed = unet(x), unet(changed)

    assert y.shape == (1, 2, 32, 32)
    assert unet.encoder.encoder_blocks[0].conv1.groups == 2
    torch.testing.assert_close(y[:, 0], y_changed[:, 0])  # channel 0 ignores channel 1
    assert not torch.allclose(y[:, 1], y_changed[:, 1])


@pytest.mark.parametrize("n2v2", [False, True])
def test_3d_unet_runs(n2v2: bool) -> None:
    unet = UNet(conv_dims=3, depth=2, num_channels_init=8, n2v2=n2v2).eval()
    with torch.inference_mode():
        assert unet(torch.randn(1, 1, 8, 16, 16)).shape == (1, 1, 8, 16, 16)


def test_residual_adds_the_input_before_the_activation() -> None:
    unet = UNet(conv_dims=2, depth=2, num_channels_init=8, residual=True).eval()
    torch.nn.init.zeros_(unet.final_conv.weight)
    torch.nn.init.zeros_(unet.final_conv.bias)
    x = torch.randn(1, 1, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(unet(x), x)


@pytest.mark.parametrize("name", ["None", "Sigmoid", "Softmax", "Tanh", "ReLU", "LeakyReLU"])
def test_final_activations(name: str) -> None:
    unet = UNet(conv_dims=2, num_classes=2, depth=2, num_channels_init=8, final_activation=name)
    with torch.inference_mode():
        assert unet.eval()(torch.randn(1, 1, 16, 16)).shape == (1, 2, 16, 16)
    with pytest.raises(ValueError, match="Swish"):
        UNet(conv_dims=2, final_activation="Swish")


def test_architecture_file_imports_only_torch_and_stdlib() -> None:
    tree = ast.parse(ARCHITECTURE.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in a file copied into packages"
            roots.add(str(node.module).split(".")[0])
    assert "torch" in roots
    assert roots - {"torch"} <= set(sys.stdlib_module_names)


# --- refused sources ----------------------------------------------------------------------------


def _save(checkpoint: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "altered.ckpt"
    torch.save(checkpoint, path)
    return path


def test_unknown_state_dict_key_is_refused(checkpoint: dict[str, Any], tmp_path: Path) -> None:
    checkpoint["state_dict"]["model.encoder.extra.weight"] = torch.zeros(3)
    with pytest.raises(ImportFailedError, match=r"unexpected keys \['encoder\.extra\.weight'\]"):
        load_careamics_checkpoint(_save(checkpoint, tmp_path))


def test_missing_state_dict_key_is_refused(checkpoint: dict[str, Any], tmp_path: Path) -> None:
    del checkpoint["state_dict"]["model.final_conv.bias"]
    with pytest.raises(ImportFailedError, match=r"missing keys \['final_conv\.bias'\]"):
        load_careamics_checkpoint(_save(checkpoint, tmp_path))


def test_missing_hyper_parameters_are_refused(checkpoint: dict[str, Any], tmp_path: Path) -> None:
    del checkpoint["hyper_parameters"]
    with pytest.raises(ImportFailedError, match=r"expected hyper_parameters .*found \["):
        load_careamics_checkpoint(_save(checkpoint, tmp_path))


def test_other_architecture_is_refused(checkpoint: dict[str, Any], tmp_path: Path) -> None:
    checkpoint["hyper_parameters"]["algorithm_config"]["model"]["architecture"] = "LVAE"
    with pytest.raises(ImportFailedError, match="architecture 'LVAE' is not supported"):
        load_careamics_checkpoint(_save(checkpoint, tmp_path))


def test_truncated_checkpoint_is_refused(careamics_dir: Path, tmp_path: Path) -> None:
    data = (careamics_dir / "n2v_short.ckpt").read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportFailedError, match=r"cannot read .* as torch weights"):
        load_careamics_checkpoint(path)


class _Payload:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_malicious_pickle_is_refused_not_run(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "pwned"
    payload = {"state_dict": _Payload(marker), "hyper_parameters": {}}
    path = tmp_path / "evil.ckpt"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)

    with pytest.raises(ImportFailedError, match=r"refused by torch\.load\(weights_only=True\)"):
        load_careamics_checkpoint(path)
    assert not marker.exists()


def test_package_with_another_architecture_is_refused(careamics_dir: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(careamics_dir / EXPORT_ZIP) as archive:
        archive.extractall(tmp_path)
    rdf_path = tmp_path / "rdf.yaml"
    rdf = yaml.safe_load(rdf_path.read_text(encoding="utf-8"))
    rdf["weights"]["pytorch_state_dict"]["architecture"]["import_from"] = "mylab.models"
    rdf_path.write_text(yaml.safe_dump(rdf, sort_keys=False), encoding="utf-8")

    with pytest.raises(ImportFailedError, match=r"from mylab\.models is not CAREamics.s UNet"):
        load_careamics_bioimageio(tmp_path)
