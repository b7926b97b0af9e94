"""docs/models.md: the cards of the zoo-trained models in the embedded registry and the
recorded numbers of the reproduction runs and of the experiments not published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo_bench.training.data import REPO
from zoo_bench.training.package import WORK
from zoo_bench.training.specs import EXPERIMENTS, MODELS

REPRO = REPO / "build" / "repro"
"""Where a reproduction run writes (``--work build/repro``); docs/models.md compares it."""
RUNS = REPO / "docs" / "models-runs.json"
"""The numbers behind docs/models.md that no card holds (reproduction runs, experiments), as
last measured: committed, so that a checkout without build/ writes the same document."""


def write_docs(work: Path = WORK) -> Path:
    """docs/models.md from the cards of the zoo-trained models in the embedded registry and
    the recorded runs (:func:`recorded_runs`, experiments found in ``work``)."""
    from zoo.registry import Registry

    path = REPO / "docs" / "models.md"
    path.write_text(models_doc(Registry(REPO), recorded_runs(work)))
    return path


def models_doc(reg: Any, runs: dict[str, dict[str, Any]]) -> str:
    """The text of docs/models.md: the published models' cards, then ``runs``."""
    ids = {s.id for s in MODELS}
    lines = [
        "# The zoo's own models",
        "",
        "Trained, validated, packaged and published by `scripts/train_models.py` from the real "
        "images in `../shared/data` (never copied into this repository). Each model was "
        "validated on held-out images of its own domain that were never used for training. "
        "Generated from the cards in the embedded registry; do not edit by hand.",
        "",
        "PSNR/SSIM are computed in the noisy input's grey values against the clean target "
        "mapped onto them by a least-squares line; the PSNR peak is the target's range. The "
        "Gaussian filter and BM3D get their best parameter *chosen with the target* (an "
        "oracle that favours them). Where no clean target exists the table gives the "
        "self-supervised (Noise2Self) MSE of J-invariant denoisers against the noisy image: "
        "for pixel-independent noise it is the MSE against the unknown clean image plus the "
        "noise variance, so lower is better and differences are true MSE differences.",
        "",
        "Reproduce (about 10-20 min per model on 2 CPU threads; seeded, so the same torch "
        "build and thread count give the same weights): `pip install torch==2.13.0 -e "
        '".[export,test]"` then `python scripts/train_models.py` (`--only ID` for one model, '
        "`--reuse` to repackage build/train/ID without training again). A package's test "
        "input and cover are synthetic (the DSB 2018 nuclei image shipped in the stardist "
        "wheel, scaled to the training grey values, with noise at the training noise level); "
        "the training images themselves are never committed. Training times in the table "
        "are wall-clock seconds on a 2-core machine that was running other jobs too (alone, "
        "100 steps take about 60 s).",
        "",
        "| model | domain | method | size | training | held-out data |",
        "|---|---|---|---|---|---|",
    ]
    details = []
    for model_id, version, entry in reg.iter_entries():
        if model_id not in ids:
            continue
        card = reg.load(f"{model_id}@{version}").card
        assert card is not None
        hp = card.method.hyperparameters
        held = card.validation.metrics[0].dataset if card.validation.metrics else "—"
        lines.append(
            f"| `{model_id}`@{version} | {card.domain.modality.value}: "
            f"{', '.join(card.domain.structures)} | {card.method.name.value} | "
            f"{entry.size / 1e6:.1f} MB | {hp.get('steps')} steps, {hp.get('train_seconds')} s "
            f"(wall clock, 2 threads) | {held} |"
        )
        details += [f"## `{model_id}`", ""]
        by_method: dict[str, dict[str, float]] = {}
        for m in card.validation.metrics:
            by_method.setdefault(m.method, {})[m.name] = m.value
        metrics = sorted(
            {m.name for m in card.validation.metrics},
            key=["psnr", "ssim"].index
            if all(m.name in ("psnr", "ssim") for m in card.validation.metrics)
            else str,
        )
        details += ["| output | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
        for method, values in by_method.items():
            cells = [f"{values[k]:.4g}" if k in values else "—" for k in metrics]
            details.append(f"| {method} | " + " | ".join(cells) + " |")
        details += ["", _verdict(by_method), ""]
    details += _reproduction(reg, runs["reproduction"])
    details += _experiments(runs["experiments"])
    return "\n".join([*lines, "", *details]).rstrip() + "\n"


def _model_value(summary: dict[str, dict[str, float]]) -> tuple[str, float]:
    """The model's headline validation number: PSNR, or the self-supervised MSE."""
    metric = "psnr" if "psnr" in summary["model"] else "self_supervised_mse"
    return metric, summary["model"][metric]


def recorded_runs(work: Path = WORK) -> dict[str, dict[str, Any]]:
    """RUNS, with every run found in build/ (REPRO for reproductions, ``work`` for
    experiments) replacing its recorded numbers, and written back when that changed
    anything."""
    runs: dict[str, dict[str, Any]] = {"reproduction": {}, "experiments": {}}
    if RUNS.is_file():
        runs |= json.loads(RUNS.read_text())
    before = json.dumps(runs, sort_keys=True)
    for kind, found, specs in (("reproduction", REPRO, MODELS), ("experiments", work, EXPERIMENTS)):
        for spec in specs:
            folder = found / spec.id
            if (folder / "evaluation.json").is_file() and (folder / "training.json").is_file():
                training = json.loads((folder / "training.json").read_text())
                runs[kind][spec.id] = {
                    "summary": json.loads((folder / "evaluation.json").read_text())["summary"],
                    "steps": training["config"]["steps"],
                    "seconds": training["seconds"],
                }
    if json.dumps(runs, sort_keys=True) != before:
        RUNS.write_text(json.dumps(runs, indent=1) + "\n")
    return runs


def _reproduction(reg: Any, runs: dict[str, Any]) -> list[str]:
    """Published validation numbers next to those of a retraining from scratch (REPRO)."""
    lines = [
        "## Reproduction",
        "",
        "Each published model retrained from scratch with the same script and seed "
        "(`python scripts/train_models.py --only ID --no-publish --work build/repro`, one at "
        "a time on 2 threads; the machine was shared with other jobs part of the time, so "
        "the times vary) and evaluated on the same held-out data. The goal is the published "
        "PSNR within 0.3 dB; with the same torch build and thread count the weights, and so "
        "the numbers, come out identical.",
        "",
        "| model | metric | published | retrained | difference | retraining wall clock |",
        "|---|---|---|---|---|---|",
    ]
    for spec in MODELS:
        card = reg.load(spec.id).card
        published = {(m.method.split(" ")[0], m.name): m.value for m in card.validation.metrics}
        run = runs.get(spec.id)
        if run is None:
            lines.append(f"| `{spec.id}` | — | — | not rerun yet | — | — |")
            continue
        metric, value = _model_value(run["summary"])
        seconds = run["seconds"]
        before = published[("model", metric)]
        unit = " dB" if metric == "psnr" else ""
        lines.append(
            f"| `{spec.id}` | {metric} | {before:.4g} | {value:.4g} | "
            f"{value - before:+.3f}{unit} | {seconds:.0f} s training |"
        )
    return [*lines, ""]


def _experiments(runs: dict[str, Any]) -> list[str]:
    """Models that were trained and evaluated but not published, with their numbers."""
    lines = []
    for spec in EXPERIMENTS:
        run = runs.get(spec.id)
        if run is None:  # never recorded: the reason, without numbers
            lines += [
                f"## Tried and not published: `{spec.id}`",
                "",
                f"{spec.description} {spec.config.method}, {spec.config.steps} steps: it did "
                f"not beat the best-sigma Gaussian filter on the {spec.heldout_label}. "
                f"{spec.note} Its numbers are regenerated by `python scripts/train_models.py "
                f"--only {spec.id} --no-publish`.",
                "",
            ]
            continue
        summary = run["summary"]
        metrics = list(dict.fromkeys(k for values in summary.values() for k in values))
        lines += [
            f"## Tried and not published: `{spec.id}`",
            "",
            f"{spec.description} {spec.config.method}, {run['steps']} steps "
            f"({run['seconds']:.0f} s). On the {spec.heldout_label}:",
            "",
            "| output | " + " | ".join(metrics) + " |",
            "|---|" + "---|" * len(metrics),
        ]
        for method, values in summary.items():
            cells = [f"{values[k]:.4g}" if k in values else "—" for k in metrics]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"{spec.note} Reproduce with "
            f"`python scripts/train_models.py --only {spec.id} --no-publish`.",
            "",
        ]
    return lines


def _verdict(by_method: dict[str, dict[str, float]]) -> str:
    def find(prefix: str) -> dict[str, float]:
        return next((v for k, v in by_method.items() if k.startswith(prefix)), {})

    model, gauss, bm3d = find("model"), find("gaussian"), find("bm3d")
    if "psnr" in model:
        parts = [
            f"Model vs best-sigma Gaussian: {model['psnr'] - gauss['psnr']:+.2f} dB PSNR "
            f"({'beats it' if model['psnr'] > gauss['psnr'] else 'does NOT beat it'})."
        ]
        if "psnr" in bm3d:
            diff = model["psnr"] - bm3d["psnr"]
            parts.append(
                f"Model vs BM3D: {diff:+.2f} dB PSNR "
                f"({'beats it' if diff > 0 else 'does NOT beat it'})."
            )
        return " ".join(parts)
    key = "self_supervised_mse"
    diff = gauss[key] - model[key]
    verdict = "model lower, i.e. closer to the clean image" if diff > 0 else "model NOT lower"
    return (
        f"No clean target. Self-supervised MSE: model {model[key]:.4g} vs J-invariant "
        f"Gaussian {gauss[key]:.4g} ({verdict}; the difference, {diff:.4g}, is the difference "
        "in true MSE). BM3D is not J-invariant, so it cannot be compared without a clean target."
    )
