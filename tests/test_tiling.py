"""Denoising in windows: the grid, the memory budget, and agreement with one whole pass."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import core_one_pass
from zoo.inference import Predictor
from zoo.package import load_package
from zoo.tiling import Tiling


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
    # windows bounded by their pixels (a grid of other shapes) agree to the bit with tiles
    by_area = predict_tiled(predictor, big_image, tiling=Tiling(tile=256, halo=32, area=True))
    np.testing.assert_array_equal(by_area, tiled)


def test_matches_bioimageio_core_predict_on_a_new_size(
    example_zip: Path, big_image: np.ndarray
) -> None:
    """zoo's tiles give bioimageio.core's one pass over the whole image; core pads the image
    by the package's declared halo first (its pad mode), so the two agree exactly without
    that padding and, with it, away from the image's border."""
    from bioimageio.core import Sample, Tensor, predict

    from zoo.tiling import declared_halo, predict_tiled

    package = load_package(example_zip)
    halo = declared_halo(package)
    assert halo > 0
    image = big_image[:, :1000, :700].astype(np.float32)
    reference = core_one_pass(package.descr, image[np.newaxis])[0]
    tensor = Tensor.from_numpy(image[np.newaxis], dims=("batch", "channel", "y", "x"))
    sample = Sample(members={"input": tensor}, stat={}, id="new-size")
    padded = predict(model=package.descr, inputs=sample).members["output"].data.to_numpy()[0]
    inner = (slice(None), slice(2 * halo, -2 * halo), slice(2 * halo, -2 * halo))
    for fmt in ("onnx", "torchscript"):
        got = predict_tiled(Predictor(package, weight_format=fmt), image)
        np.testing.assert_allclose(got, reference, rtol=0, atol=1e-4, err_msg=fmt)
        np.testing.assert_allclose(got[inner], padded[inner], rtol=0, atol=1e-4, err_msg=fmt)


def test_bioimageio_core_blocks_agree_with_one_pass_through_the_declared_halo(
    example_zip: Path, big_image: np.ndarray
) -> None:
    """The package declares the halo zoo's tiles use, so bioimageio.core's blocked predict
    (blocks far smaller than the image) gives zoo's whole-image result away from the image's
    border; the same blocks without the halo show seams (the comparison can fail)."""
    from bioimageio.core import Sample, Tensor, predict

    from zoo.tiling import declared_halo, predict_tiled

    package = load_package(example_zip)
    halo = declared_halo(package)
    image = big_image[:, :400, :360].astype(np.float32)
    tensor = Tensor.from_numpy(image[np.newaxis], dims=("batch", "channel", "y", "x"))
    sample = Sample(members={"input": tensor}, stat={}, id="blocks")
    blocked = predict(model=package.descr, inputs=sample, blocksize_parameter=4)
    got = blocked.members["output"].data.to_numpy()[0]
    whole = predict_tiled(Predictor(package), image)
    inner = (slice(None), slice(2 * halo, -2 * halo), slice(2 * halo, -2 * halo))
    np.testing.assert_allclose(got[inner], whole[inner], rtol=0, atol=1e-4)
    seams = predict_tiled(Predictor(package), image, tiling=Tiling(tile=2 * 4 * 4, halo=0))
    assert np.abs(seams[inner] - whole[inner]).max() > 1e-2


def test_auto_tile_uses_the_memory_budget_left_by_the_images() -> None:
    from zoo.memory import (
        DEFAULT_TILE,
        MEMORY_BUDGET,
        PROCESS_BYTES,
        TILE_BYTES_PER_PIXEL,
        auto_tile,
    )

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


def _pixels(grid: list[list[tuple[int, int, int, int]]]) -> int:
    return math.prod(len(w) * (w[0][1] - w[0][0]) for w in grid)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.one_of(
        st.lists(st.integers(1, 3000), min_size=2, max_size=2),
        st.lists(st.integers(1, 400), min_size=3, max_size=3),
    ),
    halo=st.integers(1, 8),  # auto tiling's halo is ≥ 32 px
    step=st.sampled_from([1, 4, 16]),
    room=st.integers(2, 40),
    stretch=st.floats(1, 3),
)
def test_grid_by_area_computes_no_more_than_square_windows(
    sizes: list[int], halo: int, step: int, room: int, stretch: float
) -> None:
    """The grid bounded by a window's pixels keeps every window within them, cuts each axis
    as _windows does, and never computes more pixels than square windows of that area."""
    from zoo.tiling import _grid, _iroot, _windows

    halo = halo * step
    sizes = [-(-s // step) * step for s in sizes]  # as predict_tiled pads them
    area = int((2 * halo + room * step) ** len(sizes) * stretch)
    side = _iroot(area, len(sizes))
    square = [_windows(s, side, halo, step, slack=False) for s in sizes]
    grid = _grid(sizes, halo, [step] * len(sizes), area)
    assert math.prod(w[0][1] - w[0][0] for w in grid) <= area
    assert _pixels(grid) <= _pixels(square)
    for size, windows in zip(sizes, grid, strict=True):
        assert [k0 for _, _, k0, _ in windows] == [0, *(k1 for _, _, _, k1 in windows[:-1])]
        assert windows[-1][3] == size
        assert len({w1 - w0 for w0, w1, _, _ in windows}) == 1
        for w0, w1, k0, k1 in windows:
            assert k0 < k1 and k0 % step == 0 and w0 % step == 0
            assert 0 <= w0 <= max(0, k0 - halo) and min(size, k1 + halo) <= w1 <= size


def test_iroot() -> None:
    from zoo.tiling import _iroot

    assert [_iroot(n, 2) for n in (0, 1, 3, 4, 880**2, 880**2 - 1)] == [0, 1, 1, 2, 880, 879]
    assert [_iroot(n, 3) for n in (7, 8, 26, 27, 200**3, 200**3 - 1)] == [1, 2, 2, 3, 200, 199]


def test_grid_by_area_at_2048() -> None:
    """The 880² that auto_tile gives n2v-ihc-careamics at 2048²: 2 × 3 windows of
    1056 × 728 (1.10× the image's pixels) where square tiles take 3 × 3 of 728² (1.13×)."""
    from zoo.tiling import _grid, _windows

    grid = _grid([2048, 2048], 32, [4, 4], 880**2)
    assert [(len(w), w[0][1] - w[0][0]) for w in grid] == [(2, 1056), (3, 728)]
    assert _pixels(grid) / 2048**2 < 1.10 < _pixels([_windows(2048, 880, 32, 4)] * 2) / 2048**2
    whole = _grid([2048, 2048], 32, [4, 4], 2048**2)  # a budget for the whole image: one
    assert whole == [[(0, 2048, 0, 2048)]] * 2
