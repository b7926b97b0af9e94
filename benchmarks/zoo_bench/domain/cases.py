"""The domain benchmark's images: held-out fields of the zoo-trained domains, each as
acquired and changed as a user's data may differ, and real pairs of other modalities; split
into a calibration and a held-out half by source field."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"

MODELS = ("care-nuclei-widefield", "n2v2-fibsem-em", "care-widefield-w2s")
"""The zoo-trained models of the embedded registry that take part. Left out: the format
example ``n2v-ihc-careamics`` (below the Gaussian filter even in its own domain, so every pair
of it would be degraded; its IHC images take part as another modality), the models trained
and not published (docs/models.md), and ``care-actin-widefield`` and ``care-mito-widefield``,
whose held-out data DOMAINS knows (docs/domain-benchmark.md, "Limits", says why)."""
DOMAINS = (
    ("nuclei", "care-nuclei-widefield", "load_nuclei", None),
    ("actin", "care-actin-widefield", "load_actin", (256, 1024)),
    ("flim", "care-flim-two-photon", "load_flim", None),
    ("mito", "care-mito-widefield", "load_mito_pairs", (256, 1024)),
    ("w2s", "care-widefield-w2s", "load_w2s8", "field"),
)
"""(label, in-domain model, train_data loader, centre crop of its held-out image: its rows ×
columns, or ``"field"``, one field at the centre). W2S: the centre field of each of the 30
held-out images (fields 036-045, SPLITS.md)."""


def published_domains() -> list[str]:
    """The in-domain models of DOMAINS ever published in the embedded registry, yanked ones
    too: their held-out rows stay held-out images of SPLITS.md (judged with the classic
    baseline alone when their model is not measured)."""
    import json

    index = json.loads((REPO / "index.json").read_text())["models"]
    return [model for _label, model, _load, _side in DOMAINS if model in index]


CALIBRATED_MODELS = tuple(m for _label, m, _load, _side in DOMAINS if m in MODELS)
"""The models whose thresholds the benchmark calibrates: its in-domain models with a clean
target. Pairs of other models are judged with the first-principles defaults, which zoo
keeps for them."""
CROP = 256
"""Side of the other modalities' crops."""
FIELD = 128
"""Side of the held-out fields cut from the zoo-trained domains (the domain benchmark's; the
leave-one-source-out run also cuts larger ones)."""


@dataclass
class Case:
    """One image with its clean target (same grey values), where it comes from and its split."""

    name: str
    source: str
    """The field it was cut from (cases of one source share a split)."""
    variant: str
    noisy: np.ndarray
    target: np.ndarray
    domain: str | None
    """The zoo model trained on this image's domain, or None (another modality)."""
    group: str = ""
    """The acquisition and variant: the classic baseline's parameter is chosen per group."""
    split: str = "calibration"

    def __post_init__(self) -> None:
        self.group = self.group or self.name


@dataclass
class Base:
    """A held-out field of a zoo-trained domain: real noisy image, aligned clean target."""

    source: str
    noisy: np.ndarray
    target: np.ndarray
    domain: str
    noise: tuple[float, float]
    """The domain's noise model: variance = a · signal + b (grey values)."""


def _fit_noise(noisy: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Variance of (noisy − target) against target: a straight line through 16 bins."""
    t = target.astype(np.float64).ravel()
    r = noisy.astype(np.float64).ravel() - t
    edges = np.quantile(t, np.linspace(0, 1, 17))
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, 15)
    means = np.array([t[idx == i].mean() for i in range(16) if np.any(idx == i)])
    var = np.array([r[idx == i].var() for i in range(16) if np.any(idx == i)])
    a, b = np.polyfit(means, var, 1)
    a = max(float(a), 0.0)
    b = max(float(b), 1e-12 * float(np.var(r)))
    return a, b


def _crops(a: np.ndarray, side: int) -> list[tuple[str, np.ndarray]]:
    """Non-overlapping side × side crops on a grid, labelled by their offsets."""
    return [
        (f"y{y}x{x}", a[y : y + side, x : x + side])
        for y in range(0, a.shape[0] - side + 1, side)
        for x in range(0, a.shape[1] - side + 1, side)
    ]


def domain_bases(models: Sequence[str] = MODELS, field: int = FIELD) -> list[Base]:
    """Held-out fields of the zoo-trained domains that have a clean target, cut into
    ``field`` × ``field`` fields: the held-out rows :mod:`zoo_bench.training.data` keeps out of
    training (its loaders are used, so the two cannot drift apart) of each domain whose model
    is in ``models``. Fields of empty background (the target's centre, which the pixel-size
    variants zoom into, is flat) are left out."""
    from zoo_bench.training import data as train_data

    bases = []
    for label, model_id, loader, side in DOMAINS:
        if model_id not in models:
            continue
        for pair in getattr(train_data, loader)()[2]:
            assert pair.target is not None
            noisy, target = pair.noisy, pair.target
            if side is not None:
                rows, cols = (field, field) if side == "field" else side
                noisy, target = _centre(noisy, rows, cols), _centre(target, rows, cols)
            for (field_, n), (_f, t) in zip(
                _crops(noisy, field), _crops(target, field), strict=True
            ):
                if np.ptp(_centre(t, field // 4)) == 0:
                    continue  # empty background (a flat target, e.g. clipped at 0): no PSNR
                bases.append(Base(f"{label} {field_}", n, t, model_id, _fit_noise(n, t)))
    return bases


def _as_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _noise(target: np.ndarray, a: float, b: float, rng: np.random.Generator) -> np.ndarray:
    return np.sqrt(np.maximum(a * target.astype(np.float64) + b, 0.0)) * rng.standard_normal(
        target.shape
    )


def _rescale(target: np.ndarray, factor: float) -> np.ndarray:
    """The scene at another pixel size: ``factor`` > 1 magnifies (a crop of the zoom),
    < 1 bins pixels (area mean)."""
    t = target.astype(np.float64)
    if factor < 1:
        k = round(1 / factor)
        h, w = (t.shape[0] // k) * k, (t.shape[1] // k) * k
        return t[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))
    k = int(factor)
    side = t.shape[0] // k
    y0, x0 = (t.shape[0] - side) // 2, (t.shape[1] - side) // 2
    return ndimage.zoom(t[y0 : y0 + side, x0 : x0 + side], k, order=3)


VARIANTS: dict[str, Callable[[Base, np.random.Generator], tuple[np.ndarray, np.ndarray]]] = {}


def variant(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        VARIANTS[name] = fn
        return fn

    return register


@variant("as acquired")
def _real(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return base.noisy, base.target


def _synthetic(scale: float) -> Callable[[Base, np.random.Generator], Any]:
    def make(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a, b = base.noise
        noisy = base.target + scale * _noise(base.target, a, b, rng)
        return _as_dtype(noisy, base.noisy.dtype), base.target

    return make


for _scale in (0.5, 2.0, 4.0):
    VARIANTS[f"noise ×{_scale:g}"] = _synthetic(_scale)


@variant("gaussian noise")
def _gaussian(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Signal-independent noise of the same variance at the median grey value (read noise
    or added Gaussian noise instead of shot noise)."""
    a, b = base.noise
    sigma = math.sqrt(a * float(np.median(base.target)) + b)
    noisy = base.target + sigma * rng.standard_normal(base.target.shape)
    return _as_dtype(noisy, base.noisy.dtype), base.target


@variant("noise correlated along x")
def _striped(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The domain's noise, smoothed along x over 3 pixels (variance kept): lag-1 correlation
    2/3, like scan-line or camera read-out noise."""
    a, b = base.noise
    white = _noise(base.target, a, b, rng)
    corr = ndimage.convolve1d(white, np.ones(3) / math.sqrt(3), axis=1, mode="reflect")
    return _as_dtype(base.target + corr, base.noisy.dtype), base.target


@variant("column stripes")
def _columns(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The domain's noise plus a fixed offset per column as strong as the pixel noise (a
    camera read-out pattern): noise correlated along y."""
    a, b = base.noise
    sigma = math.sqrt(a * float(np.median(base.target)) + b)
    columns = sigma * rng.standard_normal((1, base.target.shape[1]))
    noisy = base.target + _noise(base.target, a, b, rng) + columns
    return _as_dtype(noisy, base.noisy.dtype), base.target


@variant("saturated 5 %")
def _saturated(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The brightest 5 % of the pixels clipped at one level, as by a saturating detector."""
    level = np.percentile(base.noisy, 95)
    return np.minimum(base.noisy, level.astype(base.noisy.dtype)), base.target


def _scaled(factor: float) -> Callable[[Base, np.random.Generator], Any]:
    def make(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        target = _rescale(base.target, factor).astype(np.float32)
        a, b = base.noise
        return _as_dtype(target + _noise(target, a, b, rng), base.noisy.dtype), target

    return make


for _factor in (0.5, 2.0, 4.0):
    VARIANTS[f"pixel size ×{1 / _factor:g}"] = _scaled(_factor)


@variant("8-bit")
def _eight_bit(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Converted to 8 bits the way ImageJ does (min-max of the image to 0-255)."""
    lo, hi = float(base.noisy.min()), float(base.noisy.max())
    scale = 255.0 / (hi - lo)
    noisy = np.clip(np.round((base.noisy - lo) * scale), 0, 255).astype(np.uint8)
    return noisy, ((base.target - lo) * scale).astype(np.float32)


@variant("gain ×4")
def _gain(base: Base, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four times the grey values (another gain, exposure or camera offset scaling)."""
    noisy = _as_dtype(base.noisy.astype(np.float64) * 4, base.noisy.dtype)
    return noisy, (base.target * 4).astype(np.float32)


def _read(rel: str, channel: int | None = None) -> np.ndarray:
    import tifffile
    from PIL import Image as PILImage

    path = DATA / "images" / rel
    if path.suffix == ".tif":
        return tifffile.imread(path)
    a = np.asarray(PILImage.open(path))
    return a[..., channel] if channel is not None else a


def _centre(a: np.ndarray, side: int, width: int | None = None) -> np.ndarray:
    width = side if width is None else width
    y0, x0 = (a.shape[0] - side) // 2, (a.shape[1] - width) // 2
    return a[y0 : y0 + side, x0 : x0 + width]


def other_cases(models: Sequence[str] = MODELS) -> Iterator[Case]:
    """Real pairs (and clean images with synthetic noise) of modalities no model of
    ``models`` was trained on."""
    from zoo.train.data import align_target

    # SPLITS.md: W2S fields 001-035 train; 042_1 and 044_0 are held out (and a domain of
    # their own when care-widefield-w2s takes part)
    w2s = () if "care-widefield-w2s" in models else ("042_1", "044_0")
    for key in w2s:
        noisy = _read(f"w2s/w2s_{key}_noisy_avg1.tif")
        clean = _read(f"w2s/w2s_{key}_clean_avg400.tif")
        valid = (noisy < 255) & (clean < 255) & (clean > 0)
        yield Case(
            f"W2S {key}",
            f"w2s {key}",
            "other modality",
            noisy,
            align_target(noisy, clean, valid=valid),
            None,
        )
    # no FLIM pairs: their 5-frame "averages" keep the frames' scan-line-correlated noise,
    # so SPLITS.md rules them out for PSNR scoring (a degraded label would be the average's)
    noisy, clean = _read("fmd/fmd_R_1_noisy_raw.png"), _read("fmd/fmd_R_1_clean_avg50.png")
    yield Case("FMD R_1", "fmd", "other modality", noisy, align_target(noisy, clean), None)
    trained = {"actin_60x": "care-actin-widefield", "mito_20x": "care-mito-widefield"}
    for name in ("membrane", "actin_60x", "mito_20x"):
        if trained.get(name) in models:
            continue  # the training field of a zoo model: its held-out rows are a domain
        noisy = _centre(_read(f"pairs/gigadb_{name}_lowsnr.png"), 512)
        clean = _centre(_read(f"pairs/gigadb_{name}_highsnr.png"), 512)
        yield Case(
            f"GigaDB {name}",
            f"gigadb {name}",
            "other modality",
            noisy,
            align_target(noisy, clean),
            None,
        )
    yield from _em_cases()
    clean = np.load(DATA / "synthetic" / "clean.npy").astype(np.float32)
    for i, (label, crop) in enumerate(_crops(clean, CROP)):
        rng = np.random.default_rng(100 + i)  # 30 photons peak, read noise 2 photons
        noisy = ((rng.poisson(crop * 30.0) + rng.normal(0, 2.0, crop.shape)) / 30.0).astype(
            np.float32
        )
        yield Case(f"IHC {label} (synthetic)", f"ihc {label}", "other modality", noisy, crop, None)
    clean = _read("nuclei/dsb2018_img2d.tif").astype(np.float32)
    for i, (label, crop) in enumerate(_crops(clean, CROP)):
        rng = np.random.default_rng(300 + i)
        noisy = _as_dtype(
            crop + np.sqrt(np.maximum(crop, 0) * 20 + 400) * rng.standard_normal(crop.shape),
            np.dtype(np.uint16),
        )
        yield Case(
            f"DSB nuclei {label} + noise", f"dsb {label}", "other modality", noisy, crop, None
        )


EM_CROPS = 4
"""CROP × CROP crops of each held-out EM slice (ISBI train_5, EPFL testing0002: SPLITS.md)."""


def _em_cases() -> Iterator[Case]:
    """The held-out EM slices of SPLITS.md (never trained or calibrated on), EM_CROPS crops of
    each with Gaussian noise of 25 grey values at fixed seeds, 8-bit."""
    from zoo_bench.training.data import EM_HELDOUT

    for k, rel in enumerate(EM_HELDOUT):
        name = "EPFL FIB-SEM testing0002" if "epfl" in rel else "ssTEM ISBI train_5"
        clean = _read(rel, 0 if "epfl" in rel else None).astype(np.float32)
        for i, (label, crop) in enumerate(_crops(clean, CROP)[:EM_CROPS]):
            rng = np.random.default_rng(200 + 10 * k + i)
            noisy = _as_dtype(crop + rng.normal(0, 25, crop.shape), np.dtype(np.uint8))
            source = f"{name.split(' ')[0].lower()} {label}"
            yield Case(f"{name} {label} + noise", source, "other modality", noisy, crop, None)


def build_cases(models: Sequence[str] = MODELS, field: int = FIELD) -> list[Case]:
    """Every case for ``models``, the zoo-trained domains cut into ``field``² fields, split by
    source field: alternate fields go to the held-out half."""
    cases = []
    for b, base in enumerate(domain_bases(models, field)):
        for v, (name, make) in enumerate(VARIANTS.items()):
            rng = np.random.default_rng(1000 * b + v)
            noisy, target = make(base, rng)
            image = base.source.split(" ")[0]  # the fields of one acquisition share a group
            cases.append(
                Case(
                    f"{base.source}: {name}",
                    base.source,
                    name,
                    noisy,
                    target,
                    base.domain,
                    group=f"{image}: {name}",
                )
            )
    cases += list(other_cases(models))
    sources = list(dict.fromkeys(c.source for c in cases))
    for c in cases:
        c.split = "heldout" if sources.index(c.source) % 2 else "calibration"
    return cases


def quick_cases(cases: list[Case]) -> list[int]:
    """The small version: the first held-out field of each zoo-trained domain as acquired,
    and one image of another modality."""
    firsts: dict[str | None, int] = {}
    for i, c in enumerate(cases):
        if c.split == "heldout" and c.variant in ("as acquired", "other modality"):
            firsts.setdefault(c.domain, i)
    return list(firsts.values())
