"""docs/models.md: the cards of the zoo-trained models in the embedded registry and the
recorded numbers of the reproduction runs and of the experiments not published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo_bench.templates import render_markdown
from zoo_bench.training.data import REPO
from zoo_bench.training.package import WORK
from zoo_bench.training.specs import EXPERIMENTS, MODELS

REPRO = REPO / "build" / "repro"
"""Where a reproduction run writes (``--work build/repro``); docs/models.md compares it."""
RUNS = REPO / "docs" / "models-runs.json"
"""The numbers behind docs/models.md that no card holds (reproduction runs, experiments), as
last measured: committed, so that a checkout without build/ writes the same document."""
TEMPLATE = Path(__file__).with_name("models.md.j2")
HELDOUT = REPO / "docs" / "models-heldout.json"
"""Every published model on SPLITS.md's held-out images (scripts/score_heldout.py)."""
HELDOUT_COLUMNS = (
    "noisy input",
    "Gaussian, best sigma",
    "Gaussian, sigma without target",
    "BM3D (generalised Anscombe)",
    "VST+BM3D (W2S authors)",
    "model",
)


def write_docs(work: Path = WORK) -> Path:
    """docs/models.md from the cards of the zoo-trained models in the embedded registry and
    the recorded runs (:func:`recorded_runs`, experiments found in ``work``)."""
    from zoo.registry import Registry

    path = REPO / "docs" / "models.md"
    path.write_text(models_doc(Registry(REPO), recorded_runs(work)))
    return path


def models_doc(reg: Any, runs: dict[str, dict[str, Any]]) -> str:
    """The text of docs/models.md: TEMPLATE with the published models' cards, then ``runs``
    (yanked versions included, pinned, without their warning: the document says why)."""
    import warnings

    from zoo.registry import YankedVersionWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", YankedVersionWarning)
        return render_markdown(TEMPLATE, doc_values(reg, runs)).rstrip() + "\n"


def doc_values(reg: Any, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What docs/models.md shows: each published model of ``reg`` (its card's numbers), the
    reproduction runs next to them and the experiments not published (``runs``)."""
    notes = {s.id: s.note for s in MODELS}
    published = [
        _published(reg, model_id, version, entry) | {"note": notes[model_id]}
        for model_id, version, entry in reg.iter_entries()
        if model_id in notes
    ]
    weights: dict[tuple[str, str | None], str] = {}
    for m in published:  # oldest version first, as iter_entries gives them
        m["weights_of"] = weights.setdefault((m["id"], m.pop("weights_sha")), m["version"])
    newest = {m["id"]: m for m in published}  # a model's card section: its newest version's
    return {
        "published": published,
        "cards": list(newest.values()),
        "repackaged": any(m["weights_of"] != m["version"] for m in published),
        "heldout_columns": HELDOUT_COLUMNS,
        "heldout": heldout_tables(json.loads(HELDOUT.read_text()) if HELDOUT.exists() else None),
        "reproduction": _reproduction(reg, runs["reproduction"]),
        "experiments": _experiments(runs["experiments"]),
    }


def _published(reg: Any, model_id: str, version: str, entry: Any) -> dict[str, Any]:
    """One published model: its row in the table and its validation numbers."""
    package = reg.load(f"{model_id}@{version}")
    card = package.card
    assert card is not None
    onnx = package.descr.weights.onnx
    hp = card.method.hyperparameters
    rows: dict[str, dict[str, float]] = {}
    for m in card.validation.metrics:
        rows.setdefault(m.method, {})[m.name] = m.value
    metrics = sorted(
        {m.name for m in card.validation.metrics},
        key=["psnr", "ssim"].index
        if all(m.name in ("psnr", "ssim") for m in card.validation.metrics)
        else str,
    )
    return {
        "id": model_id,
        "version": version,
        "modality": card.domain.modality.value,
        "structures": card.domain.structures,
        "method": card.method.name.value,
        "size_mb": entry.size / 1e6,
        "steps": hp.get("steps"),
        "train_seconds": hp.get("train_seconds"),
        "heldout": card.validation.metrics[0].dataset if card.validation.metrics else "—",
        "yank_reason": entry.yank_reason if entry.yanked else None,
        "weights_sha": None if onnx is None else str(onnx.sha256),
        "metrics": metrics,
        "rows": rows,
        "comparison": _comparison(rows),
    }


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
                note = runs[kind].get(spec.id, {}).get("note")  # written by hand: kept
                runs[kind][spec.id] = {
                    "summary": json.loads((folder / "evaluation.json").read_text())["summary"],
                    "steps": training["config"]["steps"],
                    "seconds": training["seconds"],
                    **({"version": spec.version} if kind == "reproduction" else {}),
                    **({"note": note} if note else {}),
                }
    if json.dumps(runs, sort_keys=True) != before:
        RUNS.write_text(json.dumps(runs, indent=1) + "\n")
    return runs


def _reproduction(reg: Any, runs: dict[str, Any]) -> list[dict[str, Any]]:
    """Published validation numbers next to those of a retraining from scratch (REPRO) of
    the version the run reproduced (runs recorded before versions were: 0.1.0)."""
    rows: list[dict[str, Any]] = []
    published = {(model_id, version) for model_id, version, _entry in reg.iter_entries()}
    for spec in MODELS:
        run = runs.get(spec.id)
        version = run.get("version", "0.1.0") if run is not None else spec.version
        if (spec.id, version) not in published:
            continue  # not published (yet): nothing to compare a reproduction with
        card = reg.load(f"{spec.id}@{version}").card  # pinned: yanked ones too
        numbers = {(m.method.split(" ")[0], m.name): m.value for m in card.validation.metrics}
        if run is None:
            rows.append({"id": f"{spec.id}@{version}", "metric": None})
            continue
        metric, value = _model_value(run["summary"])
        before = numbers[("model", metric)]
        rows.append(
            {
                "id": f"{spec.id}@{version}",
                "metric": metric,
                "published": before,
                "retrained": value,
                "difference": value - before,
                "seconds": run["seconds"],
                "note": run.get("note"),
            }
        )
    return rows


def _experiments(runs: dict[str, Any]) -> list[dict[str, Any]]:
    """Models that were trained and evaluated but not published, with their numbers (the
    recorded run, or None when there is none)."""
    out = []
    for spec in EXPERIMENTS:
        run = runs.get(spec.id)
        if run is not None:
            summary = run["summary"]
            metrics = list(dict.fromkeys(k for values in summary.values() for k in values))
            run = {**run, "metrics": metrics}
        out.append(
            {
                "id": spec.id,
                "description": spec.description,
                "method": spec.config.method,
                "steps": spec.config.steps,
                "heldout": spec.heldout_label,
                "note": spec.note,
                "run": run,
            }
        )
    return out


def _comparison(by_method: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The model against the best-sigma Gaussian (and BM3D): PSNR differences, or without
    a clean target the self-supervised MSEs of the J-invariant denoisers."""

    def find(prefix: str) -> dict[str, float]:
        return next((v for k, v in by_method.items() if k.lower().startswith(prefix)), {})

    model, bm3d = find("model"), find("bm3d")
    gauss = find("gaussian, best sigma") or find("gaussian")
    if "psnr" in model:
        return {
            "psnr": True,
            "vs_gaussian": model["psnr"] - gauss["psnr"],
            "vs_bm3d": model["psnr"] - bm3d["psnr"] if "psnr" in bm3d else None,
        }
    key = "self_supervised_mse"
    return {
        "psnr": False,
        "model": model[key],
        "gaussian": gauss[key],
        "difference": gauss[key] - model[key],
    }


def heldout_tables(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per model, one row per held-out set: each method's mean fitted PSNR and SSIM over the
    set's images, and on how many images the model beats the best-sigma Gaussian."""
    if report is None:
        return []
    out = []
    for ref, per_set in report["models"].items():
        rows = []
        for name, model in per_set.items():
            images = report["sets"][name]["images"]
            means: dict[str, dict[str, list[float]]] = {}
            wins = 0
            for image, baselines in images.items():
                scores = {k.split(" (")[0] if k.startswith("Gaussian") else k: v
                          for k, v in baselines.items()} | {"model": model[image]}  # fmt: skip
                wins += scores["model"]["psnr"] > scores["Gaussian, best sigma"]["psnr"]
                for method, values in scores.items():
                    for metric, value in values.items():
                        means.setdefault(method, {}).setdefault(metric, []).append(value)
            cells = {m: {k: sum(v) / len(v) for k, v in d.items()} for m, d in means.items()}
            rows.append(
                {
                    "set": name,
                    "kind": report["sets"][name]["kind"],
                    "n": len(images),
                    "cells": cells,
                    "wins": wins,
                }
            )
        out.append({"ref": ref, "rows": rows})
    return out
