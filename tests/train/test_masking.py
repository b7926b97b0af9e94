"""Blind-spot masking: what replaces a masked pixel, and what is hidden around it."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.errors import ImageError, TrainConfigError
from zoo.spec import NoiseModel
from zoo.train.masking import Masking, mask_positions, masked_mse, struct_mask_rows


def unique_patch(shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    """Every pixel a different value, so a value says where it came from."""
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


def window(patch: np.ndarray, y: int, x: int, r: int) -> np.ndarray:
    return patch[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]


def test_uniform_replacement_is_a_neighbour_never_the_pixel_itself() -> None:
    patch = unique_patch()
    masking = Masking(fraction=0.05, radius=2)
    rng = np.random.default_rng(0)
    for _ in range(20):
        out, mask = masking.apply(patch, rng)
        assert mask.sum() > 0
        np.testing.assert_array_equal(out[~mask], patch[~mask])
        for y, x in zip(*np.nonzero(mask), strict=True):
            assert out[y, x] != patch[y, x]
            assert out[y, x] in window(patch, y, x, 2)


def test_replacement_sources_are_spread_over_the_window() -> None:
    patch = unique_patch()
    rng = np.random.default_rng(1)
    offsets = set()
    for _ in range(50):
        out, mask = Masking(fraction=0.05, radius=1).apply(patch, rng)
        for y, x in zip(*np.nonzero(mask), strict=True):
            sy, sx = np.argwhere(patch == out[y, x])[0]
            offsets.add((int(sy - y), int(sx - x)))
    assert offsets == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)} - {(0, 0)}


def test_masked_pixels_are_apart_so_no_blind_spot_sees_another_original() -> None:
    rng = np.random.default_rng(2)
    for distance in (2, 3, 5):
        mask = mask_positions((128, 128), 0.02, distance, rng)
        points = np.argwhere(mask)
        gaps = np.abs(points[:, None] - points[None]).max(axis=2)
        np.fill_diagonal(gaps, 10**6)
        assert gaps.min() >= distance
    fractions = [mask_positions((256, 256), 0.015, 3, rng).mean() for _ in range(5)]
    assert 0.01 < np.mean(fractions) < 0.02


def test_n2v2_median_replacement_excludes_the_centre() -> None:
    rng = np.random.default_rng(3)
    patch = rng.normal(size=(64, 64)).astype(np.float32)
    out, mask = Masking(fraction=0.05, radius=2, strategy="median").apply(patch, rng)
    for y, x in zip(*np.nonzero(mask), strict=True):
        values = window(patch, y, x, 2).ravel().tolist()
        values.remove(patch[y, x])
        assert out[y, x] == pytest.approx(np.median(values))
    np.testing.assert_array_equal(out[~mask], patch[~mask])


@pytest.mark.parametrize("axis", ["x", "y"])
def test_structn2v_hides_the_line_along_the_configured_axis_only(axis: str) -> None:
    patch = unique_patch()
    rng = np.random.default_rng(4)
    masking = Masking(fraction=0.02, radius=2, struct_axis=axis, struct_span=5)  # type: ignore[arg-type]
    out, mask = masking.apply(patch, rng)
    changed = out != patch
    for y, x in zip(*np.nonzero(mask), strict=True):
        for d in (-2, -1, 1, 2):
            on_line = (y, x + d) if axis == "x" else (y + d, x)
            across = (y + d, x) if axis == "x" else (y, x + d)
            if 0 <= on_line[0] < 64 and 0 <= on_line[1] < 64:
                assert changed[on_line], f"{on_line} on the {axis} line of {(y, x)} kept"
            if 0 <= across[0] < 64 and 0 <= across[1] < 64:
                assert not changed[across], f"{across} across the line was changed"
        # the centre's replacement never comes from the hidden line
        sy, sx = np.argwhere(patch == out[y, x])[0]
        line_offset = (sy - y == 0) if axis == "x" else (sx - x == 0)
        assert not (line_offset and max(abs(sy - y), abs(sx - x)) <= 2)


def test_struct_mask_rows_are_a_valid_card_mask() -> None:
    assert struct_mask_rows("x", 5) == [[1, 1, 1, 1, 1]]
    assert struct_mask_rows("y", 3) == [[1], [1], [1]]
    NoiseModel(type="structured", structn2v_mask=struct_mask_rows("y", 5))


def test_masked_mse_counts_masked_pixels_only() -> None:
    torch = pytest.importorskip("torch")
    target = torch.zeros(2, 1, 8, 8)
    prediction = torch.full((2, 1, 8, 8), 100.0)
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[0, 0, 1, 1] = mask[1, 0, 5, 2] = True
    prediction[mask] = torch.tensor([1.0, 3.0])
    assert float(masked_mse(prediction, target, mask)) == pytest.approx((1 + 9) / 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraction": 0.0}, "fraction"),
        ({"radius": 0}, "radius"),
        ({"strategy": "mean"}, "strategy"),
        ({"struct_axis": "z"}, "struct_axis"),
        ({"struct_axis": "x", "struct_span": 4}, "struct_span"),
    ],
)
def test_bad_masking_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(TrainConfigError, match=message):
        Masking(**kwargs)


def test_a_patch_that_is_not_2d_is_refused() -> None:
    with pytest.raises(ImageError, match="2D patch"):
        Masking().apply(np.zeros((2, 8, 8), np.float32), np.random.default_rng(0))
