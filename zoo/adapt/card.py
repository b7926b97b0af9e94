"""The adapted model's card (the parent's, made its own: lineage, the user's images as
training data and domain) and its package, exported and verified like any other."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.adapt.config import SELECTION, Adapted, default_id
from zoo.adapt.network import Network
from zoo.errors import PackageError, require

if TYPE_CHECKING:
    from collections.abc import Callable

    from zoo.export.builder import BuildResult
    from zoo.spec import ZooCard

__all__ = ["adapted_card", "package_adapted"]


def adapted_card(adapted: Adapted) -> ZooCard:
    """The parent's card, made the adapted model's: its images as training data and domain
    fingerprint, the adaptation as method, the lineage, the held-out estimates."""
    from zoo import __version__
    from zoo.spec import Adaptation, Lineage, Method, Metric, TrainingData, Validation
    from zoo.train.masking import struct_mask_rows

    parent = adapted.parent
    card = parent.package.card
    if card is None:
        raise PackageError(f"{parent.id} has no zoo card: zoo adapt starts from a zoo package")
    n = len(adapted.images)
    torch = require("torch", "export")
    ref = f"{parent.id}@{parent.version}"
    what = f"{n} image(s) of the user, adapted from {ref}"
    measured = (
        ("model", adapted.heldout["adapted"]),
        (f"parent {ref}", adapted.heldout["parent"]),
        ("gaussian (best sigma by SURE)", adapted.heldout["gaussian"]),
    )
    where = f"held-out rows of the {n} adaptation image(s)"
    metrics = [Metric(name="sure_mse", value=v, dataset=where, method=m) for m, v in measured]
    hyper = {k: v for k, v in asdict(adapted.config).items() if v is not None and k != "threads"}
    noise = card.noise
    masking = adapted.masking
    if masking is not None and masking.struct_axis:
        hyper |= {"struct_axis": masking.struct_axis, "struct_span": masking.struct_span}
        mask = struct_mask_rows(masking.struct_axis, masking.struct_span)
        noise = noise.model_copy(update={"structn2v_mask": mask})
    shapes = [i.shape for i in adapted.images]
    return card.model_copy(
        update={
            "method": Method(
                name=adapted.loss,
                framework=f"zoo {__version__} adapt (torch {str(torch.__version__).split('+')[0]})",
                architecture=card.method.architecture,
                hyperparameters=hyper | {"parent": ref},
            ),
            "training_data": TrainingData(
                description=f"{what}: fine-tuned without clean targets on the images listed "
                "in the lineage (by sha256, shape and fingerprint; they are not distributed).",
                license="the user's own images (not distributed with the model)",
                n_images=n,
                image_shape=shapes[0],
                acquisition="unknown: the user's",
            ),
            "validation": Validation(
                intended_use=f"Denoise images like the {n} it was adapted to (their fingerprint "
                f"is the model's domain); the parent's use: {card.validation.intended_use}",
                limitations=[
                    f"adapted to {n} image(s) only: the domain check compares new images with them",
                    "judged without a clean target (SURE estimates on held-out rows)",
                    *card.validation.limitations,
                ],
                metrics=metrics,
            ),
            "fingerprint": adapted.fingerprint,
            "noise": noise,
            "sources": None,
            "lineage": Lineage(
                parent=ref,
                parent_sha256=parent.sha256,
                adaptation=Adaptation(
                    loss=adapted.loss, steps=adapted.steps, seconds=round(adapted.seconds, 1),
                    seed=adapted.config.seed, best_step=adapted.best_step, selection=SELECTION,
                    stopped_at=adapted.stopped_at,
                ),
                images=adapted.images,
            ),
        }
    )  # fmt: skip


def package_adapted(
    adapted: Adapted,
    output: str | Path,
    *,
    model_id: str | None = None,
    version: str = "0.1.0",
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Export, verify and write the adapted package (nothing is written if any step fails)."""
    from zoo.export.builder import ImportedModel, build_package

    parent = adapted.parent
    package = parent.package
    inp, outp = package.descr.inputs[0], package.descr.outputs[0]

    def steps(chain: Any) -> list[dict[str, Any]]:
        return [s.model_dump(mode="json", exclude_none=True) for s in chain]

    card = adapted_card(adapted)
    imported = ImportedModel(
        module=adapted.module,
        architecture=adapted.architecture,
        callable=adapted.callable,
        kwargs=adapted.kwargs,
        method=adapted.loss,
        framework=card.method.framework,
        preprocessing=steps(inp.preprocessing),
        postprocessing=steps(outp.postprocessing),
        spatial_axes="yx",
        channels=1,
        size_step=Network(parent, adapted.module, require("torch", "export")).step,
        source=f"zoo adapt {parent.id}@{parent.version} (seed {adapted.config.seed})",
        output_units=card.output_units,
    )
    name = model_id or default_id(parent.id, adapted.images)
    descr = package.descr
    return build_package(
        imported,
        card,
        np.asarray(adapted.example),
        Path(output),
        name=name,
        description=f"{parent.id}@{parent.version} adapted by zoo adapt to "
        f"{len(adapted.images)} image(s) of its user, without clean targets ({adapted.loss} "
        f"loss, {adapted.steps} steps). {descr.description}",
        authors=[str(a.name) for a in descr.authors] or None,
        license=str(descr.license) if descr.license else None,
        cite=[
            {"text": str(c.text), "doi": str(c.doi)} for c in descr.cite if getattr(c, "doi", None)
        ],
        version=version,
        tags=("adapted",),
        progress=progress,
    )
