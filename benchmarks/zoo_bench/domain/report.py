"""The domain benchmark's report: docs/domain-benchmark.md, rendered from the Markdown
template report.md.j2 with the values of one run, and its SVG plots."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.domain import DEFAULT_THRESHOLDS
from zoo_bench.domain.cases import CALIBRATED_MODELS, DOMAINS, MODELS, REPO
from zoo_bench.domain.numbers import MAX_FALSE_WARNINGS, MULTIPLIERS
from zoo_bench.domain.outcomes import MARGIN_DB, Pair
from zoo_bench.templates import render_markdown

DOC = REPO / "docs" / "domain-benchmark.md"
PLOTS = REPO / "docs" / "domain-benchmark"
VALUES = PLOTS / "values.json"
"""The values docs/domain-benchmark.md was rendered from (:func:`report_values`)."""
TEMPLATE = Path(__file__).with_name("report.md.j2")


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


def _domain_list() -> str:
    names = {
        "care-nuclei-widefield": "nucleus tracking low/high SNR",
        "care-actin-widefield": "GigaDB BPAE actin low/high SNR",
        "care-flim-two-photon": "two-photon FLIM mouse kidney, single frame / 5-frame average",
        "care-mito-widefield": "GigaDB BPAE mitochondria low/high SNR",
        "care-widefield-w2s": "W2S held-out fields 036-045, 1 frame / 400-frame average",
    }
    return "; ".join(f"{names[m]}, `{m}`" for _l, m, _f, _s in DOMAINS if m in MODELS)


def _other_list() -> str:
    parts = ["FMD widefield" if "care-widefield-w2s" in MODELS else "W2S and FMD widefield"]
    gigadb = ["membrane"] + [
        name for name, model in (("actin", "care-actin-widefield"), ("mito", "care-mito-widefield"))
        if model not in MODELS
    ]  # fmt: skip
    parts.append(f"GigaDB BPAE {', '.join(gigadb)} widefield")
    parts.append("the held-out EM slices of SPLITS.md (ISBI ssTEM, EPFL FIB-SEM) with noise")
    return ", ".join(parts)


def _variants(held: list[Pair], judged: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """Per variant of the held-out pairs: how many pairs, degraded, warned, both."""
    rows = []
    for name in dict.fromkeys(p.variant for p in held):
        sel = [(p, j) for p, j in zip(held, judged, strict=True) if p.variant == name]
        rows.append(
            {
                "name": name,
                "pairs": len(sel),
                "degraded": sum(p.degraded for p, _j in sel),
                "warned": sum(j[0] != "match" for _p, j in sel),
                "warned_degraded": sum(p.degraded and j[0] != "match" for p, j in sel),
            }
        )
    return rows


def report_values(result: dict[str, Any], pairs: list[Pair], thresholds: dict) -> dict[str, Any]:
    """Everything docs/domain-benchmark.md shows of one run (``result``, ``pairs`` and the
    ``thresholds`` judged with, as :func:`zoo_bench.domain.benchmark.run` returns them), as
    plain JSON values."""
    held = [p for p in pairs if p.split == "heldout"]
    n_held = result["heldout"]
    return {
        "version": result["version"],
        "date": result["date"],
        "seconds": result["seconds"],
        "cpus": result["cpus"],
        "margin_db": MARGIN_DB,
        "domain_list": _domain_list(),
        "other_list": _other_list(),
        "results": {
            k: dataclasses.asdict(result[k])
            for k in ("heldout", "heldout_default", "calibration", "heldout_field")
        },
        "variants": _variants(held, [p.check(thresholds) for p in held]),
        "calibrated_models": list(CALIBRATED_MODELS),
        "multipliers": list(MULTIPLIERS),
        "thresholds": [
            {"name": name, "default": default, "calibrated": thresholds.get(name)}
            for name, default in DEFAULT_THRESHOLDS.items()
        ],
        "ablation": {name: dataclasses.asdict(n) for name, n in result["ablation"].items()},
        "consistency": result["consistency"],
        "targets_met": n_held.auroc >= 0.9 and n_held.recall_at_5pct >= 0.9,
    }


def render(values: dict[str, Any]) -> str:
    """The text of docs/domain-benchmark.md: TEMPLATE with ``values`` (:func:`report_values`)."""
    return render_markdown(TEMPLATE, values)


def write_plots(held: list[Pair], thresholds: dict) -> None:
    """The ROC curves (calibrated and default thresholds) and the scatter of the score
    against the outcome, of the held-out pairs, into PLOTS."""
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


def write_doc(result: dict[str, Any], pairs: list[Pair], thresholds: dict) -> None:
    """docs/domain-benchmark.md, its plots and the values it was rendered from (VALUES)."""
    write_plots([p for p in pairs if p.split == "heldout"], thresholds)
    values = report_values(result, pairs, thresholds)
    VALUES.write_text(json.dumps(values, indent=1, ensure_ascii=False) + "\n")
    DOC.write_text(render(values))
