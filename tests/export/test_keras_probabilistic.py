"""A probabilistic CSBDeep CARE model (Laplace mean and scale) is packaged as the denoiser it
is: one output, the mean, which matches Keras's own prediction; the package passes
bioimage.io.core's test_model like every zoo package, and its README says the scale is left
out."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.export.test_package_cli import _assert_test_model_passes, _package
from zoo.export.keras import load_keras_model, mean_only
from zoo.package import load_package

FOLDER = "care_prob_d2_k3_f32"


@pytest.fixture(scope="module")
def keras_folder(shared_data: Path) -> Path:
    return shared_data / "keras" / FOLDER


def _nchw(path: Path) -> np.ndarray:
    return np.load(path).transpose(0, 3, 1, 2)  # NHWC -> NCHW


def test_mean_only_is_the_keras_mean(keras_folder: Path) -> None:
    full = load_keras_model(keras_folder)
    assert full.arch_kwargs["probabilistic"]
    mean = mean_only(full)
    assert not mean.arch_kwargs["probabilistic"]
    assert not any("scale" in key.split(".") for key in mean.module.state_dict())
    x = torch.from_numpy(_nchw(keras_folder / "keras_input.npy"))
    with torch.no_grad():
        got = mean.module(x).numpy()
    expected = _nchw(keras_folder / "keras_output.npy")  # channels: mean, scale
    assert got.shape[1] == 1
    np.testing.assert_allclose(got, expected[:, :1], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_probabilistic_care_package_outputs_the_keras_mean(
    keras_folder: Path, shared_data: Path, tmp_path: Path
) -> None:
    from zoo.inference import Predictor

    image = shared_data / "synthetic" / "noisy.npy"
    out = _package(
        tmp_path, str(keras_folder), "--from", "keras", "--image", str(image), name=FOLDER
    )
    _assert_test_model_passes(out)
    package = load_package(out)
    assert len(package.descr.outputs) == 1
    x = _nchw(keras_folder / "keras_input.npy")
    expected = _nchw(keras_folder / "keras_output.npy")[:, :1]
    for fmt in ("onnx", "torchscript", "pytorch_state_dict"):
        got = Predictor(package, weight_format=fmt).network(x)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4, err_msg=fmt)
    with zipfile.ZipFile(out) as zf:
        readme = zf.read("README.md").decode()
    assert "this package outputs the mean" in readme
