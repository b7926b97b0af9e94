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


_MEASURE_WINDOW = """
import re, sys, numpy as np
from pathlib import Path
from zoo.inference import Predictor
from zoo.package import load_package

def peak_rss():  # this process's own high-water mark (ru_maxrss counts the forking parent's)
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024

predictor = Predictor(load_package(sys.argv[1]), weight_format="onnx")
side = int(sys.argv[2])
predictor.network(np.zeros((1, 1, 64, 64), np.float32))  # the session's own start-up
before = peak_rss()
x = np.random.default_rng(0).normal(size=(1, 1, side, side)).astype(np.float32)
for _ in range(2):  # ONNX Runtime sizes its arena on the first run of a shape
    predictor.network(x)
grown = peak_rss() - before - 2 * x.nbytes  # less the input and its output
print(predictor.tile_bytes_per_pixel, grown / side**2)
"""


@pytest.mark.parametrize(
    ("model_id", "side"), [("n2v-ihc-careamics", 736), ("n2v2-fibsem-em", 1056)]
)
def test_the_tile_memory_estimate_covers_what_onnx_runtime_takes(
    tmp_path: Path, model_id: str, side: int
) -> None:
    """The windows auto_tile gives these models at 2048² (3 × 3 of 728², 2 × 2 of 1056²):
    the peak RSS one takes in a process of its own stays under the estimate, and the
    estimate is not so loose that it wastes the budget (at most 1.6× what was taken)."""
    import subprocess
    import sys

    from tests.conftest import REPO
    from zoo.registry import Registry

    package = Registry(REPO, cache=tmp_path / "cache").fetch(model_id)
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE_WINDOW, str(package), str(side)],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    estimate, taken = map(float, done.stdout.split())
    assert estimate in (1024, 512)  # 2 × the graph's 512 / 256 B of live activations
    assert taken <= estimate, (estimate, taken)
    assert estimate <= 1.6 * taken, (estimate, taken)
