"""Running packages' weights, and the self-test that judges them (the real broken package too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.fixture(scope="module")
def big_image(shared_data: Path) -> np.ndarray:
    """A 1001×703 image (larger than one tile in both axes, sizes not multiples of 4)."""
    image = np.load(shared_data / "synthetic" / "noisy.npy")
    return np.tile(image, (2, 2))[:1001, :703][np.newaxis]


def test_tiled_and_untiled_agree(example_zip: Path, big_image: np.ndarray) -> None:
    from zoo.tiling import Tiling, predict_tiled

    predictor = Predictor(load_package(example_zip))
    whole = predict_tiled(predictor, big_image, tiling=Tiling(tile=2048, halo=0))
    tiled = predict_tiled(predictor, big_image, tiling=Tiling(tile=256, halo=32))
    assert whole.shape == big_image.shape
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-4)
    # the same tiles without a halo show seams: the comparison above can fail
    seams = predict_tiled(predictor, big_image, tiling=Tiling(tile=192, halo=0))
    assert np.abs(seams - whole).max() > 1e-2


def test_matches_bioimageio_core_predict_on_a_new_size(
    example_zip: Path, big_image: np.ndarray
) -> None:
    from bioimageio.core import Sample, Tensor, predict

    from zoo.tiling import predict_tiled

    package = load_package(example_zip)
    image = big_image[:, :1000, :700].astype(np.float32)
    tensor = Tensor.from_numpy(image[np.newaxis], dims=("batch", "channel", "y", "x"))
    sample = Sample(members={"input": tensor}, stat={}, id="new-size")
    reference = predict(model=package.descr, inputs=sample).members["output"].data.to_numpy()[0]
    for fmt in ("onnx", "torchscript"):
        got = predict_tiled(Predictor(package, weight_format=fmt), image)
        np.testing.assert_allclose(got, reference, rtol=0, atol=1e-4, err_msg=fmt)


def test_auto_tile_uses_the_memory_budget_left_by_the_images() -> None:
    from zoo.inference import TILE_BYTES_PER_PIXEL
    from zoo.tiling import DEFAULT_TILE, MEMORY_BUDGET, PROCESS_BYTES, auto_tile

    sizes = [512, 1024, 2048, 4096, 8192]
    tiles = [auto_tile(n * n * 4) for n in sizes]
    assert tiles == sorted(tiles, reverse=True)  # larger images leave less for the tile
    assert tiles[2] > DEFAULT_TILE  # 2048²: fewer, larger tiles than the floor
    assert auto_tile(8192 * 8192 * 4) == DEFAULT_TILE  # the 8192² bound needs small tiles
    for n, tile in zip(sizes, tiles, strict=True):
        if tile > DEFAULT_TILE:
            used = PROCESS_BYTES + 2 * n * n * 4 + tile * tile * TILE_BYTES_PER_PIXEL
            assert used <= MEMORY_BUDGET
    assert auto_tile(2048 * 2048 * 4, memory=4 << 30) > tiles[2]
    assert auto_tile(2048 * 2048 * 4, bytes_per_pixel=TILE_BYTES_PER_PIXEL // 2) > tiles[2]


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


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(1, 5000),
    halo=st.integers(0, 8),
    step=st.sampled_from([1, 4, 8, 16]),
    room=st.integers(1, 60),
)
def test_windows_cover_each_pixel_once_with_its_halo(
    size: int, halo: int, step: int, room: int
) -> None:
    from zoo.tiling import _windows

    halo, size = halo * step, -(-size // step) * step  # as predict_tiled gives them
    tile = 2 * halo + room * step + (room == 1)  # predict_tiled keeps tile > 2·halo + step
    windows = _windows(size, tile, halo, step)
    assert [k0 for _, _, k0, _ in windows] == [0, *(k1 for _, _, _, k1 in windows[:-1])]
    assert windows[-1][3] == size
    assert len({w1 - w0 for w0, w1, _, _ in windows}) == 1  # one shape for ONNX Runtime
    for w0, w1, k0, k1 in windows:
        assert k0 < k1 and k0 % step == 0 and w0 % step == 0
        assert 0 <= w0 <= max(0, k0 - halo) and min(size, k1 + halo) <= w1 <= size
        assert w1 - w0 <= tile or len(windows) == 1
    if len(windows) > 1 and room > 1:  # no more than kept regions of tile - 2·halo would be
        assert len(windows) <= -(-size // (tile - 2 * halo))


def test_windows_at_2048_fit_three_per_axis_in_a_728_tile() -> None:
    """Border windows have one halo: 3 windows of 724-728 px cover 2048 with halo 32."""
    from zoo.tiling import _windows

    windows = _windows(2048, 728, 32, 4)
    assert [(w0, w1 - w0) for w0, w1, _, _ in windows] == [(0, 728), (660, 728), (1320, 728)]
    assert len(_windows(2048, 720, 32, 4)) == 4
