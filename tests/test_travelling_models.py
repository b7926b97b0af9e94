"""The zoo's models that travel: care-widefield-w2s on W2S fields it never saw (fields
036-045, SPLITS.md), as uint8, uint16 and any affine change of the same pixels; the
fluorescence generalist on a source no zoo model trains on and on its sources' held-out rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.conftest import REPO
from zoo.imageio import read_array
from zoo_bench.splits import gaussian_oracle, score
from zoo_bench.training.data import load_w2s8

MODEL = "care-widefield-w2s"
GENERALIST = "care-fluorescence-generalist"


@pytest.fixture(scope="module")
def heldout() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The 30 held-out W2S images: name → (noisy uint8, clean target)."""
    _train, _targets, held = load_w2s8()
    return {p.name: (p.noisy, p.target) for p in held}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {"registry": REPO, "cache": tmp_path_factory.mktemp("cache")}


def _run(
    image: np.ndarray,
    tmp: Path,
    name: str,
    env: dict[str, Path],
    *,
    force: bool = False,
    model: str = MODEL,
) -> np.ndarray:
    from zoo.runner import run

    tifffile.imwrite(tmp / f"{name}.tif", image)
    result = run(model, tmp / f"{name}.tif", tmp / f"{name}-out.tif", force=force,
                 registry=str(env["registry"]), cache=env["cache"])  # fmt: skip
    assert force or result.report.verdict in ("match", "caution"), result.report.verdict
    return read_array(result.output)


def test_uint8_uint16_and_an_affine_change_give_the_same_result(
    heldout: dict[str, tuple[np.ndarray, np.ndarray]], tmp_path: Path, env: dict[str, Path]
) -> None:
    """The same pixels as uint8, as uint16 × 257 and as a · x + b (the noise is not
    re-simulated) give the same result after the inverse affine map (≤ 0.1 dB)."""
    noisy, clean = heldout["W2S 040_1"]
    as8 = _run(noisy, tmp_path, "u8", env)
    as16 = _run(noisy.astype(np.uint16) * 257, tmp_path, "u16", env) / 257
    a, b = 0.37, 812.0
    affine = (_run(noisy.astype(np.float32) * a + b, tmp_path, "aff", env) - b) / a
    reference = score(as8, clean).psnr
    for other in (as16, affine):
        assert abs(score(other, clean).psnr - reference) <= 0.1
    assert abs(float(as8.mean()) - float(noisy.mean())) < 0.05 * float(np.ptp(noisy))


@pytest.mark.parametrize("name", ["W2S 036_1", "W2S 042_0", "W2S 045_2"])
def test_it_beats_the_best_sigma_gaussian_on_a_heldout_field(
    heldout: dict[str, tuple[np.ndarray, np.ndarray]],
    tmp_path: Path,
    env: dict[str, Path],
    name: str,
) -> None:
    noisy, clean = heldout[name]
    gauss, _sigma = gaussian_oracle(noisy.astype(np.float32), clean)
    assert score(_run(noisy, tmp_path, "x", env), clean).psnr > score(gauss, clean).psnr


def test_check_says_match_or_caution_on_every_heldout_field(
    heldout: dict[str, tuple[np.ndarray, np.ndarray]], env: dict[str, Path]
) -> None:
    from zoo.domain import check_image
    from zoo.imageio import Image
    from zoo.runner import open_model

    package = open_model(MODEL, registry=str(env["registry"]), cache=env["cache"]).package
    verdicts = {}
    for name, (noisy, _clean) in heldout.items():
        for dtype, image in (("uint8", noisy), ("uint16", noisy.astype(np.uint16) * 257)):
            verdicts[name, dtype] = check_image(package, Image(image, "yx", {})).verdict
    assert set(verdicts.values()) <= {"match", "caution"}, verdicts


def test_match_ranks_a_travelling_model_first_for_a_16_bit_widefield_frame(
    heldout: dict[str, tuple[np.ndarray, np.ndarray]], env: dict[str, Path]
) -> None:
    from zoo.imageio import Image
    from zoo.match import rank_models
    from zoo.registry import Registry

    noisy, _clean = heldout["W2S 043_0"]
    image = Image(noisy.astype(np.uint16) * 257, "yx", {})
    ranked = rank_models(image, Registry(env["registry"], cache=env["cache"]))
    assert ranked[0].id in (MODEL, GENERALIST), [(m.id, m.verdict, m.score) for m in ranked]


@pytest.mark.parametrize(
    "name", ["GigaDB mito_20x rows 1536-2047", "nucleus tracking rows 768-1023"]
)
def test_it_beats_the_best_sigma_gaussian_on_sources_it_never_saw(
    tmp_path: Path, env: dict[str, Path], name: str
) -> None:
    """Held-out rows of other widefield sources (SPLITS.md; 8-bit BPAE mitochondria at 20x,
    16-bit nuclei): a W2S-trained model that travels."""
    from zoo_bench.heldout import heldout_sets

    pair = next(heldout_sets([name])).pairs[0]
    assert pair.target is not None
    gauss, _sigma = gaussian_oracle(pair.noisy.astype(np.float32), pair.target)
    model = score(_run(pair.noisy, tmp_path, "x", env, force=True), pair.target).psnr
    assert model > score(gauss, pair.target).psnr


@pytest.mark.parametrize(
    "name",
    [
        "GigaDB membrane",
        "FMD R_1",
        "nucleus tracking rows 768-1023",
        "GigaDB actin_60x rows 1536-2047",
        "GigaDB mito_20x rows 1536-2047",
    ],
)
def test_the_generalist_beats_the_best_sigma_gaussian_and_says_match(
    tmp_path: Path, env: dict[str, Path], name: str
) -> None:
    """The two sources no zoo model trains on (GigaDB membrane, FMD R_1; SPLITS.md) and
    held-out rows of three of the generalist's sources, 8-bit and 16-bit: checked (match or
    caution) and better than the best-sigma Gaussian filter (on FMD R_1 since 0.3.0)."""
    from zoo_bench.heldout import heldout_sets

    pair = next(heldout_sets([name])).pairs[0]
    assert pair.target is not None
    gauss, _sigma = gaussian_oracle(pair.noisy.astype(np.float32), pair.target)
    out = _run(pair.noisy, tmp_path, "x", env, model=GENERALIST)
    assert score(out, pair.target).psnr > score(gauss, pair.target).psnr


@pytest.mark.parametrize("name", ["epfl_fibsem_testing0002", "isbi2012_train_5"])
def test_the_em_generalist_on_the_heldout_slices(
    tmp_path: Path, env: dict[str, Path], name: str
) -> None:
    """SPLITS.md's held-out EM slices with Gaussian noise (sigma 25): checked (match or
    caution), above the Gaussian whose sigma is chosen without the target and above the
    best-sigma Gaussian on both (on the ssTEM slice by a small margin since 0.2.0: numbers in
    docs/models.md)."""
    from zoo_bench.heldout import heldout_sets
    from zoo_bench.splits import gaussian_blind

    pair = next(p for p in next(heldout_sets(["EM slices + noise"])).pairs if p.name == name)
    assert pair.target is not None
    out = score(_run(pair.noisy, tmp_path, "x", env, model="care-em-generalist"), pair.target)
    oracle, _sigma = gaussian_oracle(pair.noisy.astype(np.float32), pair.target)
    blind, _sigma = gaussian_blind(pair.noisy.astype(np.float32))
    assert out.psnr > score(blind, pair.target).psnr
    assert out.psnr > score(oracle, pair.target).psnr + (0.2 if name.startswith("epfl") else 0.0)


def test_the_generalist_keeps_beating_the_gaussian_on_lightly_noisy_frames(
    tmp_path: Path, env: dict[str, Path]
) -> None:
    """A held-out W2S field with noise synthesised at 1000 photons at the brightest (as clean
    as the nucleus tracking frames; zoo_bench.heldout.NOISE_LEVEL_SETS, seeded): 0.2.0 trained
    on such levels too (0.1.1, which had not, fell below the Gaussian there: docs/models.md)."""
    from zoo_bench.heldout import NOISE_LEVEL_SETS, SETS, heldout_sets

    name = "W2S fields 036-045, 1000 photons"
    assert name in NOISE_LEVEL_SETS and name not in SETS  # the other benchmarks keep to SETS
    pair = next(heldout_sets([name])).pairs[0]
    again = next(heldout_sets([name])).pairs[0]
    assert np.array_equal(pair.noisy, again.noisy)
    assert pair.target is not None
    gauss, _sigma = gaussian_oracle(pair.noisy.astype(np.float32), pair.target)
    out = _run(pair.noisy, tmp_path, "x", env, model=GENERALIST)
    assert score(out, pair.target).psnr > score(gauss, pair.target).psnr


def test_misregistration_finds_a_known_sub_pixel_shift() -> None:
    """The offset of a target moved by (0.6, -0.3) px, under Poisson noise, is found."""
    from zoo_bench.splits import misregistration, shifted

    rng = np.random.default_rng(0)
    clean = 50 + 40 * np.clip(_structure(rng), 0, None)
    frame = rng.poisson(shifted(clean, (0.6, -0.3)).clip(0)).astype(np.float64)
    dy, dx = misregistration(frame, clean)
    assert abs(dy - 0.6) < 0.05 and abs(dx + 0.3) < 0.05, (dy, dx)
    assert max(map(abs, misregistration(rng.poisson(clean).astype(float), clean))) < 0.05


def _structure(rng: np.random.Generator) -> np.ndarray:
    """Smooth random structure (blobs and ridges at a few pixels' scale), 128²."""
    from scipy import ndimage

    return ndimage.gaussian_filter(rng.standard_normal((128, 128)), 2.0) * 8


def test_the_fmd_frame_does_not_register_with_its_average() -> None:
    """FMD R_1's 50-frame average sits more than half a pixel off its single frame along y,
    where the other held-out pairs register: SPLITS.md's score on it rewards blur
    (docs/models.md, the generalist's note, gives the measurement)."""
    from zoo_bench.heldout import heldout_sets
    from zoo_bench.splits import misregistration

    fmd, membrane = heldout_sets(["FMD R_1", "GigaDB membrane"])
    dy, dx = misregistration(fmd.pairs[0].noisy, fmd.pairs[0].target)
    assert 0.5 < abs(dy) < 0.8 and abs(dx) < 0.1, (dy, dx)
    assert max(map(abs, misregistration(membrane.pairs[0].noisy, membrane.pairs[0].target))) < 0.2
