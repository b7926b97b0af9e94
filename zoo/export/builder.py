"""Build a verified bioimage.io package from an imported torch model and a zoo card.

The builder writes, into one zip: the architecture source + state dict
(``pytorch_state_dict``), TorchScript and ONNX exports (each checked against the torch module
before it is written), test input/output tensors, a cover (noisy | denoised) and a README
model card generated from the zoo card. The output zip appears only when all of that worked.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ExportError, ImageError, require
from zoo.export.metadata import check_card_fits, package_metadata
from zoo.export.onnx import ONNX_OPSET, export_onnx
from zoo.export.torchscript import export_torchscript
from zoo.export.verify import ExportCheck, torch_forward
from zoo.hashes import sha256_file
from zoo.package import build_model_descr, load_package, save_package
from zoo.processing import apply_processing, parse_processing
from zoo.spec import Fingerprint, ZooCard
from zoo.tiling import fitting_halo

__all__ = ["BuildResult", "ImportedModel", "build_package", "model_card_markdown"]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

TEST_TILE = 256
"""Largest side of the test tensors written into a package."""


@dataclass(frozen=True)
class ImportedModel:
    """What every importer produces: a torch module and how to rebuild and feed it."""

    module: Any
    """The torch module, in eval mode, weights loaded."""
    architecture: Path
    """Self-contained source file defining the module's class (copied into the package)."""
    callable: str
    """Class name in ``architecture``."""
    kwargs: Mapping[str, Any]
    """Constructor keyword arguments (JSON-able)."""
    method: str
    """Training method (n2v, n2v2, structn2v, care, …)."""
    framework: str
    """Software that trained it, e.g. "careamics 0.3.5"."""
    preprocessing: Sequence[Mapping[str, Any]] = ()
    """bioimage.io preprocessing steps as plain data ({"id": …, "kwargs": …})."""
    postprocessing: Sequence[Mapping[str, Any]] = ()
    """bioimage.io postprocessing steps as plain data."""
    spatial_axes: str = "yx"
    """Spatial axes of the input ("yx" or "zyx")."""
    channels: int = 1
    """Input channels."""
    size_step: int = 4
    """Spatial sizes must be multiples of this (2 ** UNet depth)."""
    halo: int = 0
    """Border (pixels) a tile needs for a seamless result, declared on the output's axes so
    that bioimage.io tools tile without seams; 0: zoo's own for the size step
    (:func:`zoo.tiling.halo_for_step`)."""
    source: str = ""
    """Where the weights came from, for the README."""
    notes: Sequence[str] = ()
    """What the README must say about how the package differs from the source model."""
    output_units: str | None = None
    """"input" when the output goes back to the input's units through the inverse of the
    per-image preprocessing (recorded in the card's ``output_units``)."""


@dataclass(frozen=True)
class BuildResult:
    """A written package and the evidence it is right."""

    path: Path
    checks: tuple[ExportCheck, ...]
    files: Mapping[str, str] = field(default_factory=dict)
    """sha256 of every file inside the package."""
    placeholders: tuple[str, ...] = ()
    """Package fields zoo filled with placeholders (recorded in the card's ``placeholders``)."""


def _test_input(image: np.ndarray, model: ImportedModel) -> np.ndarray:
    """A centred crop of ``image`` (channel-first or plain), shaped (1, C, *space), float32."""
    n_space = len(model.spatial_axes)
    arr = np.asarray(image)
    if arr.ndim == n_space:
        arr = arr[np.newaxis]
    if arr.ndim != n_space + 1 or arr.shape[0] != model.channels:
        raise ImageError(
            f"test image must have shape (C={model.channels}, {model.spatial_axes}) or "
            f"({model.spatial_axes}), got {image.shape}"
        )
    crop = []
    for size in arr.shape[1:]:
        side = min(size, TEST_TILE) // model.size_step * model.size_step
        if side < model.size_step * 2:
            raise ImageError(f"test image side {size} is too small for this model")
        start = (size - side) // 2
        crop.append(slice(start, start + side))
    out = arr[(slice(None), *crop)][np.newaxis].astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise ImageError("test image contains NaN or infinite values")
    return out


def _predict(model: ImportedModel, x: np.ndarray) -> np.ndarray:
    axes = "bc" + model.spatial_axes
    pre = apply_processing(x, axes, parse_processing("pre", model.preprocessing))
    y = torch_forward(model.module, pre)
    return apply_processing(y, axes, parse_processing("post", model.postprocessing))


def _display(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, [1, 99.8])
    return (np.clip((x - lo) / (hi - lo + 1e-12), 0, 1) * 255).astype(np.uint8)


def _write_cover(x: np.ndarray, y: np.ndarray, path: Path) -> None:
    """noisy | denoised, side by side (first channel, middle plane for 3D)."""
    from PIL import Image

    def plane(a: np.ndarray) -> np.ndarray:
        a = a[0, 0]
        return a[a.shape[0] // 2] if a.ndim == 3 else a

    noisy, clean = plane(x), plane(y)
    gap = np.full((noisy.shape[0], 4), 255, np.uint8)
    Image.fromarray(np.hstack([_display(noisy), gap, _display(clean)])).save(path)


def model_card_markdown(
    name: str, description: str, card: ZooCard, model: ImportedModel, checks: Sequence[Any]
) -> str:
    """The README of a package, generated from its zoo card."""
    d, n, m, t, v = card.domain, card.noise, card.method, card.training_data, card.validation
    px = d.pixel_size
    rows = [
        ("Modality", d.modality.value),
        ("Structures", ", ".join(d.structures)),
        ("Dimensionality / channels", f"{d.dimensionality}D, {d.channels} channel(s)"),
        ("Data type", d.dtype + (f" ({d.bit_depth}-bit)" if d.bit_depth else "")),
        ("Pixel size", f"{px.x} × {px.y} {px.unit}" if px else "not recorded"),
        ("Noise", n.type.value),
        ("Method", f"{m.name.value} ({m.framework})"),
    ]
    lines = [f"# {name}", "", description, "", "## Domain", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {val} |" for k, val in rows]
    lines += ["", "## Training data", "", t.description, "", f"- Licence: {t.license}"]
    if t.source:
        lines.append(f"- Source: {t.source}")
    lines += ["", "## Intended use", "", v.intended_use, ""]
    if v.limitations:
        lines += ["## Limitations", "", *[f"- {lim}" for lim in v.limitations], ""]
    if v.metrics:
        lines += ["## Validation", "", "| metric | value | method | data |", "|---|---|---|---|"]
        lines += [f"| {x.name} | {x.value:.4g} | {x.method} | {x.dataset} |" for x in v.metrics]
        lines.append("")
    lines += ["## Export checks", ""]
    lines += [f"- {c.format}: max abs error {c.max_abs_error:.2g} vs torch" for c in checks]
    lines += ["", "## Run it", "", "```", f"zoo run {name} image.tif -o denoised.tif", "```", ""]
    if model.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in model.notes], ""]
    if model.source:
        lines += [f"Weights imported from: {model.source}", ""]
    return "\n".join(lines)


def example_fingerprint(image: np.ndarray) -> Fingerprint:
    """A fingerprint of the packaging example image: better than none, weaker than the
    training data's (the card says which it is in ``fingerprint.source``)."""
    from zoo.fingerprint import fingerprint

    plane = np.squeeze(np.asarray(image))
    while plane.ndim > 2:
        plane = plane[plane.shape[0] // 2]
    fp = fingerprint([plane])
    return fp.model_copy(update={"source": "the packaging example image"})


def build_package(
    model: ImportedModel,
    card: ZooCard,
    image: np.ndarray,
    output: Path,
    *,
    name: str,
    description: str | None = None,
    authors: Sequence[str] | None = None,
    license: str | None = None,
    cite: Sequence[Mapping[str, str]] = (),
    version: str = "0.1.0",
    tags: Sequence[str] = (),
    progress: Progress | None = None,
) -> BuildResult:
    """Export ``model`` to every format, verify, and write a bioimage.io package zip.

    ``image`` is a raw example image of the model's domain; its centred crop becomes the test
    input. The name, licence, version and authors are checked against bioimage.io's rules
    and the card against the model before anything is exported (:class:`SpecError`); a
    missing description, licence or authors is filled with a placeholder that the card
    records (a registry refuses it unless allowed). Raises :class:`ExportError` (or
    :class:`ImageError`) and writes nothing when any step fails.
    """
    torch = require("torch", "export")
    meta = package_metadata(
        name=name,
        method=model.method,
        description=description,
        authors=authors,
        license=license,
        version=version,
    )
    say = progress or (lambda _msg: None)
    card = _checked_card(card, model, image, meta.placeholders, say)
    x = _test_input(image, model)
    say("predicting the test output with the torch module")
    y = _predict(model, x)
    if not np.all(np.isfinite(y)):
        raise ExportError("the model produces NaN or infinite values on the test input")
    pre = apply_processing(
        x, "bc" + model.spatial_axes, parse_processing("pre", model.preprocessing)
    )
    with tempfile.TemporaryDirectory(prefix="zoo-build-") as tmp_name:
        tmp = Path(tmp_name)
        checks = _export(model, pre, tmp, say)
        say("writing test tensors, cover and README")
        np.save(tmp / "test_input.npy", x)
        np.save(tmp / "test_output.npy", y)
        _write_cover(x, y, tmp / "cover.png")
        readme = model_card_markdown(name, meta.description, card, model, checks)
        (tmp / "README.md").write_text(readme)
        descr = build_model_descr(
            name=name,
            description=meta.description,
            authors=meta.authors,
            license=meta.license,
            documentation=tmp / "README.md",
            covers=[tmp / "cover.png"],
            test_input=tmp / "test_input.npy",
            test_output=tmp / "test_output.npy",
            weights=_weights(model, tmp, torch),
            card=card,
            spatial_axes=model.spatial_axes,
            channels=model.channels,
            size_min=2 * model.size_step,  # declared: 2 halos more
            size_step=model.size_step,
            halo=_halo(model, x),
            preprocessing=parse_processing("pre", model.preprocessing),
            postprocessing=parse_processing("post", model.postprocessing),
            version=meta.version,
            tags=("denoising", "zoo", model.method, *tags),
            cite=cite,
            measured=_measured(model, pre, tmp, say),
        )
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        say("saving the package")
        path = save_package(descr, output)
    load_package(path)  # the written zip must load and validate as a whole
    return BuildResult(path, checks, files, meta.placeholders)


def _halo(model: ImportedModel, x: np.ndarray) -> int:
    """The halo the package declares: the model's (else zoo's for its size step), cut to
    what the test tensor ``x`` leaves room for (the minimum size is twice the halo plus two
    steps, and the test tensor must reach it; a thin 3D stack may get none)."""
    return fitting_halo(model.size_step, min(x.shape[2:]), model.halo or None)


def _checked_card(
    card: ZooCard,
    model: ImportedModel,
    image: np.ndarray,
    placeholders: Sequence[str],
    say: Progress,
) -> ZooCard:
    """``card`` once it fits ``model`` (:class:`SpecError` if not), with the metadata
    ``placeholders`` recorded and, when it has none, the example image's fingerprint."""
    check_card_fits(card, spatial_axes=model.spatial_axes, channels=model.channels)
    card = card.model_copy(
        update={
            "placeholders": list(placeholders) or None,
            "output_units": model.output_units or card.output_units,
        }
    )
    if card.fingerprint is None:
        say("fingerprinting the example image (no training fingerprint in the card)")
        card = card.model_copy(update={"fingerprint": example_fingerprint(image)})
    return card


def _export(
    model: ImportedModel, pre: np.ndarray, tmp: Path, say: Progress
) -> tuple[ExportCheck, ExportCheck]:
    """TorchScript and ONNX exports into ``tmp``, each checked against the torch module on
    the preprocessed test input and on a second shape (:func:`_other_shape`)."""
    other = _other_shape(pre, model.size_step)
    say("exporting TorchScript")
    ts = export_torchscript(model.module, pre, tmp / "weights_torchscript.pt", check_inputs=[other])
    say("exporting ONNX")
    ox = export_onnx(model.module, pre, tmp / "weights.onnx", check_inputs=[other])
    return ts, ox


def _measured(model: ImportedModel, pre: np.ndarray, tmp: Path, say: Progress) -> dict[str, Any]:
    """bioimage.io's ``inference_time``, ``memory_requirements_inference`` and
    ``model_parameter_count``, measured on the ONNX export and the torch module."""
    from zoo.bioimageio_config import inference_notes

    say("timing the ONNX export for bioimage.io's inference_time")
    params = sum(int(p.numel()) for p in model.module.parameters())
    return {**inference_notes(tmp / "weights.onnx", pre), "model_parameter_count": params}


def _weights(model: ImportedModel, tmp: Path, torch: Any) -> dict[str, dict[str, Any]]:
    """Write the architecture source and the state dict into ``tmp``; the weights
    descriptions of the state dict and of the two exports (written by :func:`_export`)."""
    arch = tmp / model.architecture.name
    shutil.copyfile(model.architecture, arch)
    torch.save(model.module.state_dict(), tmp / "weights.pt")
    torch_version = str(torch.__version__).split("+")[0]
    return {
        "pytorch_state_dict": {
            "source": tmp / "weights.pt",
            "architecture": {
                "source": arch,
                "callable": model.callable,
                "kwargs": dict(model.kwargs),
            },
            "pytorch_version": torch_version,
        },
        "torchscript": {
            "source": tmp / "weights_torchscript.pt",
            "parent": "pytorch_state_dict",
            "pytorch_version": torch_version,
        },
        "onnx": {
            "source": tmp / "weights.onnx",
            "parent": "pytorch_state_dict",
            "opset_version": ONNX_OPSET,
        },
    }


def _other_shape(pre: np.ndarray, step: int) -> np.ndarray:
    """A second, different input shape (batch 2, smaller non-square) to check dynamic axes."""
    space = [max(2 * step, (s // 2) // step * step) for s in pre.shape[2:]]
    space[-1] = max(2 * step, space[-1] - step)
    rng = np.random.default_rng(0)
    return rng.normal(size=(2, pre.shape[1], *space)).astype(np.float32)
