"""Running packages' weights, and the self-test that judges them (the real broken package too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.errors import PackageError
from zoo.inference import Predictor, self_test
from zoo.package import load_package


def test_every_format_of_a_zoo_package_passes(example_zip: Path) -> None:
    results = {r.format: r for r in self_test(load_package(example_zip))}
    assert set(results) == {"onnx", "torchscript", "pytorch_state_dict"}
    assert all(r.status == "passed" for r in results.values()), results
    assert all(r.max_abs_error is not None and r.max_abs_error < 1e-5 for r in results.values())


def test_broken_torchscript_is_detected(shared_data: Path) -> None:
    package = load_package(shared_data / "careamics" / "n2v_short_bioimageio_with_onnx")
    results = {r.format: r for r in self_test(package)}
    assert results["torchscript"].status == "failed"
    assert "torchscript weights do not reproduce the test output" in results["torchscript"].message
    assert results["torchscript"].mismatched_ppm > 990_000  # 99.6 % as test_model reports
    assert results["onnx"].status == "passed"  # external-data ONNX runs
    assert results["pytorch_state_dict"].status == "passed"  # careamics UNet → zoo's port


def test_careamics_library_architecture_runs_on_zoos_port(shared_data: Path) -> None:
    package = load_package(shared_data / "careamics" / "n2v_short_bioimageio_export.zip")
    (result,) = self_test(package)
    assert (result.format, result.status) == ("pytorch_state_dict", "passed")


def test_predictor_formats_agree_on_a_new_size(shared_data: Path, example_zip: Path) -> None:
    package = load_package(example_zip)
    image = np.load(shared_data / "synthetic" / "noisy.npy")[:200, :136]
    x = image[np.newaxis, np.newaxis]
    outputs = [Predictor(package, weight_format=f)(x) for f in ("onnx", "torchscript")]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=1e-4)


def test_missing_weight_format_is_named(example_zip: Path) -> None:
    package = load_package(example_zip)
    with pytest.raises(PackageError, match="no 'keras_hdf5' weights"):
        Predictor(package, weight_format="keras_hdf5")
