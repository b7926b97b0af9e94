"""The domain benchmark's report: docs/domain-benchmark.md and its SVG plots.
Used by scripts/bench_domain.py."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _domain_cases import CALIBRATED_MODELS, DOMAINS, MODELS
from _domain_numbers import MAX_FALSE_WARNINGS, MULTIPLIERS, Numbers
from _domain_outcomes import MARGIN_DB, Pair

from zoo.domain import (
    DEFAULT_THRESHOLDS,
)

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "domain-benchmark.md"
PLOTS = REPO / "docs" / "domain-benchmark"


def _roc(scores: Sequence[float], labels: Sequence[bool]) -> list[tuple[float, float]]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    points = [(0.0, 0.0)]
    for cut in np.unique(s)[::-1]:
        warn = s >= cut
        points.append((float(warn[~y].mean()), float(warn[y].mean())))
    return [*points, (1.0, 1.0)]


class Plot:
    """A minimal SVG plot: a frame with axis labels, data coordinates mapped into it."""

    def __init__(
        self,
        size: tuple[int, int],
        x: tuple[float, float],
        y: tuple[float, float],
        labels: tuple[str, str],
    ) -> None:
        self.w, self.h, self.pad = size[0], size[1], 44
        self.x, self.y = x, y
        w, h, pad = self.w, self.h, self.pad
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            'font-family="sans-serif" font-size="11">',
            f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" '
            'fill="none" stroke="#888"/>',
            f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">{labels[0]}</text>',
            f'<text x="12" y="{h / 2}" transform="rotate(-90 12 {h / 2})" '
            f'text-anchor="middle">{labels[1]}</text>',
        ]

    def at(self, x: float, y: float) -> tuple[float, float]:
        fx = (x - self.x[0]) / (self.x[1] - self.x[0])
        fy = (y - self.y[0]) / (self.y[1] - self.y[0])
        return (
            self.pad + fx * (self.w - 2 * self.pad),
            self.h - self.pad - fy * (self.h - 2 * self.pad),
        )

    def line(self, points: Sequence[tuple[float, float]], colour: str, extra: str = "") -> None:
        xy = " ".join(f"{a:.1f},{b:.1f}" for a, b in (self.at(*p) for p in points))
        self.parts.append(f'<polyline fill="none" stroke="{colour}" points="{xy}" {extra}/>')

    def dot(self, x: float, y: float, colour: str) -> None:
        cx, cy = self.at(x, y)
        self.parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{colour}" fill-opacity="0.6"/>'
        )

    def legend(self, i: int, text: str, colour: str) -> None:
        x, y = self.w - self.pad - 6, self.pad + 14 + 14 * i
        self.parts.append(f'<text x="{x}" y="{y}" text-anchor="end" fill="{colour}">{text}</text>')

    def svg(self) -> str:
        return "\n".join([*self.parts, "</svg>"]) + "\n"


COLOURS = ("#d62728", "#1f77b4", "#2ca02c")


def svg_roc(curves: dict[str, list[tuple[float, float]]]) -> str:
    """ROC curves, with the diagonal and the 5 % false-warning line."""
    plot = Plot(
        (340, 340),
        (0, 1),
        (0, 1),
        ("false warnings (fine pairs warned)", "recall (degraded pairs warned)"),
    )
    plot.line([(0, 0), (1, 1)], "#ccc", 'stroke-dasharray="4"')
    plot.line([(MAX_FALSE_WARNINGS, 0), (MAX_FALSE_WARNINGS, 1)], "#bbb")
    for i, ((name, points), colour) in enumerate(zip(curves.items(), COLOURS, strict=False)):
        plot.line(points, colour, 'stroke-width="2"')
        plot.legend(i + 1, name, colour)
    return plot.svg()


def svg_scatter(pairs: list[Pair], judged: list[tuple[str, float]]) -> str:
    """Pre-inference score (x, log) against the PSNR deficit (y), degraded pairs in red."""
    xs = [math.log10(1 + s) for _v, s in judged]
    plot = Plot(
        (480, 340),
        (0, max(xs) or 1.0),
        (-6, 30),
        ("log10(1 + score) before inference", "dB below the best of in-domain model and baseline"),
    )
    plot.line([(0, 0), (max(xs) or 1.0, 0)], "#ccc")
    for x, p in zip(xs, pairs, strict=True):
        plot.dot(x, max(-6.0, min(30.0, p.deficit)), COLOURS[0] if p.degraded else COLOURS[1])
    plot.legend(0, "degraded", COLOURS[0])
    plot.legend(1, "fine", COLOURS[1])
    return plot.svg()


HEADER = (
    "| AUROC | recall at ≤ 5 % false warnings (score) | verdict recall | "
    "verdict false warnings | pairs | degraded |\n|---|---|---|---|---|---|---|"
)


def _fmt(n: Numbers) -> str:
    return (
        f"| {n.auroc:.3f} | {n.recall_at_5pct:.3f} | {n.verdict_recall:.3f} | "
        f"{n.verdict_false_warnings:.3f} | {n.pairs} | {n.degraded} |"
    )


def _threshold_cell(t: tuple[str, float, float] | None) -> str:
    return "removed" if t is None else f"{t[0]} {t[1]:g} / {t[2]:g}"


def _domain_list() -> str:
    names = {
        "care-nuclei-widefield": "nucleus tracking low/high SNR",
        "care-actin-widefield": "GigaDB BPAE actin low/high SNR",
        "care-flim-two-photon": "two-photon FLIM mouse kidney, single frame / 5-frame average",
        "care-mito-widefield": "GigaDB BPAE mitochondria low/high SNR",
    }
    return "; ".join(f"{names[m]}, `{m}`" for _l, m, _f, _s in DOMAINS if m in MODELS)


def _other_list() -> str:
    parts = ["W2S and FMD widefield"]
    gigadb = ["membrane"] + [
        name for name, model in (("actin", "care-actin-widefield"), ("mito", "care-mito-widefield"))
        if model not in MODELS
    ]  # fmt: skip
    parts.append(f"GigaDB BPAE {', '.join(gigadb)} widefield")
    if "care-flim-two-photon" not in MODELS:
        parts.insert(0, "two-photon FLIM single frame/average")
    return ", ".join(parts)


def write_doc(result: dict[str, Any], pairs: list[Pair], thresholds: dict) -> None:
    held = [p for p in pairs if p.split == "heldout"]
    judged = [p.check(thresholds) for p in held]
    default_judged = [p.check(DEFAULT_THRESHOLDS) for p in held]
    PLOTS.mkdir(parents=True, exist_ok=True)
    labels = [p.degraded for p in held]
    (PLOTS / "roc.svg").write_text(
        svg_roc(
            {
                "calibrated": _roc([s for _v, s in judged], labels),
                "first-principles defaults": _roc([s for _v, s in default_judged], labels),
            }
        )
    )
    (PLOTS / "scores.svg").write_text(svg_scatter(held, judged))
    n_cal, n_held, n_def = (result[k] for k in ("calibration", "heldout", "heldout_default"))
    lines = [
        "# Domain-check benchmark",
        "",
        f"Generated by `python scripts/bench_domain.py --write` (benchmark version "
        f"{result['version']}, {result['date']}, {result['seconds']:.0f} s on "
        f"{result['cpus']} CPU cores); do not edit by hand. The calibrated thresholds it "
        "found are shipped in `zoo/calibration.json` and used by `zoo check`.",
        "",
        "## What is measured",
        "",
        "For every pair of one of the zoo's own models and an image with a clean target, the "
        "benchmark measures the **outcome** — the model's PSNR against the target, next to "
        "the in-domain model (the zoo model trained on the image's domain, where there is "
        "one) and the best classic baseline (a Gaussian filter or a median filter, each with "
        "its best parameter chosen with the target) — and, independently, what `zoo check` "
        "says **before inference**. A pair is *degraded* when the model is more than "
        f"{MARGIN_DB:g} dB below the in-domain model or the best classic baseline, whichever "
        "is higher, on average over the fields of its acquisition and variant in its split "
        "(the classic filters' parameter is chosen with the targets for each acquisition "
        "and variant, as the zoo's validation chooses it). The label is the group's because "
        "one 128² field's PSNR is too noisy a measure of the outcome: an oracle filter and a "
        "marginal model trade about ±1 dB from one field to the next even in domain, so "
        'that the in-domain model is "degraded" on some of its own held-out fields and the '
        "fields of one variant, whose statistics are alike, fall on both sides of the "
        "margin; what a user is to be warned about is the model on that kind of data. The "
        "numbers with each field's own label are in the results too. A *warning* is a "
        "verdict of `caution` or `mismatch`.",
        "",
        f"Images: the held-out rows of the zoo-trained domains with a clean target "
        f"({_domain_list()}), cut into 128² fields, "
        "each as acquired and changed as a user's data may differ: the domain's own "
        "Poisson-Gaussian noise model (fitted to noisy − target) at "
        "0.5×, 2×, 4× its level, signal-independent Gaussian noise, noise correlated along x, "
        "column stripes as strong as the pixel noise (correlated along y), 5 % of the pixels "
        "saturated, "
        "pixel size ×2, ×0.5, ×0.25 (binning or zoom of the target, then the domain's noise), "
        "8-bit conversion, 4× gain; plus real pairs of modalities no zoo model was trained "
        f"on ({_other_list()}; "
        "ssTEM, the DSB 2018 nuclei and the IHC image with synthetic noise). The zoo model "
        "without a clean target in its domain "
        "(`n2v2-fibsem-em`) takes part as a model on every image. "
        "Images are split by their source field: alternate fields form the calibration and "
        "the held-out halves, so no field is in both. Images carry no metadata (no modality, "
        "no pixel size): the check works from the pixels and the data type alone.",
        "",
        "## Results",
        "",
        "| split " + HEADER,
        "| held-out, calibrated " + _fmt(n_held),
        "| held-out, first-principles defaults " + _fmt(n_def),
        "| calibration, calibrated " + _fmt(n_cal),
        "| held-out, calibrated, each field's own label " + _fmt(result["heldout_field"]),
        "",
        "AUROC: probability that a degraded pair scores higher than a fine one. Recall at "
        "≤ 5 % false warnings: the best recall of a cut on the score that warns on at most "
        "5 % of the fine pairs. Verdict recall / false warnings: the shipped verdict's own "
        "operating point (warning = any check warns or fails).",
        "",
        "![ROC of the pre-inference score](domain-benchmark/roc.svg)",
        "![score against outcome](domain-benchmark/scores.svg)",
        "",
        "Confusion of verdicts and outcomes (held-out, calibrated):",
        "",
        "| verdict | degraded | fine |",
        "|---|---|---|",
    ]
    for verdict, row in n_held.confusion.items():
        lines.append(f"| {verdict} | {row['degraded']} | {row['fine']} |")
    lines += [
        "",
        "By variant (held-out, calibrated):",
        "",
        "| variant | pairs | degraded | warned | warned and degraded |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(p.variant for p in held):
        sel = [(p, j) for p, j in zip(held, judged, strict=True) if p.variant == name]
        deg = sum(p.degraded for p, _j in sel)
        warned = sum(j[0] != "match" for _p, j in sel)
        both = sum(p.degraded and j[0] != "match" for p, j in sel)
        lines.append(f"| {name} | {len(sel)} | {deg} | {warned} | {both} |")
    lines += [
        "",
        "## Calibrated thresholds",
        "",
        "Calibrated for the benchmark's in-domain models ("
        + ", ".join(f"`{m}`" for m in CALIBRATED_MODELS)
        + "); every other model keeps the first-principles defaults in zoo and in this "
        "benchmark, since it has no evidence about them (calibrated together with the zoo's "
        "other CARE models on their own held-out fields, thresholds left 14 % false "
        "warnings: see the limits below). Coordinate "
        "ascent on the "
        "calibration half over each statistic's threshold "
        "multiplier (" + ", ".join("off" if m is None else f"{m:g}" for m in MULTIPLIERS) + "; "
        "ratio thresholds are raised to the power, absolute ones multiplied) and, for ratio "
        "checks, its side (`ratio`: both; `ratio_below`, `ratio_above`: one), maximising "
        "the verdicts' recall while their false warnings stay at or under 5 %; then every "
        "check whose removal changes nothing on the calibration half is removed, so that "
        "each check left earns its place.",
        "",
        "| statistic | default: kind warn / fail | calibrated: kind warn / fail |",
        "|---|---|---|",
    ]
    for name, default in DEFAULT_THRESHOLDS.items():
        lines.append(
            f"| `{name}` | {_threshold_cell(default)} | {_threshold_cell(thresholds.get(name))} |"
        )
    lines += [
        "",
        "## Ablation",
        "",
        "Held-out numbers with each check of the calibrated verdict (its statistics and the "
        "metadata checks) removed in turn, calibrated thresholds otherwise. A check earns "
        "its place when removing it lowers recall or AUROC, or raises false warnings.",
        "",
        "| removed " + HEADER,
        "| (none) " + _fmt(n_held),
    ]
    for name, n in result["ablation"].items():
        lines.append(f"| `{name}` " + _fmt(n))
    c = result["consistency"]
    lines += [
        "",
        "## The consistency map",
        "",
        "The consistency score (`zoo run --consistency`, computed *after* inference from two "
        "independent noisy sub-samplings) against the same outcomes, on the held-out pairs:",
        "",
        "| measure | value |",
        "|---|---|",
        f"| AUROC for degraded | {c['auroc_degraded']:.3f} |",
        f"| AUROC for far departures (> 3 dB below the best; {c['far_pairs']} pairs) | "
        f"{c['auroc_far']:.3f} |",
        f"| Spearman correlation with the deficit | {c['spearman_deficit']:.3f} |",
        f"| median score, fine / degraded pairs | {c['median_fine']:.3f} / "
        f"{c['median_degraded']:.3f} |",
        f"| pairs | {c['pairs']} |",
        "",
        "## Limits",
        "",
        f"- The in-domain models with a clean target ({_domain_list()}) are all CARE: the "
        "calibration is for CARE, and every other method keeps the first-principles "
        "thresholds, untested here. The zoo's N2V-family models that would have a clean "
        "target in their domain did not beat the Gaussian filter and were not published "
        "(docs/models.md); they are what the benchmark needs next.",
        "- `care-actin-widefield` and `care-mito-widefield` (GigaDB BPAE, one microscope) are "
        "not in the benchmark yet: a run with them and their held-out fields (4 models, 569 "
        "images) gave held-out AUROC 0.911, recall 0.47 at ≤ 5 % false warnings and 14 % "
        "false warnings of the verdict (benchmark v1: 0.807, 0.33 and 29 %), the three CARE "
        "models sharing one calibration; the statistics of 128² fields do not tell 60× actin "
        "from 20× mitochondria fields apart (with v1's thresholds the actin model's own full "
        "held-out rows were even called a mismatch; with these they match). They keep the "
        "first-principles defaults.",
        "- Magnification goes unseen by the statistics on this domain: every degraded pair "
        "the calibrated verdict misses is the CARE model on a nuclei field at pixel size "
        "×0.5 or ×0.25. At an SNR of about −15 dB the spectrum above the noise floor is "
        "nearly empty, so `structure_scale` reads about 3-6 px on every field at every "
        "magnification (and on 128² fields it cannot see structures larger than about a "
        "third of a 64² quadrant); the calibration removed it. With pixel-size metadata the "
        "`pixel_size` check sees the change (not used here: images carry no metadata).",
        "- The CARE model was trained on extremely noisy frames: it stays better than the "
        "filters on 2-4× more noise but over-smooths less noisy images, so a symmetric "
        "noise-level threshold cannot be right for it. The calibration chose one-sided "
        "checks: on such noise-dominated images the spread of the grey values "
        "(`intensity_iqr`) is mostly noise, and a smaller spread than in training is what "
        "flags the less noisy variant; brighter images (`intensity_median` above) flag the "
        "gain change. `dtype` changes no number here (every image of another data type is "
        "also caught by the intensity checks); it is a metadata check with no threshold, "
        "kept for the models the benchmark cannot calibrate.",
        "",
        f"Targets (held-out AUROC ≥ 0.90 and recall ≥ 0.90 at ≤ 5 % false warnings): "
        f"{'PASS' if n_held.auroc >= 0.9 and n_held.recall_at_5pct >= 0.9 else 'FAIL'} "
        f"(AUROC {n_held.auroc:.3f}, recall {n_held.recall_at_5pct:.3f}).",
        "",
        "## Reproduce",
        "",
        '`pip install torch==2.13.0 -e ".[export,test]"`, then '
        "`python scripts/bench_domain.py --write` (reads ../shared/data and the embedded "
        "registry; deterministic). `--quick` runs the small version the test suite runs "
        "(tests/test_domain_benchmark.py).",
    ]
    DOC.write_text("\n".join(lines) + "\n")
