"""Per-image percentile normalisation: one map per image (whole, tiled and Dask alike),
undone on the output, so a package takes any offset, gain or bit depth of the same signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

pytest.importorskip("torch")

from tests.train.test_loop import TINY as LOOP_TINY
from zoo.package import load_package
from zoo.processing import STATS_PIXELS, bind_processing, parse_processing, stats_view
from zoo.runner import run
from zoo.train import TrainConfig, train
from zoo.train.evaluate import psnr
from zoo_bench.fixtures import card_dict

TINY = {**LOOP_TINY, "steps": 30, "normalisation": "percentile"}


def scene(seed: int, shape: tuple[int, int] = (300, 260)) -> tuple[np.ndarray, np.ndarray]:
    """Clean blobs on a dark background in 0-255 and a noisy uint8 frame of them."""
    rng = np.random.default_rng(seed)
    clean = ndimage.gaussian_filter(rng.uniform(0, 1, shape), 5)
    clean = 10 + 200 * (clean - clean.min()) / (clean.max() - clean.min())
    noisy = np.clip(np.round(rng.poisson(clean / 4) * 4 + rng.normal(0, 3, shape)), 0, 255)
    return noisy.astype(np.uint8), clean


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CARE network trained with per-image percentiles, packaged (ONNX, TorchScript,
    state dict) as zoo train's output is."""
    from zoo.export.builder import build_package
    from zoo.spec import ZooCard

    pairs = [scene(s) for s in range(2)]
    result = train(
        [n for n, _ in pairs], [c for _, c in pairs], config=TrainConfig(method="care", **TINY)
    )
    card = ZooCard.model_validate(card_dict())
    out = tmp_path_factory.mktemp("pct") / "pct.zip"
    noisy, _ = scene(5, (128, 128))
    build_package(result.imported_model(), card, noisy, out, name="percentile-care",
                  description="test", authors=["zoo tests"], license="MIT")  # fmt: skip
    return out


def _denoise(package: Path, image: np.ndarray, tmp: Path, name: str, **kwargs) -> np.ndarray:
    from zoo.imageio import read_array

    np.save(tmp / f"{name}.npy", image)
    result = run(package, tmp / f"{name}.npy", tmp / f"{name}.tif", force=True, **kwargs)
    return read_array(result.output)


def test_the_card_says_the_output_returns_to_the_input_units(package: Path) -> None:
    pkg = load_package(package)
    assert pkg.card is not None and pkg.card.output_units == "input"
    steps = [s.id for s in pkg.descr.inputs[0].preprocessing]
    post = [s.id for s in pkg.descr.outputs[0].postprocessing]
    assert steps[:2] == ["ensure_dtype", "scale_range"] and set(post) <= {"ensure_dtype"}


def test_test_model_of_bioimageio_core_passes(package: Path) -> None:
    from bioimageio.core import test_model

    summary = test_model(package)
    assert summary.status == "passed", summary.format()


def test_uint8_uint16_and_affine_copies_give_the_same_result(package: Path, tmp_path: Path) -> None:
    noisy, clean = scene(7, (256, 256))
    as8 = _denoise(package, noisy, tmp_path, "u8")
    as16 = _denoise(package, noisy.astype(np.uint16) * 257, tmp_path, "u16") / 257
    a, b = 3.7, -120.0
    affine = (_denoise(package, noisy.astype(np.float32) * a + b, tmp_path, "aff") - b) / a
    ref = psnr(as8, clean, data_range=float(np.ptp(clean)))
    for other in (as16, affine):
        assert abs(psnr(other, clean, data_range=float(np.ptp(clean))) - ref) <= 0.1
        np.testing.assert_allclose(other, as8, atol=1e-3 * 255)
    # the output is in the input's units (not the network's normalised ones)
    assert abs(float(np.mean(as8)) - float(np.mean(noisy))) < 10


def test_tiled_equals_untiled(package: Path, tmp_path: Path) -> None:
    noisy, _ = scene(8, (300, 260))
    whole = _denoise(package, noisy, tmp_path, "whole", tile=512)
    tiled = _denoise(package, noisy, tmp_path, "tiled", tile=64)
    assert np.max(np.abs(whole - tiled)) <= 1e-4 * float(np.ptp(whole))
    # and what the whole-image predictor gives, mapped back with the inverse
    from zoo.inference import Predictor

    predictor = Predictor(load_package(package), weight_format="onnx")
    x = noisy[np.newaxis, np.newaxis].astype(np.float32)
    pre = bind_processing(predictor.package.descr.inputs[0].preprocessing, "bcyx", x)
    direct = pre.inverse()(predictor(x))[0, 0]  # 300 × 260: multiples of the step (4)
    assert np.max(np.abs(direct - whole)) <= 1e-4 * float(np.ptp(whole))


def test_dask_equals_single_process_with_per_plane_statistics(
    package: Path, tmp_path: Path
) -> None:
    from zoo.imageio import read_image
    from zoo.omezarr import write_ome_zarr
    from zoo.runner import run_dask

    noisy, _ = scene(9, (600, 520))
    planes = np.stack([noisy.astype(np.float32), noisy.astype(np.float32) * 3 + 50])
    src = tmp_path / "stack.zarr"
    write_ome_zarr(src, planes, axes="zyx", pixel_size={"z": 1.0, "y": 0.2, "x": 0.2}, metadata={})
    single = run(package, src, tmp_path / "single.zarr", force=True, tile=256)
    dask = run_dask(package, src, tmp_path / "dask.zarr", force=True, tile=256)
    a, b = read_image(single.output).data, read_image(dask.output).data
    np.testing.assert_array_equal(a, b)
    # each plane was normalised by its own statistics and mapped back into its own units
    np.testing.assert_allclose((b[1] - 50) / 3, b[0], atol=1e-3 * 255)


def test_statistics_of_a_large_plane_use_a_strided_view() -> None:
    small = np.zeros((1, 1, 2048, 2048), np.float32)
    assert stats_view(small, "bcyx") is small
    big = np.arange(3000 * 2900, dtype=np.float32).reshape(1, 1, 3000, 2900)
    view = stats_view(big, "bcyx")
    assert view.shape[2] * view.shape[3] <= STATS_PIXELS and np.shares_memory(view, big)
    assert stats_view(view, "bcyx") is view  # a view's own view: the same statistics
    steps = parse_processing(
        "pre", [{"id": "scale_range", "kwargs": {"axes": ["y", "x"], "max_percentile": 99}}]
    )
    bound = bind_processing(steps, "bcyx", big)
    again = bind_processing(steps, "bcyx", np.ascontiguousarray(view))
    assert bound.frozen[0][0] == again.frozen[0][0] and bound.frozen[0][1] == again.frozen[0][1]


def test_inverse_refuses_a_preprocessing_that_is_not_affine() -> None:
    from zoo.errors import SpecError

    steps = parse_processing("pre", [{"id": "clip", "kwargs": {"min": 0, "max": 1}}])
    with pytest.raises(SpecError, match="not an affine map"):
        bind_processing(steps, "bcyx", None).inverse()


def test_the_package_declares_the_halo_zoo_tiles_with(package: Path) -> None:
    """The output's axes carry zoo's halo for the size step (bioimage.io tools tile with
    it), the input's minimum leaves two steps once it is cut, and zoo's own size check
    still asks for two steps only."""
    from zoo.checks import check_compatibility
    from zoo.imageio import Image
    from zoo.tiling import _step_of, declared_halo, default_tiling, halo_for_step

    pkg = load_package(package)
    step = _step_of(pkg)
    halo = declared_halo(pkg)
    assert halo == halo_for_step(step) == default_tiling(pkg).halo
    sizes = [a.size.min for a in pkg.descr.inputs[0].axes if a.type == "space"]
    assert sizes == [2 * halo + 2 * step] * 2
    small = check_compatibility(pkg, Image(np.zeros((2 * step, 3 * step), np.float32), "yx"))
    assert all(c.status == "ok" for c in small), small
    tiny = check_compatibility(pkg, Image(np.zeros((step, 3 * step), np.float32), "yx"))
    assert [c.name for c in tiny if c.status == "fail"] == ["minimum_size"]
