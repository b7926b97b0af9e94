"""Read and write whole model packages: a bioimage.io model description plus its zoo card.

A package is what bioimage.io calls a model package: ``rdf.yaml`` with its files, as a zip or a
folder. :func:`load_package` gives one typed :class:`Package` (the validated ``ModelDescr`` and
the parsed :class:`~zoo.spec.ZooCard`); :func:`build_model_descr` makes a new description for
a single-image denoiser; :func:`save_package` writes it as a zip, atomically.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from zoo.archive import PackageFiles
from zoo.errors import PackageError, SpecError, UnsafeArchiveError, ZooError
from zoo.files import atomic_path
from zoo.spec import ZooCard

if TYPE_CHECKING:
    from bioimageio.spec.model.v0_5 import ModelDescr

__all__ = [
    "CARD_KEY",
    "Package",
    "build_model_descr",
    "card_from_config",
    "card_problems",
    "card_template",
    "load_descr",
    "load_package",
    "save_package",
    "with_card",
]

logger = logging.getLogger(__name__)

CARD_KEY = "zoo"
"""Key under ``config`` of rdf.yaml that holds the denoiser card."""

_SPEC_LOCK = threading.RLock()
"""bioimageio.spec reads and writes YAML through one module-level parser, which is not
thread-safe: two threads loading packages at once (``zoo serve`` publishing two uploads)
garbled each other's rdf.yaml. zoo calls into it one thread at a time."""


@dataclass(frozen=True)
class Package:
    """A loaded model package: where it came from, its description and its card."""

    source: Path
    """The zip, folder or rdf.yaml it was loaded from."""
    descr: ModelDescr
    """The validated bioimage.io model description (format 0.5)."""
    card: ZooCard | None
    """The denoiser card, or None for a plain bioimage.io package without one."""

    @property
    def name(self) -> str:
        return str(self.descr.name)

    def weight_formats(self) -> list[str]:
        """Weight formats present in the package, e.g. ["onnx", "torchscript"]."""
        return [fmt for fmt, entry in self.descr.weights if entry is not None]


def declared_halo(package: Package) -> int:
    """The halo the package's output axes declare (bioimage.io ``halo``; 0 when none)."""
    return max((int(getattr(a, "halo", 0) or 0) for a in package.descr.outputs[0].axes), default=0)


def _format_loc(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def card_problems(raw: Any) -> list[tuple[str, str]]:
    """Validate raw card data; return ``(field path, message)`` pairs (empty when valid)."""
    try:
        ZooCard.model_validate(raw)
    except ValidationError as exc:
        return [
            (_format_loc(("config", CARD_KEY, *err["loc"])), err["msg"]) for err in exc.errors()
        ]
    return []


def card_from_config(config: Any) -> ZooCard | None:
    """Parse the card from a description's ``config``; None when there is no card.

    Raises :class:`SpecError` listing every invalid field when a card is present but invalid.
    """
    extra = getattr(config, "model_extra", None) or {}
    raw = extra.get(CARD_KEY) if extra else None
    if raw is None:
        return None
    problems = card_problems(raw)
    if problems:
        lines = "\n".join(f"  {loc}: {msg}" for loc, msg in problems)
        raise SpecError(f"the zoo card under config.{CARD_KEY} is invalid:\n{lines}")
    return ZooCard.model_validate(raw)


def load_package(source: str | os.PathLike[str], *, check_hashes: bool = True) -> Package:
    """Load a model package from a zip, a folder or an rdf.yaml.

    Raises :class:`PackageError` when the path does not exist or is no model package, and
    :class:`SpecError` when the bioimage.io description or the card is invalid.
    """
    from bioimageio.spec import InvalidDescr
    from bioimageio.spec.model.v0_5 import ModelDescr

    path = Path(source)
    descr = load_descr(path, check_hashes=check_hashes)
    if isinstance(descr, InvalidDescr):
        raise SpecError(
            f"{path} is not a valid bioimage.io model package:\n"
            + "\n".join(f"  {loc}: {msg}" for loc, msg in bioimageio_problems(descr))
        )
    if not isinstance(descr, ModelDescr):
        raise PackageError(
            f"{path} describes a bioimage.io {descr.type!r} (format {descr.format_version}), "
            "expected a model in format 0.5; update it with bioimageio.spec.update_format"
        )
    return Package(source=path, descr=descr, card=card_from_config(descr.config))


def load_descr(path: Path, *, check_hashes: bool = True) -> Any:
    """Run ``bioimageio.spec.load_description``; unreadable input becomes :class:`PackageError`.

    Returns the description, which may be an ``InvalidDescr`` carrying its validation summary.
    """
    from bioimageio.spec import load_description

    if not path.exists():
        raise PackageError(f"no package at {path}: expected a .zip, a folder or an rdf.yaml")
    try:
        files = PackageFiles(path)  # a zip with unsafe members is refused here
        with _SPEC_LOCK:
            # first offline, every file reference checked against the package's own files
            # (a reference outside would be read, or fetched, by the validating pass)
            first = load_description(
                path, perform_io_checks=False, known_files=_Known(files), format_version="latest"
            )
            _refuse_outside_references(path, first, files)
            return load_description(
                path,
                perform_io_checks=check_hashes,
                known_files=_Offline(),
                format_version="latest",
            )
    except ZooError:
        raise
    except Exception as exc:  # bioimageio.spec raises many kinds for unreadable input
        raise PackageError(
            f"cannot read {path} as a bioimage.io package ({type(exc).__name__}: {exc}); "
            "expected a package .zip, a folder with rdf.yaml, or an rdf.yaml file"
        ) from exc


class _Known(dict[str, None]):
    """``known_files`` of the offline pass: a reference is known iff it is a package file."""

    def __init__(self, files: PackageFiles) -> None:
        super().__init__({"rdf.yaml": None})  # non-empty: unknown references are errors
        self.files = files

    def __contains__(self, ref: object) -> bool:
        return ref in self.files


class _Offline(dict[str, None]):
    """``known_files`` of the validating pass: every http(s) URL (a citation, a git repo)
    counts as known, so validating a package makes no request to wherever it points."""

    def __contains__(self, ref: object) -> bool:
        return str(ref).startswith(("http://", "https://")) or super().__contains__(ref)


def _refuse_outside_references(path: Path, first: Any, files: PackageFiles) -> None:
    """:class:`UnsafeArchiveError` naming each reference of the offline pass that is not a
    file of the package."""
    import re

    from bioimageio.spec import InvalidDescr

    if not isinstance(first, InvalidDescr):
        return
    outside = []
    for detail in first.validation_summary.details:
        for err in detail.errors:
            found = re.search(r"File (.+) not found in `known_files`", err.msg)
            if found:
                outside.append((_format_loc(err.loc), found.group(1)))
    if not outside:
        return
    lines = []
    for loc, ref in outside:
        link = files.links_outside.get(ref)
        where = f"a link to {link}, outside the package" if link else "not a file of the package"
        lines.append(f"  {loc}: {ref} is {where}")
    raise UnsafeArchiveError(
        f"{path} refers to files outside the package:\n" + "\n".join(lines) + "\n"
        "A package must carry every file it uses as a relative path inside it "
        "(no URLs, absolute paths or '..'); zoo reads nothing from outside a package."
    )


def bioimageio_problems(descr: Any) -> list[tuple[str, str]]:
    """The errors of a bioimage.io validation summary as ``(field path, message)`` pairs."""
    problems = []
    for detail in descr.validation_summary.details:
        for err in detail.errors:
            problems.append((_format_loc(err.loc), err.msg))
    return problems or [("<root>", "invalid (no detail given by bioimageio.spec)")]


def with_card(descr: ModelDescr, card: ZooCard) -> ModelDescr:
    """A copy of ``descr`` with ``card`` stored under ``config.zoo``."""
    from bioimageio.spec.model.v0_5 import Config

    config = descr.config.model_dump(mode="json", exclude_unset=True)
    config[CARD_KEY] = card.to_yaml_dict()
    return descr.model_copy(update={"config": Config.model_validate(config)})


def build_model_descr(
    *,
    name: str,
    description: str,
    authors: Sequence[str],
    license: str,
    documentation: Path,
    covers: Sequence[Path],
    test_input: Path,
    test_output: Path,
    weights: Mapping[str, Mapping[str, Any]],
    card: ZooCard | None,
    spatial_axes: str = "yx",
    channels: int = 1,
    size_min: int = 16,
    size_step: int = 8,
    halo: int = 0,
    preprocessing: Sequence[Any] = (),
    postprocessing: Sequence[Any] = (),
    version: str = "0.1.0",
    tags: Sequence[str] = ("denoising", "zoo"),
    cite: Sequence[Mapping[str, str]] = (),
    attachments: Sequence[Path] = (),
    test_tolerance: float | None = None,
    measured: Mapping[str, Any] | None = None,
) -> ModelDescr:
    """Describe a single-input, single-output image-to-image denoiser (bioimage.io 0.5).

    ``size_min`` is the smallest input side the network takes; with a ``halo`` (cut from
    each side of the output by a tool that tiles) the declared minimum is two halos more.
    ``weights`` maps a bioimage.io weight format (``onnx``, ``torchscript``,
    ``pytorch_state_dict``) to the keyword arguments of its weights description (``source``
    and the format's own fields). Files are local paths; they are copied into the package
    by :func:`save_package`. With a card, bioimage.io's own ``config.bioimageio`` fields
    are filled from it (:mod:`zoo.bioimageio_config`), with what the packager ``measured``
    (inference time, memory, parameter count).
    """
    from bioimageio.spec.model import v0_5 as bmz

    space = _SpaceAxes(spatial_axes, channels, size_min + 2 * halo, size_step, halo)
    entries = {fmt: _weights_entry(bmz, fmt, dict(kw)) for fmt, kw in weights.items()}
    config = _config(card, test_tolerance, weights, measured)
    try:
        return bmz.ModelDescr(
            name=name,
            description=description,
            authors=[bmz.Author(name=a) for a in authors],
            license=license,
            documentation=bmz.FileDescr(source=documentation),
            covers=[bmz.FileDescr(source=p) for p in covers],
            cite=[bmz.CiteEntry(**c) for c in cite],
            tags=list(tags),
            version=version,
            attachments=[bmz.FileDescr(source=p) for p in attachments],
            inputs=[
                bmz.InputTensorDescr(
                    id=bmz.TensorId("input"),
                    axes=space.axes(bmz, output=False),
                    test_tensor=bmz.FileDescr(source=test_input),
                    preprocessing=list(preprocessing),
                )
            ],
            outputs=[
                bmz.OutputTensorDescr(
                    id=bmz.TensorId("output"),
                    axes=space.axes(bmz, output=True),
                    test_tensor=bmz.FileDescr(source=test_output),
                    postprocessing=list(postprocessing),
                )
            ],
            weights=bmz.WeightsDescr(**entries),
            config=bmz.Config.model_validate(config),
        )
    except ValidationError as exc:
        raise SpecError(f"cannot describe model {name!r}: {exc}") from exc


@dataclass(frozen=True)
class _SpaceAxes:
    """The axes of a single-image denoiser's tensors: batch, channel, then space."""

    spatial_axes: str
    channels: int
    size_min: int
    size_step: int
    halo: int

    def axes(self, bmz: Any, *, output: bool) -> list[Any]:
        """The input's axes (sizes ``size_min + n * size_step``), or the output's (each
        the size of the input's, with the halo when there is one)."""
        space = []
        for ax in self.spatial_axes:
            if output:
                ref = bmz.SizeReference(tensor_id=bmz.TensorId("input"), axis_id=bmz.AxisId(ax))
                cls = bmz.SpaceOutputAxisWithHalo if self.halo else bmz.SpaceOutputAxis
                kw = {"halo": self.halo} if self.halo else {}
                space.append(cls(id=bmz.AxisId(ax), size=ref, **kw))
            else:
                size = bmz.ParameterizedSize(min=self.size_min, step=self.size_step)
                space.append(bmz.SpaceInputAxis(id=bmz.AxisId(ax), size=size))
        names = [bmz.Identifier(f"channel{i}") for i in range(self.channels)]
        return [bmz.BatchAxis(), bmz.ChannelAxis(channel_names=names), *space]


def _config(
    card: ZooCard | None,
    test_tolerance: float | None,
    weights: Mapping[str, Any],
    measured: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The description's ``config``: the card under ``zoo``, bioimage.io's own fields from
    the card under ``bioimageio``, with the test tolerance of every weight format under
    ``bioimageio.test_kwargs``."""
    from zoo.bioimageio_config import bioimageio_config

    config: dict[str, Any] = {}
    if card is not None:
        config[CARD_KEY] = card.to_yaml_dict()
        config["bioimageio"] = bioimageio_config(card, measured=measured)
    if test_tolerance is not None:
        tol = {"absolute_tolerance": test_tolerance, "relative_tolerance": test_tolerance}
        config.setdefault("bioimageio", {})["test_kwargs"] = {fmt: tol for fmt in weights}
    return config


def _weights_entry(bmz: Any, fmt: str, kwargs: dict[str, Any]) -> Any:
    classes = {
        "onnx": bmz.OnnxWeightsDescr,
        "torchscript": bmz.TorchscriptWeightsDescr,
        "pytorch_state_dict": bmz.PytorchStateDictWeightsDescr,
    }
    if fmt not in classes:
        raise SpecError(f"unsupported weight format {fmt!r}: expected one of {sorted(classes)}")
    if fmt == "pytorch_state_dict" and isinstance(kwargs.get("architecture"), Mapping):
        kwargs["architecture"] = bmz.ArchitectureFromFileDescr(**kwargs["architecture"])
    return classes[fmt](**kwargs)


def save_package(descr: ModelDescr, output: str | os.PathLike[str]) -> Path:
    """Write ``descr`` and all its files as a bioimage.io package zip, atomically.

    The zip is written to a temporary file beside ``output``, then renamed into place, so
    ``output`` is either absent or complete.
    """
    from bioimageio.spec import save_bioimageio_package

    out = Path(output)
    if out.suffix != ".zip":
        raise PackageError(f"package output must end in .zip, got {out.name!r}")
    with atomic_path(out, suffix=".zip") as tmp, _SPEC_LOCK:
        save_bioimageio_package(descr, output_path=tmp)
    logger.info("wrote package %s", out)
    return out


def card_template(package: Package) -> str:
    """A card YAML for ``package``: what its rdf tells is filled in, the rest is ``TODO``.

    The TODOs are deliberately invalid, so a template published unfilled is refused with
    the fields still to fill. bioimage.io's own ``config.bioimageio`` fields fill what they
    can (modality, structures, training, limitations, evaluations); the rest of them are
    noted in the header.
    """
    from zoo.cardfile import card_template_text
    from zoo.spec import MethodName

    descr = package.descr
    axes = descr.inputs[0].axes
    space = [a for a in axes if a.type == "space"]
    channel = [a for a in axes if a.type == "channel"]
    tags = {str(t).lower() for t in descr.tags}
    method = next((m.value for m in MethodName if m.value in tags), None)
    if method is None and "noise2void" in tags:
        method = "n2v"
    framework = next((f for f in ("careamics", "csbdeep", "n2v") if f in tags), "TODO")
    card = {
        "domain": {
            "modality": "TODO",
            "dimensionality": len(space),
            "channels": len(channel[0].channel_names) if channel else 1,
            "dtype": "TODO",
            "structures": ["TODO"],
        },
        "noise": {"type": "TODO"},
        "method": {"name": method or "TODO", "framework": framework},
        "training_data": {"description": "TODO", "license": "TODO"},
        "validation": {"intended_use": "TODO"},
    }
    notes = _apply_hints(card, descr.config)
    intro = [
        f"# zoo card for {descr.name} — fill every TODO, then:",
        f"#   zoo publish {package.source} --card THIS_FILE",
    ]
    return card_template_text(
        card, intro, [f"# bioimage.io {key}: {value}" for key, value in notes.items()]
    )


def _apply_hints(card: dict[str, Any], config: Any) -> dict[str, str]:
    """Fill ``card`` (a template) from ``config.bioimageio``; the bioimage.io fields without
    a card field, for the header."""
    from zoo.bioimageio_config import card_hints

    hints = card_hints(config)
    domain, method, validation = card["domain"], card["method"], card["validation"]
    if "modality" in hints:
        domain["modality"] = hints["modality"]
    domain["structures"] = hints.get("structures", domain["structures"])
    if "architecture" in hints:
        method["architecture"] = hints["architecture"]
    if "hyperparameters" in hints:
        method["hyperparameters"] = hints["hyperparameters"]
    for key in ("limitations", "metrics"):
        if key in hints:
            validation[key] = hints[key]
    return dict(hints.get("notes", {}))
