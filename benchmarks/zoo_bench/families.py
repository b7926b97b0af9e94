"""Does the domain check keep models away from images of another modality family (light,
electron, transmitted-light microscopy)? Every published model against every held-out image
of ../shared/data/SPLITS.md, as acquired and as an 8-bit export made by linear rescaling,
from the pixels alone (no metadata) and with the modality given.

A pair is *cross-family* when the model's family (its card's modality, :mod:`zoo.families`)
is not the image's. Counted: cross-family pairs the check keeps away (a warning or a
mismatch from the pixels; a mismatch with the modality given), and the same-family pairs the
polarity check warns on (its false warnings). ``python scripts/bench_families.py`` writes
docs/families.json and its table in docs/domain-check.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo.checks import model_families
from zoo.domain import check_image
from zoo.imageio import Image
from zoo.package import load_package
from zoo_bench.heldout import heldout_sets, published

REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / "docs" / "families.json"
DOC = REPO / "docs" / "domain-check.md"
MODALITY = {"fluorescence": "widefield", "em": "TEM"}
"""The modality given for a held-out set's family when the benchmark states it."""


def eight_bit(a: np.ndarray) -> np.ndarray:
    """An 8-bit export by linear rescaling of the full range (as image viewers save one)."""
    lo, hi = float(a.min()), float(a.max())
    return np.round((a.astype(np.float64) - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)


def measure() -> dict[str, Any]:
    """Every (published model, held-out image and its 8-bit export) pair, checked."""
    models = {name: load_package(path) for name, path in published().items()}
    rows = []
    for hs in heldout_sets():
        image_family = "electron" if hs.family == "em" else "light"
        for pair in hs.pairs:
            variants = [("as acquired", pair.noisy)]
            if pair.noisy.dtype != np.uint8:
                variants.append(("8-bit export", eight_bit(pair.noisy)))
            for variant, pixels in variants:
                image = Image(pixels, "yx")
                for name, package in models.items():
                    theirs = model_families(package)
                    t0 = time.perf_counter()
                    blind = check_image(package, image)
                    seconds = time.perf_counter() - t0
                    told = check_image(package, image, modality=MODALITY[hs.family])
                    polarity = next((c for c in blind.checks if c.name == "polarity"), None)
                    rows.append({
                        "model": name, "set": hs.name, "image": pair.name, "variant": variant,
                        "cross": image_family not in theirs, "verdict": blind.verdict,
                        # read as the other family (its status may stand or, where
                        # the learned score tolerates it, be reported as ok)
                        "polarity": None if polarity is None
                        else "warn" if polarity.distance >= 1 else "ok",
                        "polarity_value": None if polarity is None else polarity.measured,
                        "verdict_told": told.verdict, "check_seconds": seconds,
                    })  # fmt: skip
    return {"pairs": rows}


def table(report: dict[str, Any]) -> str:
    """The counts of docs/domain-check.md's family table."""
    pairs = report["pairs"]
    lines = ["| pairs | n | kept away from the pixels (warning or mismatch) | of which by the "
             "polarity check | mismatch with the modality given |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for label, cross in (("cross-family", True), ("same family", False)):
        mine = [p for p in pairs if p["cross"] is cross]
        warned = sum(p["verdict"] != "match" for p in mine)
        polar = sum(p["polarity"] == "warn" for p in mine)
        told = sum(p["verdict_told"] == "mismatch" for p in mine)
        lines.append(f"| {label} | {len(mine)} | {warned} ({_pc(warned, mine)}) | "
                     f"{polar} ({_pc(polar, mine)}) | {told} ({_pc(told, mine)}) |")  # fmt: skip
    refused = [p for p in pairs if not p["cross"] and p["verdict_told"] == "mismatch"]
    below = [p for p in refused if p["variant"] == "as acquired" and _below_gaussian(p)]
    acquired = [p for p in refused if p["variant"] == "as acquired"]
    models = sorted({p["model"] for p in pairs})
    images = {(p["set"], p["image"], p["variant"]) for p in pairs}
    seconds = [p["check_seconds"] for p in pairs]
    lines.append(
        f"\n{len(models)} published models × {len(images)} held-out images (SPLITS.md, as "
        f"acquired and as 8-bit exports): {len(pairs)} pairs; check time per pair median "
        f"{np.median(seconds):.2f} s. Same-family pairs kept away are those whose statistics "
        "differ from the model's training data (another source, noise or scale). Of the "
        f"{len(acquired)} same-family images as acquired refused with the modality given, "
        f"the model is below the best-sigma Gaussian filter on {len(below)} "
        "(docs/models-heldout.json)."
    )
    return "\n".join(lines)


def _below_gaussian(row: dict[str, Any]) -> bool:
    """Is the model below the best-sigma Gaussian filter on this held-out image (as scored
    in docs/models-heldout.json)?"""
    scored = json.loads((REPO / "docs" / "models-heldout.json").read_text())
    model = scored["models"].get(row["model"], {}).get(row["set"], {}).get(row["image"])
    if model is None:
        return False
    base = scored["sets"][row["set"]]["images"][row["image"]]
    best = next(v["psnr"] for k, v in base.items() if k.startswith("Gaussian, best"))
    return bool(model["psnr"] < best)


def _pc(k: int, of: list[Any]) -> str:
    return f"{100 * k / max(len(of), 1):.1f} %"


def run() -> Path:
    """Measure, write docs/families.json and the table between ``<!-- families:begin/end -->``
    in docs/domain-check.md."""
    report = measure()
    REPORT.write_text(json.dumps(report, indent=1) + "\n")
    text = DOC.read_text()
    begin, end = "<!-- families:begin -->", "<!-- families:end -->"
    head, rest = text.split(begin)
    _old, tail = rest.split(end)
    DOC.write_text(f"{head}{begin}\n{table(report)}\n{end}{tail}")
    return REPORT
