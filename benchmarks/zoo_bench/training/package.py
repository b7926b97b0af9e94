"""Train, validate, package and publish one of the zoo's own models into the embedded
registry (models/ + index.json), with a full card and a synthetic example."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from zoo_bench.training.data import DATA, REPO
from zoo_bench.training.evaluate import card_metrics, evaluate
from zoo_bench.training.specs import ModelSpec

WORK = REPO / "build" / "train"
"""Training output (weights.pt + training.json + evaluation.json), one folder per model."""
SELF_SUPERVISED_LIMITATION = (
    "validation numbers are self-supervised MSEs against the noisy slice; they equal "
    "the MSE against the (unknown) clean image plus the noise variance"
)
"""Added to the card's limitations of a model validated without a clean target."""


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


def source_fingerprints(spec: ModelSpec) -> list[dict[str, Any]]:
    """The recipe card's ``sources``, each with its number of training images and their
    fingerprint (a model trained on several sources)."""
    from zoo.fingerprint import fingerprint

    images = spec.sources() if spec.sources is not None else {}
    out = []
    for entry in spec.card.get("sources", []):
        noisy = images[entry["name"]][0]
        fp = fingerprint(noisy).model_copy(
            update={"source": f"{len(noisy)} training image(s) of {entry['name']}"}
        )
        out.append(entry | {"n_images": len(noisy), "fingerprint": fp.model_dump(mode="json")})
    return out


def build_card(spec: ModelSpec, result: Any, fp: Any, ev: dict[str, Any]) -> Any:
    from zoo.spec import ZooCard
    from zoo.train.masking import struct_mask_rows

    card = json.loads(json.dumps(spec.card))
    if "sources" in card:
        card["sources"] = source_fingerprints(spec)
    if spec.config.struct_axis:
        card["noise"]["structn2v_mask"] = struct_mask_rows(
            spec.config.struct_axis, spec.config.struct_span
        )
    hyper = spec.config.hyperparameters() | {
        "best_step": result.best_step,
        "best_val_loss": round(result.best_val_loss, 6),
        "train_seconds": round(result.seconds, 1),
    }
    if spec.init:
        hyper["initial_weights"] = spec.init
    if spec.config.normalisation == "dataset":
        hyper |= {"normalisation_mean": result.mean, "normalisation_std": result.std}
    card["method"] = {
        "name": spec.config.method,
        "framework": result.framework,
        "architecture": "UNet (CAREamics layout, zoo/export/archs/careamics_unet.py)",
        "hyperparameters": hyper,
    }
    card["validation"]["metrics"] = card_metrics(spec, ev)
    if not ev["supervised"]:
        card["validation"]["limitations"].append(SELF_SUPERVISED_LIMITATION)
    return ZooCard.model_validate(card | {"fingerprint": fp.model_dump()})


def initial_weights(model: str, config: Any) -> dict[str, Any]:
    """The state dict of the published ``model`` (``id@version``) in the embedded registry,
    widened (:mod:`.widen`) when ``config`` (the run's TrainConfig) asks for more filters."""
    import torch

    from zoo.adapt.network import parent_module
    from zoo.runner import open_model
    from zoo_bench.training.widen import widened

    module, _path, _cls, _kwargs = parent_module(open_model(model, registry=str(REPO)), torch)
    state = module.state_dict()
    return widened(state, config.arch_kwargs())


def train_or_reuse(
    spec: ModelSpec, images: list[np.ndarray], targets: Any, work: Path, *, reuse: bool
) -> Any:
    """``spec`` trained on ``images`` (and ``targets``) and saved in ``work``, or, with
    ``reuse``, its earlier training loaded from there."""
    from zoo.train import load_trained, train

    if reuse and (work / "training.json").is_file():
        result = load_trained(work)
        print(f"   reusing {work} (trained in {result.seconds:.0f} s)")
        return result
    last = [0.0]

    def progress(step: int, steps: int, loss: float, val: float | None) -> None:
        if step % 100 == 0 or step == steps:
            now = time.perf_counter()
            shown = "—" if val is None else f"{val:.4g}"
            print(
                f"   step {step}/{steps} loss {loss:.4f} val {shown} ({now - last[0]:.0f} s)",
                flush=True,
            )
            last[0] = now

    last[0] = time.perf_counter()
    initial = initial_weights(spec.init, spec.config) if spec.init else None
    # resumable: a rerun continues from the last checkpoint (every 250 steps)
    result = train(
        images,
        targets,
        config=spec.config,
        progress=progress,
        checkpoint=work / "checkpoint.pt",
        initial=initial,
    )
    result.save(work)
    print(
        f"   trained in {result.seconds:.0f} s, best val {result.best_val_loss:.4g} "
        f"at step {result.best_step}"
    )
    return result


def run(
    spec: ModelSpec,
    *,
    reuse: bool,
    publish: bool,
    train_only: bool = False,
    work: Path = WORK,
) -> dict[str, Any]:
    """Train ``spec`` (or, with ``reuse``, load its earlier training from ``work``), evaluate
    it, package it and, with ``publish``, publish it into the embedded registry."""
    from zoo.export.builder import build_package
    from zoo.fingerprint import fingerprint
    from zoo.registry import Registry

    print(f"== {spec.id}: loading data", flush=True)
    images, targets, held = spec.load()
    fp = fingerprint(images).model_copy(
        update={"source": f"{len(images)} training image(s) of {spec.id}"}
    )
    work = work / spec.id
    result = train_or_reuse(spec, images, targets, work, reuse=reuse)
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
        version=spec.version,
        tags=spec.tags,
    )
    size = built.path.stat().st_size / 1e6
    print(f"   package {built.path} ({size:.1f} MB)")
    if publish:
        published = Registry(REPO).publish(built.path, model_id=spec.id)
        state = "published" if published.created else "already published"
        print(f"   {state} {published.id}@{published.version} ({published.entry.sha256[:12]})")
    return {"id": spec.id, "size_mb": size, "seconds": result.seconds, "eval": ev}
