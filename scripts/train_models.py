"""Train, validate, package and publish zoo's own denoisers into the embedded registry.

Every model in ``MODELS`` is trained from the real images in ../shared/data (read there,
never copied into the repository; see its MANIFEST.md), validated on held-out images of its
own domain against the noisy input, the best-sigma Gaussian filter and BM3D, packaged with a
full card (fingerprint of the training images included) and published into models/ +
index.json. docs/models.md is regenerated from the cards of the embedded registry and from
docs/models-runs.json, the numbers of the reproduction runs and of the experiments that were
not published (updated from build/repro and build/train whenever they hold a run). What is
trained (``MODELS``, ``EXPERIMENTS``, the data loaders and held-out splits, the cards) is
described in scripts/train_specs.py (the data loaders in scripts/train_data.py); this script
runs it.

Test tensors and covers never come from the (GPL) repository images: each package's example
is scikit-image-free synthetic data made from files the MANIFEST marks as committable
(images/nuclei/dsb2018_img2d.tif from the stardist wheel), scaled to the training data's
grey values, with Gaussian noise at the training data's noise level.

    python scripts/train_models.py [--only ID ...] [--reuse] [--no-publish] [--docs-only]

Training output (weights.pt + training.json per model) goes to build/train/ID; ``--reuse``
packages an existing one instead of training again. Training is seeded: a rerun on the same
torch build and thread count gives the same weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from train_specs import EXPERIMENTS, MODELS, ModelSpec  # noqa: E402

from zoo_bench.training.data import DATA, Pair  # noqa: E402

WORK = REPO / "build" / "train"
REPRO = REPO / "build" / "repro"
"""Where a reproduction run writes (``--work build/repro``); docs/models.md compares it."""
RUNS = REPO / "docs" / "models-runs.json"
"""The numbers behind docs/models.md that no card holds (reproduction runs, experiments), as
last measured: committed, so that a checkout without build/ writes the same document."""
VERSION = "0.1.0"
EVAL_SIDE = 1024
"""Held-out images are evaluated on their central crop of at most this side."""


# -- evaluation --------------------------------------------------------------------------


def _centre(a: np.ndarray, side: int = EVAL_SIDE) -> np.ndarray:
    sl = tuple(
        slice((s - min(s, side)) // 2, (s - min(s, side)) // 2 + min(s, side)) for s in a.shape
    )
    return a[sl]


def evaluate(spec: ModelSpec, result: Any, held: list[Pair]) -> dict[str, Any]:
    """Metrics of the model and the baselines on the held-out images (averaged)."""
    from zoo.fingerprint import image_statistics
    from zoo.train.evaluate import (
        best_bm3d,
        best_donut_loss,
        best_gaussian,
        blind_spot_loss,
        predict,
        psnr,
        ssim,
    )

    module = result.module()
    step = 2**result.config.depth

    def denoise(image: np.ndarray) -> np.ndarray:
        return predict(module, image, mean=result.mean, std=result.std, step=step)

    rows: dict[str, dict[str, list[float]]] = {}
    params: dict[str, list[float]] = {"gaussian": [], "bm3d": []}

    def add(method: str, metric: str, value: float) -> None:
        rows.setdefault(method, {}).setdefault(metric, []).append(value)

    supervised = all(p.target is not None for p in held)
    for pair in held:
        noisy = _centre(pair.noisy).astype(np.float32)
        if pair.target is not None:
            target = _centre(pair.target)
            rng_ = float(target.max() - target.min())
            sigma = image_statistics(noisy)["noise_sigma"].value
            gauss = best_gaussian(noisy, target)
            bm = best_bm3d(noisy, target, sigma_guess=sigma)
            params["gaussian"].append(gauss.parameter)
            params["bm3d"].append(bm.parameter)
            for method, out in (
                ("noisy input", noisy),
                ("gaussian", gauss.output),
                ("bm3d", bm.output),
                ("model", denoise(noisy)),
            ):
                add(method, "psnr", psnr(out, target, data_range=rng_))
                add(method, "ssim", ssim(out, target, data_range=rng_))
        else:
            masking = result.config.masking()
            loss = blind_spot_loss(denoise, noisy, masking=masking)
            donut, sigma = best_donut_loss(noisy)
            params["gaussian"].append(sigma)
            add("model", "self_supervised_mse", loss)
            add("gaussian", "self_supervised_mse", donut)
            add("noisy input", "variance", float(np.var(noisy)))
    summary = {
        method: {metric: float(np.mean(v)) for metric, v in metrics.items()}
        for method, metrics in rows.items()
    }
    return {
        "supervised": supervised,
        "summary": summary,
        "per_image": {p.name: None for p in held},
        "gaussian_sigma": params["gaussian"],
        "bm3d_sigma": params["bm3d"],
    }


def card_metrics(spec: ModelSpec, ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation numbers as card metrics (averages over the held-out images)."""
    names = {
        "model": "model",
        "noisy input": "noisy input",
        "gaussian": "gaussian (best sigma "
        + ", ".join(f"{s:g}" for s in ev["gaussian_sigma"])
        + " px)",
        "bm3d": "bm3d (best sigma "
        + ", ".join(f"{s:.3g}" for s in ev["bm3d_sigma"])
        + " grey values)",
    }
    if not ev["supervised"]:
        names["gaussian"] = (
            "gaussian without its centre weight (J-invariant; best sigma "
            + ", ".join(f"{s:g}" for s in ev["gaussian_sigma"])
            + " px)"
        )
        names["model"] = "model at its blind spots (J-invariant)"
    out = []
    for method, metrics in ev["summary"].items():
        for metric, value in metrics.items():
            out.append(
                {
                    "name": metric,
                    "value": value,
                    "method": names[method],
                    "dataset": spec.heldout_label,
                }
            )
    return out


# -- packaging ---------------------------------------------------------------------------


def synthetic_example(train: list[np.ndarray], fp: Any, *, seed: int, invert: bool) -> np.ndarray:
    """The packaging example: the committable DSB 2018 nuclei image (stardist wheel, BSD-3),
    scaled to the training images' grey values, with Gaussian noise at their noise level,
    in their dtype."""
    src = tifffile.imread(DATA / "images" / "nuclei" / "dsb2018_img2d.tif").astype(np.float64)
    lo, hi = np.percentile(src, [1, 99.8])
    src = np.clip((src - lo) / (hi - lo), 0, 1)
    if invert:
        src = 1 - src
    t_lo, t_hi = (
        float(np.percentile(np.concatenate([a.ravel() for a in train]), q)) for q in (1, 99.5)
    )
    clean = t_lo + src * (t_hi - t_lo)
    sigma = fp.stats["noise_sigma"].value
    noisy = clean + np.random.default_rng(seed).normal(0, sigma, clean.shape)
    dtype = train[0].dtype
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        noisy = np.clip(np.round(noisy), info.min, info.max)
    return noisy.astype(dtype)


def build_card(spec: ModelSpec, result: Any, fp: Any, ev: dict[str, Any]) -> Any:
    from zoo.spec import ZooCard
    from zoo.train.masking import struct_mask_rows

    card = json.loads(json.dumps(spec.card))
    if spec.config.struct_axis:
        card["noise"]["structn2v_mask"] = struct_mask_rows(
            spec.config.struct_axis, spec.config.struct_span
        )
    hyper = spec.config.hyperparameters() | {
        "best_step": result.best_step,
        "best_val_loss": round(result.best_val_loss, 6),
        "train_seconds": round(result.seconds, 1),
        "normalisation_mean": result.mean,
        "normalisation_std": result.std,
    }
    card["method"] = {
        "name": spec.config.method,
        "framework": result.framework,
        "architecture": "UNet (CAREamics layout, zoo/export/archs/careamics_unet.py)",
        "hyperparameters": hyper,
    }
    card["validation"]["metrics"] = card_metrics(spec, ev)
    if not ev["supervised"]:
        card["validation"]["limitations"].append(
            "validation numbers are self-supervised MSEs against the noisy slice; they equal "
            "the MSE against the (unknown) clean image plus the noise variance"
        )
    return ZooCard.model_validate(card | {"fingerprint": fp.model_dump()})


def run(spec: ModelSpec, *, reuse: bool, publish: bool, train_only: bool = False) -> dict[str, Any]:
    from zoo.export.builder import build_package
    from zoo.fingerprint import fingerprint
    from zoo.registry import Registry
    from zoo.train import load_trained, train

    print(f"== {spec.id}: loading data", flush=True)
    images, targets, held = spec.load()
    fp = fingerprint(images).model_copy(
        update={"source": f"{len(images)} training image(s) of {spec.id}"}
    )
    work = WORK / spec.id
    if reuse and (work / "training.json").is_file():
        result = load_trained(work)
        print(f"   reusing {work} (trained in {result.seconds:.0f} s)")
    else:
        last = [0.0]

        def progress(step: int, steps: int, loss: float, val: float | None) -> None:
            if step % 100 == 0 or step == steps:
                now = time.perf_counter()
                print(
                    f"   step {step}/{steps} loss {loss:.4f} val {val:.4f} ({now - last[0]:.0f} s)",
                    flush=True,
                )
                last[0] = now

        last[0] = time.perf_counter()
        result = train(images, targets, config=spec.config, progress=progress)
        result.save(work)
        print(
            f"   trained in {result.seconds:.0f} s, best val {result.best_val_loss:.4g} "
            f"at step {result.best_step}"
        )
    if train_only:
        return {"id": spec.id, "size_mb": 0.0, "seconds": result.seconds, "eval": None}
    print("   evaluating on held-out images", flush=True)
    ev = evaluate(spec, result, held)
    print(json.dumps(ev["summary"], indent=1))
    (work / "evaluation.json").write_text(json.dumps(ev, indent=1) + "\n")
    card = build_card(spec, result, fp, ev)
    example = synthetic_example(
        images, fp, seed=spec.config.seed, invert=spec.card["domain"]["modality"] == "FIB-SEM"
    )
    tmp = Path(tempfile.mkdtemp(prefix="zoo-train-"))
    built = build_package(
        result.imported_model(
            source=f"scripts/train_models.py ({spec.id}, seed {spec.config.seed})"
        ),
        card,
        example,
        tmp / f"{spec.id}.zip",
        name=spec.id,
        description=spec.description
        + " Test input and cover: synthetic (DSB 2018 nuclei image from the stardist wheel "
        "with noise at the training level), not training data.",
        authors=["zoo developers"],
        license="BSD-3-Clause",
        cite=spec.cite,
        version=VERSION,
        tags=spec.tags,
    )
    size = built.path.stat().st_size / 1e6
    print(f"   package {built.path} ({size:.1f} MB)")
    if publish:
        published = Registry(REPO).publish(built.path, model_id=spec.id)
        state = "published" if published.created else "already published"
        print(f"   {state} {published.id}@{published.version} ({published.entry.sha256[:12]})")
    return {"id": spec.id, "size_mb": size, "seconds": result.seconds, "eval": ev}


# -- docs --------------------------------------------------------------------------------


def write_docs() -> Path:
    """docs/models.md from the cards of the zoo-trained models in the embedded registry and
    the recorded runs (:func:`recorded_runs`)."""
    from zoo.registry import Registry

    path = REPO / "docs" / "models.md"
    path.write_text(models_doc(Registry(REPO), recorded_runs()))
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


def recorded_runs() -> dict[str, dict[str, Any]]:
    """RUNS, with every run found in build/ (REPRO for reproductions, WORK for experiments)
    replacing its recorded numbers, and written back when that changed anything."""
    runs: dict[str, dict[str, Any]] = {"reproduction": {}, "experiments": {}}
    if RUNS.is_file():
        runs |= json.loads(RUNS.read_text())
    before = json.dumps(runs, sort_keys=True)
    for kind, work, specs in (("reproduction", REPRO, MODELS), ("experiments", WORK, EXPERIMENTS)):
        for spec in specs:
            folder = work / spec.id
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="model ids to build (default: all)")
    parser.add_argument("--reuse", action="store_true", help="reuse build/train/ID if present")
    parser.add_argument("--no-publish", action="store_true")
    parser.add_argument("--docs-only", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="train and save, nothing else")
    parser.add_argument("--steps", type=int, help="override the steps (smoke test; no publish)")
    parser.add_argument("--work", type=Path, help="training output folder (default build/train)")
    args = parser.parse_args()
    if args.work:  # e.g. a reproduction next to the published run
        global WORK
        WORK = args.work.resolve()
    if not args.docs_only:
        chosen = [s for s in MODELS if not args.only or s.id in args.only]
        chosen += [s for s in EXPERIMENTS if args.only and s.id in args.only]
        for spec in chosen:
            if args.steps:
                spec.config = dataclasses.replace(spec.config, steps=args.steps, val_every=5)
                args.no_publish = True
            out = run(
                spec, reuse=args.reuse, publish=not args.no_publish, train_only=args.train_only
            )
            print(f"   {out['id']}: {out['size_mb']:.1f} MB, {out['seconds']:.0f} s")
    print(write_docs())


if __name__ == "__main__":
    main()
