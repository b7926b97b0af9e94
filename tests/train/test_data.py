"""Training data: checks, target alignment, validation split, aligned patch pairs."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.errors import ImageError, TrainConfigError
from zoo.train.data import PatchSampler, align_target, check_images, normalisation, split_rows


def test_align_target_maps_clean_onto_the_noisy_grey_values() -> None:
    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    noisy = 3.0 * clean + 10 + rng.normal(0, 0.05, clean.shape)
    aligned = align_target(noisy, clean)
    np.testing.assert_allclose(aligned, 3.0 * clean + 10, atol=0.02)
    # pixels outside `valid` (e.g. saturated) do not pull the fit
    spoiled = clean.copy()
    spoiled[:8] = 5.0
    valid = np.ones_like(clean, bool)
    valid[:8] = False
    np.testing.assert_allclose(
        align_target(noisy, spoiled, valid=valid)[8:], 3.0 * clean[8:] + 10, atol=0.02
    )


@pytest.mark.parametrize("augment", ["dihedral", "flips", None])
def test_patch_pairs_stay_aligned_through_augmentation(augment: str | None) -> None:
    rng = np.random.default_rng(1)
    images = [rng.normal(size=(80, 96)).astype(np.float32), rng.normal(size=(64, 64))]
    targets = [2 * a + 1 for a in images]
    sampler = PatchSampler(images, targets, patch=32, augment=augment)
    x, y = sampler.sample(64, rng)
    assert x.shape == y.shape == (64, 32, 32)
    np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6, atol=1e-6)


def test_flips_keep_the_noise_axis() -> None:
    """StructN2V's augmentation: rows stay rows (a row-constant image gives row patches)."""
    image = np.repeat(np.arange(64, dtype=np.float32)[:, None], 64, axis=1)
    x, _ = PatchSampler([image], patch=16, augment="flips").sample(32, np.random.default_rng(2))
    assert np.all(x.std(axis=2) == 0)
    x, _ = PatchSampler([image], patch=16, augment="dihedral").sample(64, np.random.default_rng(2))
    assert np.any(x.std(axis=2) > 0)


def test_sampler_is_reproducible_from_its_generator() -> None:
    images = [np.random.default_rng(3).normal(size=(64, 64))]
    sampler = PatchSampler(images, patch=16)
    a, _ = sampler.sample(8, np.random.default_rng(7))
    b, _ = sampler.sample(8, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_split_holds_out_the_bottom_rows_of_every_image() -> None:
    images = [np.arange(200 * 50, dtype=np.float32).reshape(200, 50), np.zeros((40, 40))]
    split = split_rows(images, [i + 1 for i in images], fraction=0.25, patch=32)
    assert [a.shape for a in split.train] == [(150, 50), (40, 40)]
    assert [a.shape for a in split.val] == [(50, 50)]
    assert split.val[0][0, 0] == 150 * 50  # the first held-out row follows the training rows
    assert split.val_targets is not None
    np.testing.assert_array_equal(split.val_targets[0], split.val[0] + 1)
    with pytest.raises(ImageError, match="validation region"):
        split_rows([np.zeros((40, 40))], None, fraction=0.1, patch=32)
    with pytest.raises(TrainConfigError, match="validation fraction"):
        split_rows(images, None, fraction=1.0, patch=32)


def test_an_unknown_augmentation_is_refused() -> None:
    with pytest.raises(TrainConfigError, match="augment"):
        PatchSampler([np.zeros((64, 64))], patch=16, augment="rotate")


def test_bad_training_images_are_refused() -> None:
    with pytest.raises(ImageError, match="2D"):
        check_images([np.zeros((2, 64, 64))], None, 32)
    with pytest.raises(ImageError, match="smaller than the patch"):
        check_images([np.zeros((16, 64))], None, 32)
    with pytest.raises(ImageError, match="finite"):
        check_images([np.full((64, 64), np.nan)], None, 32)
    with pytest.raises(ImageError, match="pair them"):
        check_images([np.zeros((64, 64))], [], 32)
    with pytest.raises(ImageError, match="same field"):
        check_images([np.zeros((64, 64))], [np.zeros((64, 65))], 32)
    with pytest.raises(ImageError, match="constant"):
        normalisation([np.ones((64, 64))])
