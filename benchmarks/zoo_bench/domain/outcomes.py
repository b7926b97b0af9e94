"""The domain benchmark's outcomes: each model on each image, its PSNR against the clean
target next to the in-domain model and the best classic filter, and whether it is degraded."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from zoo.domain import DEFAULT_THRESHOLDS, check_image, plane_statistics, summarise
from zoo.imageio import Image
from zoo_bench.domain.cases import CALIBRATED_MODELS, REPO, Case

MARGIN_DB = 1.0
"""A pair is degraded when its PSNR is more than this below the in-domain model's or the best
classic baseline's (docs/domain-benchmark.md, "What is measured")."""


def psnr(image: np.ndarray, target: np.ndarray) -> float:
    t = target.astype(np.float64)
    mse = float(np.mean((image.astype(np.float64) - t) ** 2))
    peak = float(t.max() - t.min())
    return float("inf") if mse == 0 else 10 * math.log10(peak**2 / mse)


GAUSSIAN_SIGMAS = tuple(float(s) for s in np.round(np.geomspace(0.35, 8.0, 19), 3))
MEDIAN_SIZES = (3, 5, 7)


CLASSIC: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    **{
        f"gaussian σ={s:g}": functools.partial(ndimage.gaussian_filter, sigma=s, mode="reflect")
        for s in GAUSSIAN_SIGMAS
    },
    **{
        f"median {k}×{k}": functools.partial(ndimage.median_filter, size=k, mode="reflect")
        for k in MEDIAN_SIZES
    },
}
"""The classic baselines: Gaussian and median filters over a range of parameters."""


def best_classic(cases: Sequence[Case]) -> list[tuple[float, str]]:
    """(PSNR, filter) of the best classic filter on each case, its parameter chosen with the
    targets for each group of cases (one acquisition and variant, as the validation of the
    zoo's models chooses it for a whole held-out image) by the lowest total squared error."""
    out: dict[int, tuple[float, str]] = {}
    groups: dict[str, list[int]] = {}
    for i, case in enumerate(cases):
        groups.setdefault(case.group, []).append(i)
    for members in groups.values():
        best: tuple[float, str, list[float]] = (math.inf, "", [])
        for name, apply in CLASSIC.items():
            outs = [apply(cases[i].noisy.astype(np.float64)) for i in members]
            sse = sum(
                float(np.sum((o - cases[i].target) ** 2))
                for o, i in zip(outs, members, strict=True)
            )
            if sse < best[0]:
                scores = [psnr(o, cases[i].target) for o, i in zip(outs, members, strict=True)]
                best = (sse, name, scores)
        for i, score in zip(members, best[2], strict=True):
            out[i] = (score, best[1])
    return [out[i] for i in range(len(cases))]


@dataclass
class Model:
    id: str
    package: Any
    predictor: Any
    tiling: Any

    def denoise(self, plane: np.ndarray) -> np.ndarray:
        from zoo.runner import denoise

        out, _axes = denoise(self.predictor, Image(plane, "yx"), tiling=self.tiling)
        return out[0]


def load_models(ids: Sequence[str]) -> list[Model]:
    from zoo.inference import trusted_predictor
    from zoo.registry import Registry
    from zoo.tiling import default_tiling

    reg = Registry(REPO)
    models = []
    for model_id in ids:
        # a model yanked since the benchmark was calibrated on it: its newest version, pinned
        version = reg.index().models[model_id].latest()
        package = reg.load(f"{model_id}@{version}")
        predictor, _tests = trusted_predictor(package, weight_format="onnx")
        models.append(Model(model_id, package, predictor, default_tiling(package)))
    return models


@dataclass
class Pair:
    """One model on one image: the outcome, and what is needed to re-run its check."""

    model: str
    case: str
    variant: str
    domain: str | None
    split: str
    psnr: float
    in_domain_psnr: float | None
    classic_psnr: float
    classic: str
    degraded: bool
    """The outcome of the pair's acquisition and variant (its group, within its split): the
    model's mean deficit over the group's fields (see :func:`pool_outcomes`)."""
    field_degraded: bool
    """The outcome of this field alone."""
    group: str
    consistency: float | None
    package: Any = field(repr=False)
    image: Image = field(repr=False)
    stats: dict[str, Any] = field(repr=False)
    trial_wins: bool | None = None
    """Whether the no-reference trial (:mod:`zoo.trial`) estimated the model to beat the best
    Gaussian filter on the image; None when it was not run or cannot run on it."""

    @property
    def deficit(self) -> float:
        """dB below the best of the in-domain model and the classic baseline."""
        return max(self.in_domain_psnr or -math.inf, self.classic_psnr) - self.psnr

    def check(self, thresholds: dict, drop: frozenset[str] = frozenset()) -> tuple[str, float]:
        """(verdict, score) of this pair's check under ``thresholds`` (the defaults for a model
        whose method is not calibrated), without the checks in ``drop``."""
        if self.model not in CALIBRATED_MODELS:
            thresholds = DEFAULT_THRESHOLDS
        report = check_image(
            self.package, self.image, statistics=self.stats, thresholds=thresholds, learned=False
        )
        return summarise([c for c in report.checks if c.name not in drop])

    def row(self) -> dict[str, Any]:
        keep = (
            "model",
            "case",
            "variant",
            "domain",
            "split",
            "psnr",
            "in_domain_psnr",
            "classic_psnr",
            "classic",
            "degraded",
            "field_degraded",
            "group",
            "consistency",
        )
        return {k: getattr(self, k) for k in keep}


def measure(
    models: list[Model],
    cases: list[Case],
    classic: list[tuple[float, str]],
    *,
    log: Callable[[str], None],
    trial: bool = False,
) -> list[Pair]:
    """Run every model on every case: outcomes, consistency scores, and each image's
    statistics for the checks; with ``trial``, the no-reference trial of each pair too.
    ``classic`` is :func:`best_classic` of the cases."""
    from zoo.consistency import consistency
    from zoo.errors import ImageError
    from zoo.trial import run_trial

    ids = {m.id for m in models}
    pairs = []
    for n, case in enumerate(cases):
        t0 = time.perf_counter()
        image = Image(case.noisy, "yx")
        stats = plane_statistics(image)
        baseline, baseline_name = classic[n]
        plane = case.noisy.astype(np.float32)
        scores = {m.id: psnr(m.denoise(plane), case.target) for m in models}
        in_domain = scores[case.domain] if case.domain in ids else None
        for m in models:
            value = scores[m.id]
            best_reference = max(baseline, in_domain if in_domain is not None else -math.inf)
            degraded = value < best_reference - MARGIN_DB
            try:
                cons: float | None = consistency(m.denoise, plane).score
            except ImageError:
                cons = None
            wins: bool | None = None
            if trial:
                try:
                    wins = run_trial(m.predictor, plane).model_wins
                except ImageError:
                    wins = None
            pairs.append(
                Pair(
                    m.id,
                    case.name,
                    case.variant,
                    case.domain,
                    case.split,
                    value,
                    in_domain,
                    baseline,
                    baseline_name,
                    degraded=degraded,  # the group's label replaces it: pool_outcomes
                    field_degraded=degraded,
                    group=case.group,
                    consistency=cons,
                    package=m.package,
                    image=image,
                    stats=stats,
                    trial_wins=wins,
                )
            )
        log(f"  [{n + 1}/{len(cases)}] {case.name} ({time.perf_counter() - t0:.1f} s)")
    pool_outcomes(pairs)
    return pairs


def pool_outcomes(pairs: list[Pair]) -> None:
    """Label each pair by its group: degraded when, averaged over the fields of one model,
    acquisition and variant in one split, the model is more than MARGIN_DB below the
    in-domain model or the classic baseline. The fields' own labels stay in
    ``field_degraded`` (docs/domain-benchmark.md says why the group's label is used)."""
    groups: dict[tuple[str, str, str], list[Pair]] = {}
    for p in pairs:
        groups.setdefault((p.model, p.group, p.split), []).append(p)
    for members in groups.values():
        below_classic = float(np.mean([p.classic_psnr - p.psnr for p in members]))
        in_domain = [p.in_domain_psnr - p.psnr for p in members if p.in_domain_psnr is not None]
        below_in_domain = float(np.mean(in_domain)) if in_domain else -math.inf
        degraded = max(below_classic, below_in_domain) > MARGIN_DB
        for p in members:
            p.degraded = degraded
