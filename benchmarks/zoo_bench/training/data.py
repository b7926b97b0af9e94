"""The data of the zoo's own models: loaders of the training images in ../shared/data
(read there, never copied) and of each domain's held-out split.

Each loader returns (training images, their clean targets or None, held-out pairs). A model's
recipe names its loader (:mod:`zoo_bench.training.specs`); the domain benchmark reads the
held-out data through them too (:mod:`zoo_bench.domain.cases`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from zoo.train.data import align_target

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"


@dataclass
class Pair:
    """A held-out image: noisy input, clean target aligned to it (or None), a label."""

    name: str
    noisy: np.ndarray
    target: np.ndarray | None


def _tif(rel: str) -> np.ndarray:
    return tifffile.imread(DATA / "images" / rel)


def _png(rel: str, channel: int | None = None) -> np.ndarray:
    a = np.asarray(Image.open(DATA / "images" / rel))
    return a[..., channel] if channel is not None else a


W2S_TRAIN = ("010_0", "020_1", "031_2", "035_1")
W2S_HELDOUT = ("042_1", "044_0")


def _w2s_pair(key: str) -> tuple[np.ndarray, np.ndarray]:
    noisy = _tif(f"w2s/w2s_{key}_noisy_avg1.tif")
    clean = _tif(f"w2s/w2s_{key}_clean_avg400.tif")
    valid = (noisy < 255) & (clean < 255) & (clean > 0)
    return noisy, align_target(noisy, clean, valid=valid)


def load_w2s() -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    train = [_w2s_pair(k) for k in W2S_TRAIN]
    held = [Pair(f"W2S {k}", *_w2s_pair(k)) for k in W2S_HELDOUT]
    return [n for n, _ in train], [c for _, c in train], held


NUCLEI_TRAIN_ROWS = 768


def load_nuclei() -> tuple[list[np.ndarray], None, list[Pair]]:
    low = _tif("pairs/nucleus_tracking_low_snr.tif")
    high = _tif("pairs/nucleus_tracking_high_snr.tif")
    lo, hi = low[NUCLEI_TRAIN_ROWS:], high[NUCLEI_TRAIN_ROWS:]
    target = align_target(lo, hi, valid=hi < 65535)
    held = [Pair(f"rows {NUCLEI_TRAIN_ROWS}-1023", lo, target)]
    return [low[:NUCLEI_TRAIN_ROWS]], None, held


def load_nuclei_pairs() -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    low = _tif("pairs/nucleus_tracking_low_snr.tif")
    high = _tif("pairs/nucleus_tracking_high_snr.tif")
    train = low[:NUCLEI_TRAIN_ROWS]
    top = high[:NUCLEI_TRAIN_ROWS]
    _noisy, _none, held = load_nuclei()
    return [train], [align_target(train, top, valid=top < 65535)], held


FLIM_TRAIN_ROWS = 256


def load_flim() -> tuple[list[np.ndarray], None, list[Pair]]:
    """BPAE cells, the plant section and the top half of the mouse kidney section for
    training; the bottom half of the mouse kidney (vs its 5-frame average) held out (the
    kidney's half in training: docs/models.md, ``structn2v-flim-two-photon``)."""
    kidney = _tif("pairs/flim2p_mousekidney2_intensity_ax1_noisy.tif")
    kidney_avg = _tif("pairs/flim2p_mousekidney2_intensity_ax5_avg.tif")
    train = [
        _tif("pairs/flim2p_bpae1_intensity_ax1_noisy.tif"),
        _tif("pairs/flim2p_plant_top_intensity_ax1_noisy.tif"),
        kidney[:FLIM_TRAIN_ROWS],
    ]
    noisy, clean = kidney[FLIM_TRAIN_ROWS:], kidney_avg[FLIM_TRAIN_ROWS:]
    held = Pair(f"mouse kidney 2, rows {FLIM_TRAIN_ROWS}-511", noisy, align_target(noisy, clean))
    return train, None, [held]


HIPSC_TRAIN_ROWS = 768


def load_hipsc() -> tuple[list[np.ndarray], None, list[Pair]]:
    image = _tif("fluo3d/bbbc034_aics_12_134_C0_slice.tif")
    held = [Pair(f"rows {HIPSC_TRAIN_ROWS}-1023", image[HIPSC_TRAIN_ROWS:], None)]
    return [image[:HIPSC_TRAIN_ROWS]], None, held


def load_fibsem() -> tuple[list[np.ndarray], None, list[Pair]]:
    train = [_png("em/epfl_fibsem_testing0001.png", 0)]
    held = _png("em/epfl_fibsem_testing0002.png", 0)
    return train, None, [Pair("EPFL slice testing0002", held, None)]


GIGADB_TRAIN_ROWS = 1536
GIGADB_REPO_NOTE = "Hagen et al. 2021, GigaScience, GigaDB 100888"


def _gigadb(name: str) -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    """A GigaDB BPAE low/high-SNR pair (8-bit intensities stored as palette indices): rows
    0-1535 for training with their high-SNR rows as targets, rows 1536-2047 held out, each
    target mapped onto the low-SNR grey values with saturated pixels left out."""
    low = _png(f"pairs/gigadb_{name}_lowsnr.png")
    high = _png(f"pairs/gigadb_{name}_highsnr.png")

    def aligned(rows: slice) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = low[rows], high[rows]
        return lo, align_target(lo, hi, valid=(lo < 255) & (hi < 255))

    train, target = aligned(slice(0, GIGADB_TRAIN_ROWS))
    held = Pair(f"rows {GIGADB_TRAIN_ROWS}-2047", *aligned(slice(GIGADB_TRAIN_ROWS, None)))
    return [train], [target], [held]


def load_actin() -> tuple[list[np.ndarray], None, list[Pair]]:
    """The actin field's training rows alone (self-supervised) and its held-out rows."""
    train, _targets, held = _gigadb("actin_60x")
    return train, None, held


def load_actin_pairs() -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    return _gigadb("actin_60x")


def load_mito_pairs() -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    return _gigadb("mito_20x")


def load_flim_pairs() -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    """BPAE cells and the top half of the mouse kidney, each with its 5-frame average as the
    target; the bottom half of the kidney held out. The plant image is left out: its 10-frame
    average does not register with the single frame (docs/models.md,
    ``care-flim-two-photon``)."""
    kidney = _tif("pairs/flim2p_mousekidney2_intensity_ax1_noisy.tif")
    kidney_avg = _tif("pairs/flim2p_mousekidney2_intensity_ax5_avg.tif")
    train = [_tif("pairs/flim2p_bpae1_intensity_ax1_noisy.tif"), kidney[:FLIM_TRAIN_ROWS]]
    avgs = [_tif("pairs/flim2p_bpae1_intensity_ax5_avg.tif"), kidney_avg[:FLIM_TRAIN_ROWS]]
    _train, _none, held = load_flim()
    return train, [align_target(n, a) for n, a in zip(train, avgs, strict=True)], held
