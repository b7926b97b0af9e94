"""bioimage.io's own ``config.bioimageio`` fields, written from the zoo card and read back.

bioimage.io (spec 0.5.12, ``BioimageioConfig``) describes a model's domain in free text:
``modality``, ``target_structure``, ``task``, ``training``, ``evaluations``,
``out_of_scope_use``, ``bias_risks_limitations``, ``inference_time``,
``memory_requirements_inference``, … :func:`bioimageio_config` fills them from a card, so
bioimage.io's tools see what zoo's card says; :func:`card_hints` reads them from a plain
bioimage.io package, for ``zoo card init``. docs/card.md lists the mapping.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.spec import Metric, Modality, ZooCard

__all__ = ["MODALITY_TEXT", "bioimageio_config", "card_hints", "inference_notes"]

MODALITY_TEXT: dict[Modality, str] = {
    Modality.widefield: "widefield microscopy",
    Modality.confocal: "confocal microscopy",
    Modality.spinning_disk: "spinning-disk confocal microscopy",
    Modality.light_sheet: "light-sheet microscopy",
    Modality.two_photon: "two-photon microscopy",
    Modality.tirf: "TIRF microscopy",
    Modality.sim: "structured illumination microscopy (SIM)",
    Modality.sted: "STED microscopy",
    Modality.smlm: "single-molecule localization microscopy (SMLM)",
    Modality.brightfield: "brightfield microscopy",
    Modality.phase_contrast: "phase-contrast microscopy",
    Modality.dic: "DIC microscopy",
    Modality.sem: "scanning electron microscopy (SEM)",
    Modality.tem: "transmission electron microscopy (TEM)",
    Modality.fib_sem: "FIB-SEM electron microscopy",
    Modality.cryo_em: "cryo-electron microscopy (cryo-EM)",
    Modality.synthetic: "synthetic images",
}
"""bioimage.io's ``modality`` text for each card modality (``other`` is left unset)."""

_MODALITY_WORDS: tuple[tuple[str, Modality], ...] = (
    (r"spinning", Modality.spinning_disk),
    (r"light[- ]?sheet|spim\b", Modality.light_sheet),
    (r"two[- ]photon|2[- ]photon|multi[- ]?photon", Modality.two_photon),
    (r"fib[- ]?sem", Modality.fib_sem),
    (r"cryo", Modality.cryo_em),
    (r"\btirf", Modality.tirf),
    (r"\bsted\b", Modality.sted),
    (r"\bsmlm\b|localization microscopy", Modality.smlm),
    (r"structured illumination|\bsim\b", Modality.sim),
    (r"confocal", Modality.confocal),
    (r"wide[- ]?field|epifluorescence", Modality.widefield),
    (r"bright[- ]?field", Modality.brightfield),
    (r"phase[- ]contrast", Modality.phase_contrast),
    (r"\bdic\b|differential interference", Modality.dic),
    (r"scanning electron|\bsem\b", Modality.sem),
    (r"transmission electron|\btem\b", Modality.tem),
    (r"synthetic", Modality.synthetic),
)
"""What a free-text bioimage.io modality is read as, most specific first."""

_HYPERPARAMETERS = {
    "epochs": "training_epochs",
    "batch_size": "training_batch_size",
    "learning_rate": "initial_learning_rate",
    "optimizer": "optimizer",
    "loss": "loss_function",
}
"""Card ``method.hyperparameters`` keys and the ``training`` fields they fill."""

_URL = re.compile(r"https?://[^\s,;()]+")
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s,;()]+)")
_COUNT = re.compile(r"\b(\d+)\s+(?:images?|pairs?|slices?|fields?|volumes?|stacks?|tiles?)\b")


def dataset_url(source: str | None) -> str | None:
    """The first http(s) URL in a card's data source, or its DOI as a doi.org URL; None
    when it names neither (a citation alone)."""
    if not source:
        return None
    if found := _URL.search(source):
        return found.group(0).rstrip(".")
    if found := _DOI.search(source):
        return "https://doi.org/" + found.group(1).rstrip(".")
    return None


def dataset_role(dataset: str) -> str:
    """bioimage.io's role of the data a card metric was measured on: ``test`` for held-out
    data (kept out of training, from the training data's source), ``unknown`` otherwise."""
    return "test" if re.search(r"held[- ]out", dataset, re.IGNORECASE) else "unknown"


def bioimageio_config(
    card: ZooCard, *, measured: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """bioimage.io's ``config.bioimageio`` fields (plain data) from ``card``.

    ``measured`` adds what the packager measured (``inference_time``,
    ``memory_requirements_inference``, ``model_parameter_count``). ``evaluations`` are
    written only when the card's training data source has a URL or DOI (bioimage.io needs
    the dataset's address); nothing is fetched.
    """
    d, m = card.domain, card.method
    out: dict[str, Any] = {"task": "denoising", "target_structure": list(d.structures)}
    if d.modality in MODALITY_TEXT:
        out["modality"] = MODALITY_TEXT[d.modality]
    arch = m.architecture.split(" (")[0].strip()
    if arch and len(arch) <= 32:
        out["architecture_type"] = arch
    if m.architecture != arch:
        out["architecture_description"] = m.architecture
    out["training"] = _training(card)
    out["out_of_scope_use"] = _out_of_scope(card)
    out["bias_risks_limitations"] = _bias_risks(card)
    evaluations = _evaluations(card)
    if evaluations:
        out["evaluations"] = evaluations
    out.update({k: val for k, val in (measured or {}).items() if val is not None})
    return out


def _training(card: ZooCard) -> dict[str, Any]:
    hp = card.method.hyperparameters
    out: dict[str, Any] = {}
    for key, field in _HYPERPARAMETERS.items():
        value = hp.get(key)
        if value is not None and not isinstance(value, list | bool):
            out[field] = value if field in ("optimizer", "loss_function") else float(value)
    seconds = hp.get("train_seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        out["training_duration"] = round(float(seconds) / 3600, 4)
    steps = [f"{k}={hp[k]}" for k in ("steps", "patch_size") if k in hp]
    text = f"{card.method.name.value} training by {card.method.framework}"
    out["training_preprocessing"] = text + (f" ({', '.join(steps)})" if steps else "")
    return out


def _out_of_scope(card: ZooCard) -> str:
    d, n = card.domain, card.noise
    return (
        f"Images outside the training domain: other modalities than {d.modality.value}, "
        f"other structures than {', '.join(d.structures)}, noise other than {n.type.value}, "
        f"{d.dimensionality}D images with other than {d.channels} channel(s). A denoised image "
        "is an estimate: do not take structure in it as evidence without the raw image. "
        "Run `zoo check MODEL IMAGE` first: it compares an image with this domain."
    )


def _bias_risks(card: ZooCard) -> dict[str, Any]:
    d, t = card.domain, card.training_data
    trained_on = f"Trained on {t.description.rstrip('.')}"
    if d.sample:
        trained_on += f" ({d.sample})"
    out: dict[str, Any] = {"known_biases": trained_on + "."}
    if card.validation.limitations:
        out["limitations"] = "\n".join(f"- {lim}" for lim in card.validation.limitations)
    return out


def _evaluations(card: ZooCard) -> list[dict[str, Any]]:
    """One evaluation per dataset a metric of the model was measured on, baselines in the
    summary; none without a dataset URL."""
    url = dataset_url(card.training_data.source)
    if url is None:
        return []
    by_dataset: dict[str, list[Metric]] = {}
    for metric in card.validation.metrics:
        by_dataset.setdefault(metric.dataset, []).append(metric)
    out = []
    for dataset, metrics in by_dataset.items():
        model = [x for x in metrics if x.method.startswith("model")]
        if not model:
            continue
        count = _COUNT.search(dataset)
        baselines = [f"{x.method}: {x.name} {x.value:.4g}" for x in metrics if x not in model]
        summary = f"Measured on {dataset}."
        if baselines:
            summary += " Baselines on the same data: " + "; ".join(baselines) + "."
        out.append(
            {
                "dataset_id": _slug(url),
                "dataset_source": url,
                "dataset_role": dataset_role(dataset),
                "sample_count": int(count.group(1)) if count else 1,
                "evaluation_factors": ["overall"],
                "evaluation_factors_long": [dataset],
                "metrics": [x.name[:16] for x in model],
                "metrics_long": [f"{x.name} ({x.method})" for x in model],
                "results": [[x.value] for x in model],
                "results_summary": summary,
            }
        )
    return out


def _slug(url: str) -> str:
    """A bioimage.io resource id for a dataset address: lower case, ``a-z0-9_-/.``."""
    text = re.sub(r"^https?://(doi\.org/)?", "", url.lower())
    return re.sub(r"[^a-z0-9_\-/.]+", "-", text).strip("/-") or "dataset"


def card_hints(config: Any) -> dict[str, Any]:
    """What a description's ``config.bioimageio`` tells about its card, as partial card
    data (``domain.modality``, ``domain.structures``, ``method.hyperparameters``,
    ``validation.limitations`` and ``validation.metrics``), and under ``notes`` the
    bioimage.io fields without a card field (task, new version, inference time, …)."""
    bmz = getattr(config, "bioimageio", None)
    if bmz is None:
        return {}
    hints: dict[str, Any] = {"notes": {}}
    if bmz.modality:
        modality = _modality_from_text(bmz.modality)
        if modality is not None:
            hints["modality"] = modality.value
        hints["notes"]["modality"] = bmz.modality
    if bmz.target_structure:
        hints["structures"] = [str(s) for s in bmz.target_structure]
    if bmz.architecture_type:
        hints["architecture"] = str(bmz.architecture_type)
    training = bmz.training
    hp = {
        key: getattr(training, field)
        for key, field in _HYPERPARAMETERS.items()
        if getattr(training, field, None) is not None
    }
    if hp:
        hints["hyperparameters"] = hp
    limitations = [
        line.strip().lstrip("-* ").strip()
        for line in (bmz.bias_risks_limitations.limitations or "").splitlines()
    ]
    limitations = [line for line in limitations if line]
    if bmz.out_of_scope_use:
        limitations.append(f"out of scope: {bmz.out_of_scope_use.strip()}")
    if limitations:
        hints["limitations"] = limitations
    metrics = [_metrics(ev) for ev in bmz.evaluations]
    if metrics:
        hints["metrics"] = [x for group in metrics for x in group]
    for key in ("task", "new_version", "inference_time", "memory_requirements_inference"):
        value = getattr(bmz, key, None)
        if value:
            hints["notes"][key] = str(value)
    return hints


def _modality_from_text(text: str) -> Modality | None:
    for modality, phrase in MODALITY_TEXT.items():
        if text.strip().lower() == phrase.lower():
            return modality
    for pattern, modality in _MODALITY_WORDS:
        if re.search(pattern, text, re.IGNORECASE):
            return modality
    return None


def _metrics(ev: Any) -> list[dict[str, Any]]:
    """Card metrics (plain data) from one bioimage.io evaluation's numeric results."""
    out = []
    for name, row in zip(ev.metrics, ev.results, strict=False):
        for factor, value in zip(ev.evaluation_factors, row, strict=False):
            if isinstance(value, int | float) and not isinstance(value, bool):
                dataset = (
                    f"{ev.dataset_id} ({ev.dataset_role}, {ev.sample_count} samples, "
                    f"{factor}): {ev.dataset_source}"
                )
                out.append({"name": str(name), "value": float(value), "dataset": dataset})
    return out


def inference_notes(onnx: Path, x: Any) -> dict[str, Any]:
    """What the packager measures for bioimage.io's ``inference_time`` (ONNX Runtime on
    the CPU, the test input, median of three runs after a warm-up) and
    ``memory_requirements_inference`` (the graph's peak activations per pixel, read
    statically by :func:`zoo.onnxgraph.activation_bytes_per_pixel`)."""
    import os
    import platform

    import numpy as np
    import onnxruntime as ort

    from zoo.onnxgraph import activation_bytes_per_pixel

    data = onnx.read_bytes()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    feed = {name: np.ascontiguousarray(x, dtype=np.float32)}
    session.run(None, feed)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    shape = "×".join(str(s) for s in x.shape[2:])
    cpu = platform.processor() or platform.machine()
    out: dict[str, Any] = {
        "inference_time": (
            f"{sorted(times)[1]:.3g} s per {shape} tile with ONNX Runtime {ort.__version__} "
            f"on CPU ({cpu}, {os.cpu_count()} logical cores), measured when packaged"
        )
    }
    per_pixel = activation_bytes_per_pixel(data)
    if per_pixel is not None:
        out["memory_requirements_inference"] = (  # bytes per pixel = MiB per 2**20 pixels
            f"about {per_pixel:.0f} MiB of activations per megapixel (1024×1024) of input, "
            "float32, on any device (read from the ONNX graph); zoo tiles larger images to "
            "a memory budget"
        )
    return out
