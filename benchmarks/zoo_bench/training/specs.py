"""What the zoo trains: each of its own models' recipe (data loader and held-out split,
training settings) and card, one YAML file per model in ``models/``.

``MODELS`` are published by ``scripts/train_models.py``; ``EXPERIMENTS`` were trained and not
published (docs/models.md says why). Images are read from ../shared/data, never copied; the
data loaders are in :mod:`zoo_bench.training.data`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from zoo.train.loop import TrainConfig
from zoo_bench.training import data
from zoo_bench.training.data import Pair

RECIPES = Path(__file__).with_name("models")
"""One ``<model id>.yaml`` per model: its recipe and its card."""
PUBLISHED = (
    "care-nuclei-widefield",
    "n2v2-fibsem-em",
    "care-actin-widefield",
    "care-mito-widefield",
    "care-widefield-w2s",
    "care-fluorescence-generalist",
    "care-em-generalist",
)
"""The published models, in the order they are trained and documented (published once:
index.json says which versions were yanked since, and why; docs/models.md lists them)."""
NOT_PUBLISHED = (
    "care-flim-two-photon",
    "n2v-actin-widefield",
    "structn2v-flim-two-photon",
    "n2v-hipsc-spinning-disk",
    "n2v-nuclei-widefield",
    "care-w2s-widefield",
)
"""Tried and not published: on their held-out images they did not beat the best-sigma
Gaussian filter (docs/models.md gives the numbers). Build one with ``--only ID --no-publish``."""


@dataclass
class ModelSpec:
    """One of the zoo's own models: data, training settings and card."""

    id: str
    description: str
    config: TrainConfig
    load: Callable[[], tuple[list[np.ndarray], list[np.ndarray] | None, list[Pair]]]
    card: dict[str, Any]
    """The card before training completes it (method, validation numbers, fingerprint)."""
    heldout_label: str
    cite: list[dict[str, str]]
    tags: list[str] = field(default_factory=list)
    note: str = ""
    """Why an experiment was not published (docs/models.md)."""
    sources: Callable[[], dict[str, tuple[list[np.ndarray], Any]]] | None = None
    """A model of several sources: their training images by name (for a fingerprint each)."""
    init: str | None = None
    """A published model (``id@version``) whose weights training starts from (fine-tuning)."""
    version: str = "0.1.0"
    """The version this recipe publishes (a changed recipe is a new version, never a rewrite)."""


def load_spec(model_id: str, folder: Path = RECIPES) -> ModelSpec:
    """The spec of ``model_id`` from ``folder/<model_id>.yaml``."""
    recipe = yaml.safe_load((folder / f"{model_id}.yaml").read_text(encoding="utf-8"))
    args = recipe.get("data_args", {})  # e.g. the synthetic noise's levels
    return ModelSpec(
        id=model_id,
        description=recipe["description"],
        config=TrainConfig(**recipe["config"]),
        load=functools.partial(getattr(data, recipe["data"]), **args),
        card=recipe["card"],
        heldout_label=recipe["heldout"],
        cite=recipe["cite"],
        tags=recipe.get("tags", []),
        note=recipe.get("note", ""),
        sources=(
            functools.partial(getattr(data, recipe["sources"]), **args)
            if "sources" in recipe
            else None
        ),
        init=recipe.get("init"),
        version=str(recipe.get("version", "0.1.0")),
    )


MODELS: list[ModelSpec] = [load_spec(model_id) for model_id in PUBLISHED]
GENERALIST = "care-fluorescence-generalist"
LEAVE_OUT = ("GigaDB", "nucleus tracking")
"""The sources the fluorescence generalist is also trained without (leave-one-source-out)."""
LEAVE_OUT_STEPS = 2000
"""Leave-one-source-out runs are shorter than the generalist's own (CPU time)."""
LEAVE_OUT_FILTERS = 32
"""The width of a leave-one-source-out run: the generalist's as they ran (0.2.0's recipe;
0.3.0 is wider and adds the RCAN3D copies, which these runs leave out)."""
LEAVE_OUT_INIT = "care-widefield-w2s@0.1.0"
"""The weights a leave-one-source-out run starts from: trained on W2S alone, so they never saw
the source left out (the generalist's own init, its earlier version, saw every source)."""


def leave_one_out(source: str) -> ModelSpec:
    """The fluorescence generalist's training data and settings without ``source``, a
    shorter run from LEAVE_OUT_INIT, scored on that source's held-out images (an experiment:
    never published)."""
    spec = load_spec(GENERALIST)
    slug = source.lower().replace(" ", "-")
    return dataclasses.replace(
        spec,
        id=f"{GENERALIST}-without-{slug}",
        description=f"The fluorescence generalist's training images (real pairs and synthetic "
        f"copies, as its recipe makes them) without those of {source}.",
        load=functools.partial(spec.load, without=source, rcan3d_sets=0),
        config=dataclasses.replace(spec.config, steps=LEAVE_OUT_STEPS, filters=LEAVE_OUT_FILTERS),
        init=LEAVE_OUT_INIT,
        card={k: v for k, v in spec.card.items() if k != "sources"},
        heldout_label=f"held-out images of {source}, a source this run never saw",
        sources=None,
        note=f"Leave-one-source-out run: the generalist's training data and settings without "
        f"{source} (as of 0.2.0: {LEAVE_OUT_FILTERS} filters, no RCAN3D copies), "
        f"{LEAVE_OUT_STEPS} steps from {LEAVE_OUT_INIT}'s weights (which never saw {source} "
        f"either), scored on {source}'s held-out images.",
    )


EXPERIMENTS: list[ModelSpec] = [load_spec(model_id) for model_id in NOT_PUBLISHED] + [
    leave_one_out(source) for source in LEAVE_OUT
]
