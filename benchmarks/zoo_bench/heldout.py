"""Every published model on the held-out images of ../shared/data/SPLITS.md, scored as it
says (:mod:`zoo_bench.splits`): the numbers of docs/models.md's held-out tables.

A model is run as ``zoo run`` runs it (its package, ONNX, the runner's tiles and
processing) on every held-out set of its family: fluorescence models on every fluorescence
set (their own source's held-out part and the sources they never saw), EM models on the EM
slices. The baselines do not depend on the model and are computed once per image
(``BASELINES_CACHE``; BM3D is the slow one).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.package import Package, load_package
from zoo_bench.splits import bm3d_gat, gaussian_blind, gaussian_oracle, score
from zoo_bench.training import data
from zoo_bench.training.data import Pair

REPO = Path(__file__).resolve().parents[2]
BASELINES_CACHE = REPO / "build" / "heldout-baselines.json"
RUNS = REPO / "docs" / "models-heldout.json"
CROP = 1024
"""Held-out images larger than this are scored on their central CROP × CROP."""


@dataclass
class HeldOutSet:
    """One row group of SPLITS.md's held-out table."""

    name: str
    family: str
    """fluorescence or em: the models scored on it."""
    kind: str
    """held-out fields / rows of a training source, or a held-out source."""
    pairs: list[Pair]


def _centre(a: np.ndarray) -> np.ndarray:
    y0, x0 = (max(0, (s - CROP) // 2) for s in a.shape)
    return a[y0 : y0 + CROP, x0 : x0 + CROP]


def _pair(name: str, noisy: np.ndarray, clean: np.ndarray) -> Pair:
    return Pair(name, _centre(noisy), _centre(data.align_target(noisy, clean)))


def _w2s() -> HeldOutSet:
    _train, _targets, w2s = data.load_w2s8()
    return HeldOutSet("W2S fields 036-045", "fluorescence", "held-out fields", w2s)


SYNTHETIC_LEVELS = (60.0, 250.0, 1000.0)
"""Photons at the 99.9th percentile of the held-out W2S targets for the synthetic-noise
sets: from 60, the lightest level the generalist's first versions trained on (W2S's own
1-frame images are noisier still), to 1000, a well-exposed frame (as clean as the nucleus
tracking frames are)."""


def _w2s_synthetic(peak: float) -> HeldOutSet:
    """One channel of each held-out W2S field (036-045: its clean 400-frame average) with
    Poisson-Gaussian noise of ``peak`` photons at the brightest, synthesised at fixed seeds
    (data.synthesise, white): a light-noise counterpart of W2S's own noisy frames."""
    _train, _targets, w2s = data.load_w2s8()
    pairs = []
    for k, p in enumerate(w2s[::3]):
        assert p.target is not None
        ((noisy, target),) = data.synthesise(p.target, 900 + k, 0, (peak,))
        pairs.append(Pair(f"{p.name} {peak:g} photons", noisy, target))
    name = f"W2S fields 036-045, {peak:g} photons"
    return HeldOutSet(name, "fluorescence", "held-out fields, synthetic noise", pairs)


def _gigadb_rows(name: str) -> HeldOutSet:
    load = data.load_actin_pairs if name == "actin_60x" else data.load_mito_pairs
    pairs = [Pair(f"GigaDB {name} {p.name}", _centre(p.noisy), _centre(p.target))
             for p in load()[2]]  # fmt: skip
    return HeldOutSet(f"GigaDB {name} rows 1536-2047", "fluorescence", "held-out rows", pairs)


def _nuclei() -> HeldOutSet:
    pairs = [Pair(f"nuclei {p.name}", p.noisy, p.target) for p in data.load_nuclei()[2]]
    return HeldOutSet("nucleus tracking rows 768-1023", "fluorescence", "held-out rows", pairs)


def _membrane() -> HeldOutSet:
    low = data._png("pairs/gigadb_membrane_lowsnr.png")
    high = data._png("pairs/gigadb_membrane_highsnr.png")
    pairs = [_pair("GigaDB membrane", low, high)]
    return HeldOutSet("GigaDB membrane", "fluorescence", "held-out source", pairs)


def _fmd() -> HeldOutSet:
    noisy, clean = data._png("fmd/fmd_R_1_noisy_raw.png"), data._png("fmd/fmd_R_1_clean_avg50.png")
    return HeldOutSet(
        "FMD R_1", "fluorescence", "held-out source", [_pair("FMD R_1", noisy, clean)]
    )


def _em() -> HeldOutSet:
    em = [Pair(p.name, _centre(p.noisy), _centre(p.target)) for p in data.em_heldout()]
    return HeldOutSet("EM slices + noise", "em", "held-out slices", em)


SETS = {
    "W2S fields 036-045": _w2s,
    "GigaDB actin_60x rows 1536-2047": lambda: _gigadb_rows("actin_60x"),
    "GigaDB mito_20x rows 1536-2047": lambda: _gigadb_rows("mito_20x"),
    "nucleus tracking rows 768-1023": _nuclei,
    "GigaDB membrane": _membrane,
    "FMD R_1": _fmd,
    "EM slices + noise": _em,
}
"""SPLITS.md's held-out sets by name, each loaded when asked for."""
NOISE_LEVEL_SETS = {
    f"W2S fields 036-045, {peak:g} photons": functools.partial(_w2s_synthetic, peak)
    for peak in SYNTHETIC_LEVELS
}
"""Held-out W2S fields at other noise levels (docs/models.md's held-out tables score the
models on them too; the other benchmarks keep to SETS)."""


def heldout_sets(names: Iterable[str] | None = None) -> Iterator[HeldOutSet]:
    """SPLITS.md's held-out images, set by set (``names``: only these, from SETS or
    NOISE_LEVEL_SETS)."""
    for name in SETS if names is None else names:
        yield (SETS | NOISE_LEVEL_SETS)[name]()


def _key(pair: Pair) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(pair.noisy).tobytes()).hexdigest()[:16]
    return f"{pair.name} {digest}"


def baselines(pair: Pair, cache: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The baselines' scores on ``pair`` (from ``cache`` when there)."""
    key = _key(pair)
    if key in cache:
        return cache[key]
    assert pair.target is not None
    noisy, target = pair.noisy.astype(np.float32), pair.target
    oracle, sigma = gaussian_oracle(noisy, target)
    blind, blind_sigma = gaussian_blind(noisy)
    rows = {
        "noisy input": score(noisy, target),
        f"Gaussian, best sigma ({sigma:g} px)": score(oracle, target),
        f"Gaussian, sigma without target ({blind_sigma:g} px)": score(blind, target),
        "BM3D (generalised Anscombe)": score(bm3d_gat(noisy), target),
        **{name: score(result, target) for name, result in pair.baselines.items()},
    }
    cache[key] = {name: {"psnr": s.psnr, "ssim": s.ssim} for name, s in rows.items()}
    return cache[key]


def model_scores(package: Package, pairs: list[Pair]) -> list[dict[str, float]]:
    """The package run as ``zoo run`` runs it on each pair, scored."""
    from zoo.inference import Predictor
    from zoo.tiling import predict_tiled

    predictor = Predictor(package, weight_format="onnx")
    out = []
    for pair in pairs:
        assert pair.target is not None
        result = predict_tiled(predictor, pair.noisy.astype(np.float32)[np.newaxis])[0]
        s = score(result, pair.target)
        out.append({"psnr": s.psnr, "ssim": s.ssim})
    return out


EM = ("SEM", "TEM", "FIB-SEM", "cryo-EM")
FLUORESCENCE = ("widefield", "confocal", "spinning-disk", "light-sheet", "two-photon", "TIRF",
                "SIM", "STED")  # fmt: skip


def family_of(package: Package) -> str | None:
    """em, fluorescence, or None (a modality SPLITS.md holds no images of, e.g. brightfield)."""
    card = package.card
    modality = str(card.domain.modality) if card is not None else ""
    return "em" if modality in EM else "fluorescence" if modality in FLUORESCENCE else None


def score_models(models: dict[str, Path]) -> dict[str, Any]:
    """Every model of ``models`` (id@version → package) on its family's held-out sets."""
    cache = json.loads(BASELINES_CACHE.read_text()) if BASELINES_CACHE.exists() else {}
    sets = list(heldout_sets([*SETS, *NOISE_LEVEL_SETS]))
    report: dict[str, Any] = {"sets": {}, "models": {}}
    for hs in sets:
        report["sets"][hs.name] = {
            "family": hs.family,
            "kind": hs.kind,
            "images": {p.name: baselines(p, cache) for p in hs.pairs},
        }
        BASELINES_CACHE.parent.mkdir(parents=True, exist_ok=True)
        BASELINES_CACHE.write_text(json.dumps(cache, indent=1))
    for ref, path in models.items():
        package = load_package(path)
        family = family_of(package)
        start = time.perf_counter()
        report["models"][ref] = {
            hs.name: dict(
                zip([p.name for p in hs.pairs], model_scores(package, hs.pairs), strict=True)
            )
            for hs in sets
            if hs.family == family
        }
        print(f"{ref}: {time.perf_counter() - start:.0f} s", flush=True)
    return report


def published(index: Path = REPO / "index.json") -> dict[str, Path]:
    """The newest version of every model of the embedded registry that is not yanked."""
    from packaging.version import Version

    models = json.loads(index.read_text())["models"]
    out = {}
    for model_id, entry in sorted(models.items()):
        live = {v: e for v, e in entry["versions"].items() if not e.get("yanked")}
        if live:
            version = max(live, key=Version)
            out[f"{model_id}@{version}"] = REPO / live[version]["location"]
    return out


def main(only: list[str] | None = None) -> Path:
    """Score the published models (or ``only`` these ids) into docs/models-heldout.json."""
    models = {k: v for k, v in published().items() if not only or k.split("@")[0] in only}
    report = score_models(models)
    if RUNS.exists() and only:
        old = json.loads(RUNS.read_text())
        old["sets"].update(report["sets"])
        old["models"] = {k: v for k, v in old["models"].items() if k.split("@")[0] not in only}
        old["models"].update(report["models"])
        report = old
    RUNS.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return RUNS
