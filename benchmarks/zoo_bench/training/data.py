"""The data of the zoo's own models: loaders of the training images in ../shared/data
(read there, never copied) and of each domain's held-out split.

Each loader returns (training images, their clean targets or None, held-out pairs). A model's
recipe names its loader (:mod:`zoo_bench.training.specs`); the domain benchmark reads the
held-out data through them too (:mod:`zoo_bench.domain.cases`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    baselines: dict[str, np.ndarray] = field(default_factory=dict)
    """Published results of other methods on this image (e.g. W2S's own VST+BM3D)."""


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


W2S8 = DATA / "w2s8" / "w2s_8bit_fields001-045.npz"
W2S8_TRAIN_FIELDS = range(1, 36)
"""SPLITS.md: W2S fields 001-035 train (and validate), 036-045 are held out."""
W2S_AUTHORS_BM3D = "VST+BM3D (W2S authors)"


def load_w2s8() -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    """The 105 training pairs of W2S fields 001-035 (all three channels; targets aligned to
    the noisy grey values) and the 30 held-out pairs of fields 036-045, each with the W2S
    authors' VST+BM3D result."""
    data = np.load(W2S8)
    train, targets, held = [], [], []
    for i, key in enumerate(str(k) for k in data["ids"]):
        noisy = data["noisy_avg1"][i]
        clean = data["clean_avg400"][i]
        target = align_target(noisy, clean, valid=(noisy < 255) & (clean < 255) & (clean > 0))
        if int(key[:3]) in W2S8_TRAIN_FIELDS:
            train.append(noisy)
            targets.append(target)
        else:
            bm3d = data["vst_bm3d_avg1"][i].astype(np.float32)
            held.append(Pair(f"W2S {key}", noisy, target, {W2S_AUTHORS_BM3D: bm3d}))
    return train, targets, held


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


EM_TRAIN = (*(f"em/isbi2012_train_{k}.png" for k in range(5)), "em/epfl_fibsem_testing0001.png")
EM_HELDOUT = ("em/isbi2012_train_5.png", "em/epfl_fibsem_testing0002.png")
EM_NOISE_SIGMA = 25.0
"""Gaussian noise (grey values of the 8-bit slices) synthesised on the held-out EM slices."""
EM_SIGMAS = (10.0, 20.0, 35.0, 50.0)
"""Noise-level augmentation of the EM generalist: Gaussian noise of these standard deviations
(grey values), rounded and clipped to 8 bits as a detector would, beside :func:`synthesise`'s
Poisson-Gaussian copies (white and correlated)."""


def _em_slice(rel: str) -> np.ndarray:
    return _png(rel, 0 if "epfl" in rel else None).astype(np.float32)


def _gaussian_8bit(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = np.clip(np.round(clean + rng.normal(0, sigma, clean.shape)), 0, 255)
    return noisy.astype(np.uint8)


def em_heldout() -> list[Pair]:
    """SPLITS.md's held-out EM slices (ISBI train_5, EPFL testing0002) with Gaussian noise of
    EM_NOISE_SIGMA at fixed seeds, and their clean slices."""
    pairs = []
    for seed, rel in enumerate(EM_HELDOUT):
        clean = _em_slice(rel)
        noisy = _gaussian_8bit(clean, EM_NOISE_SIGMA, np.random.default_rng(500 + seed))
        pairs.append(Pair(Path(rel).stem, noisy, clean))
    return pairs


def em_sources() -> dict[str, tuple[list, list]]:
    """The EM generalist's training pairs per source: every clean training slice of SPLITS.md
    (ISBI train_0-4, EPFL testing0001) with Gaussian noise at EM_SIGMAS and Poisson-Gaussian
    noise (:func:`synthesise`, white and correlated), seeded."""
    sources: dict[str, tuple[list, list]] = {"ISBI 2012": ([], []), "EPFL": ([], [])}
    for k, rel in enumerate(EM_TRAIN):
        clean = _em_slice(rel)
        noisy, targets = sources["EPFL" if "epfl" in rel else "ISBI 2012"]
        rng = np.random.default_rng(700 + k)
        for sigma in EM_SIGMAS:
            noisy.append(_gaussian_8bit(clean, sigma, rng))
            targets.append(clean)
        for n, t in synthesise(clean, 800 + k, CORRELATED_COPIES):
            noisy.append(n)
            targets.append(t)
    return sources


def load_em() -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    """The EM generalist's training pairs (:func:`em_sources`) and the held-out EM slices."""
    return (*_pooled(em_sources()), em_heldout())


def _pooled(sources: dict[str, tuple[list, list]]) -> tuple[list, list]:
    """Every source's (noisy, target) lists, one after the other, as one pair of lists."""
    noisy = [a for n, _t in sources.values() for a in n]
    return noisy, [t for _n, ts in sources.values() for t in ts]


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


SYNTHETIC_PEAKS = (4.0, 15.0, 60.0)
"""Noise-level augmentation: photons at a clean image's 99.9th percentile, one noisy copy
each (Poisson), with a read noise of ``SYNTHETIC_READ`` photons (Gaussian)."""
SYNTHETIC_READ = 1.5
CORRELATED_COPIES = 2
"""Further copies per clean image whose noise is correlated between neighbours, as a point
scanner's detector bandwidth or a camera's readout makes it: the Poisson-Gaussian noise
filtered along x by [a, 1, a] and along y by [b, 1, b] (variance kept), a in
``CORRELATION_X``, b in ``CORRELATION_Y`` and the peak log-uniform in SYNTHETIC_PEAKS'
range, all drawn from the seed."""
CORRELATION_X = (0.1, 0.4)
CORRELATION_Y = (0.0, 0.2)


def _correlate(noise: np.ndarray, a: float, b: float) -> np.ndarray:
    """``noise`` filtered by [a, 1, a] along x and [b, 1, b] along y, its variance kept
    (lag-1 correlation 2a / (1 + 2a²) along x for white noise)."""
    from scipy.ndimage import correlate1d

    out = correlate1d(noise, [a, 1.0, a], axis=1, mode="reflect")
    out = correlate1d(out, [b, 1.0, b], axis=0, mode="reflect")
    return out / np.sqrt((1 + 2 * a * a) * (1 + 2 * b * b))


def synthesise(
    clean: np.ndarray,
    seed: int,
    correlated: int = 0,
    peaks: tuple[float, ...] = SYNTHETIC_PEAKS,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Poisson-Gaussian noisy copies of ``clean`` at each of ``peaks`` (photons at its 99.9th
    percentile; :data:`SYNTHETIC_PEAKS` unless given), and ``correlated`` more with
    neighbour-correlated noise (:data:`CORRELATED_COPIES`) at a peak log-uniform in their
    range, as (noisy, target) pairs in photon units, seeded."""
    c = clean.astype(np.float64)
    lo, hi = np.percentile(c, [0.1, 99.9])
    c = np.clip((c - lo) / max(hi - lo, 1e-12), 0, None)
    rng = np.random.default_rng(seed)
    pairs = []
    for peak in peaks:
        noisy = rng.poisson(c * peak) + rng.normal(0, SYNTHETIC_READ, c.shape)
        pairs.append((noisy.astype(np.float32), (c * peak).astype(np.float32)))
    low, high = np.log(min(peaks)), np.log(max(peaks))
    for _ in range(correlated):
        peak = float(np.exp(rng.uniform(low, high)))
        a, b = rng.uniform(*CORRELATION_X), rng.uniform(*CORRELATION_Y)
        noise = rng.poisson(c * peak) - c * peak + rng.normal(0, SYNTHETIC_READ, c.shape)
        noisy = c * peak + _correlate(noise, a, b)
        pairs.append((noisy.astype(np.float32), (c * peak).astype(np.float32)))
    return pairs


FLUORESCENCE_SOURCES = ("W2S", "GigaDB", "nucleus tracking", "FLIM")
"""The training sources of the fluorescence generalist (SPLITS.md's training parts)."""


RCAN3D = ("actin", "er", "microtubules", "tomm20")
"""The RCAN3D iSIM samples whose deconvolved targets serve as clean images for synthesis
(SPLITS.md: extra training signal; their structures are sharp at the pixel scale)."""


def rcan3d_copies(
    sets: int, correlated: int = CORRELATED_COPIES, peaks: tuple[float, ...] = SYNTHETIC_PEAKS
) -> tuple[list, list]:
    """``sets`` rounds of :func:`synthesise` copies (seeds 7000 + 100·round + sample) of the
    RCAN3D deconvolved targets, their RGB channels summed to one grey image."""
    noisy: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    cleans = [_png(f"pairs/rcan3d_{n}_gt_decon.png").astype(np.float32).sum(-1) for n in RCAN3D]
    for r in range(sets):
        for k, clean in enumerate(cleans):
            for n, t in synthesise(clean, 7000 + 100 * r + k, correlated, peaks):
                noisy.append(n)
                targets.append(t)
    return noisy, targets


def fluorescence_sources(
    without: str | None = None,
    correlated: int = CORRELATED_COPIES,
    *,
    split: bool = False,
    peaks: tuple[float, ...] = SYNTHETIC_PEAKS,
    rcan3d_sets: int = 0,
) -> dict[str, tuple[list, list]]:
    """SPLITS.md's training images of every fluorescence source, as (noisy, target) lists
    per source: the real pairs (W2S fields 001-035, GigaDB actin and mito rows 0-1535,
    nucleus tracking rows 0-767), then Poisson-Gaussian copies of their clean targets
    (:func:`synthesise`); FLIM 5-frame averages as clean images for synthesis only (their own
    frames carry scan-line-correlated noise). ``without`` leaves a source out
    (leave-one-source-out runs); ``split`` gives a source's synthetic copies as a source of
    their own ("W2S (synthetic noise)"), for a fingerprint each: the real images' noise
    levels are not the copies'. ``peaks``: the synthetic copies' photon levels;
    ``rcan3d_sets``: that many rounds of :func:`rcan3d_copies` as a last source."""
    real: dict[str, tuple[list, list]] = {}
    w2s_noisy, w2s_clean, _held = load_w2s8()
    real["W2S"] = (list(w2s_noisy), list(w2s_clean))
    gigadb = [_gigadb(name) for name in ("actin_60x", "mito_20x")]
    real["GigaDB"] = ([g[0][0] for g in gigadb], [g[1][0] for g in gigadb])
    nuclei_noisy, nuclei_clean, _held = load_nuclei_pairs()
    real["nucleus tracking"] = (list(nuclei_noisy), list(nuclei_clean))
    flim = [_tif("pairs/flim2p_bpae1_intensity_ax5_avg.tif"),
            _tif("pairs/flim2p_mousekidney2_intensity_ax5_avg.tif")[:FLIM_TRAIN_ROWS]]  # fmt: skip
    cleans = {name: list(clean) for name, (_noisy, clean) in real.items()} | {"FLIM": flim}
    real["FLIM"] = ([], [])
    synthetic: dict[str, tuple[list, list]] = {name: ([], []) for name in cleans}
    for seed, (name, clean) in enumerate(cleans.items(), start=1):
        picked = clean if name != "W2S" else clean[::7]  # W2S has 105 real pairs already
        for k, image in enumerate(picked):
            for noisy, target in synthesise(image, seed * 1000 + k, correlated, peaks):
                synthetic[name][0].append(noisy)
                synthetic[name][1].append(target)
    sources: dict[str, tuple[list, list]] = {}
    for name in cleans:
        if name == without:
            continue
        if not split:
            sources[name] = (real[name][0] + synthetic[name][0], real[name][1] + synthetic[name][1])
            continue
        if real[name][0]:
            sources[name] = real[name]
        sources[f"{name} (synthetic noise)"] = synthetic[name]
    if rcan3d_sets:
        sources["RCAN3D (synthetic noise)"] = rcan3d_copies(rcan3d_sets, correlated, peaks)
    return sources


def fluorescence_fingerprint_sources(**synthesis: Any) -> dict[str, tuple[list, list]]:
    """:func:`fluorescence_sources` with the synthetic copies as sources of their own (the
    card's ``sources``, a fingerprint each); ``synthesis``: its ``peaks``."""
    return fluorescence_sources(split=True, **synthesis)


def load_fluorescence(
    without: str | None = None, **synthesis: Any
) -> tuple[list[np.ndarray], list[np.ndarray], list[Pair]]:
    """Every fluorescence source's training images (:func:`fluorescence_sources`, with the
    recipe's ``synthesis`` settings) but ``without``; held out: the W2S fields 036-045, or,
    leaving a source out, that source's held-out images (the sets of docs/models.md's
    held-out tables are scored by zoo_bench.heldout)."""
    sources = fluorescence_sources(without, **synthesis)
    noisy, targets = _pooled(sources)
    return noisy, targets, LEFT_OUT_HELDOUT.get(without or "W2S", lambda: load_w2s8()[2])()


LEFT_OUT_HELDOUT = {
    "W2S": lambda: load_w2s8()[2],
    "GigaDB": lambda: [
        Pair(f"GigaDB {name} {p.name}", p.noisy, p.target)
        for name, load in (("actin_60x", load_actin_pairs), ("mito_20x", load_mito_pairs))
        for p in load()[2]
    ],
    "nucleus tracking": lambda: load_nuclei()[2],
}
"""The held-out images of a source a leave-one-source-out run is scored on."""
