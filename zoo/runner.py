"""Check, then denoise, then write the result with its provenance. The input is never modified.

``MODEL`` is a registry reference ``ID[@VERSION]`` or a path to a package. A ``mismatch``
verdict refuses to run (nothing is written) unless forced; an image the model cannot take at
all (channel count, dimensionality, size) is refused even when forced
(:class:`~zoo.errors.IncompatibleImageError`; ``channel`` picks one channel of a
multi-channel image). A ``caution`` is recorded in the provenance. The output is an
OME-TIFF (or OME-Zarr) plus a JSON sidecar holding the model id, version and sha256, the
backend and tiling, the full check report, the zoo version and the input's sha256. Its pixels
are float32 whatever the input's dtype, or the input's dtype (rounded and clipped to its
range) with ``dtype="input"``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from zoo import __version__
from zoo.domain import DomainReport, check_image
from zoo.errors import ImageError, OutputExistsError
from zoo.files import atomic_path
from zoo.hashes import sha256_file, sha256_path
from zoo.imageio import Image, output_dtype, read_image, select_channel, to_dtype, write_tiff
from zoo.inference import Predictor, trusted_predictor
from zoo.memory import DEFAULT_TILE
from zoo.package import Package, load_package
from zoo.provenance import (
    ConsistencyRecord,
    DaskRecord,
    InputRecord,
    ModelRecord,
    OutputRecord,
    PlaneConsistency,
    Provenance,
    TilingRecord,
    TrialRecord,
    WeightsTestRecord,
)
from zoo.refusal import check_or_refuse, refuse
from zoo.tiling import Tiling, auto_tiling, default_tiling, predict_tiled
from zoo.trial import Trial, trial_of

__all__ = [
    "ModelLike",
    "ModelRef",
    "RunResult",
    "check",
    "check_or_refuse",
    "open_model",
    "refuse",
    "run",
    "run_dask",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A loaded model and where it came from."""

    package: Package
    id: str
    version: str
    sha256: str
    source: str


ModelLike = ModelRef | Package | str | os.PathLike[str]
"""A model: a registry reference ``ID[@VERSION]``, a package path, or one already opened."""


def open_model(
    model: ModelLike, *, registry: str | None = None, cache: Path | None = None
) -> ModelRef:
    """Load ``model``: an existing package path, else a registry ``ID[@VERSION]``.

    An opened model (a :class:`ModelRef`, or a :class:`~zoo.package.Package`) is taken as
    it is; ``registry`` and ``cache`` are those of :class:`~zoo.registry.Registry`.
    """
    if isinstance(model, ModelRef):
        return model
    if isinstance(model, Package):
        return _package_ref(model)
    path = Path(model)
    if path.exists():
        return _package_ref(load_package(path))
    from zoo.registry import Registry

    reg = Registry(registry, cache=cache)
    model_id, version, entry = reg.resolve(str(model))
    return ModelRef(reg.load(f"{model_id}@{version}"), model_id, version, entry.sha256, reg.source)


def _package_ref(package: Package) -> ModelRef:
    """A package loaded from a path: its own name and version, the zip's sha256."""
    path = package.source
    sha = sha256_file(path) if path.is_file() else ""
    version = str(package.descr.version or "")
    return ModelRef(package, package.name, version, sha, str(path))


def check(
    model: ModelLike,
    image: str | os.PathLike[str],
    *,
    axes: str | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
    modality: str | None = None,
    channel: int | None = None,
    registry: str | None = None,
    cache: Path | None = None,
) -> DomainReport:
    """The domain check of one image file for one model (of its one channel ``channel``)."""
    ref = open_model(model, registry=registry, cache=cache)
    data = read_image(image, axes=axes, pixel_size=pixel_size, channel=channel)
    return check_image(ref.package, data, modality=modality)


@dataclass(frozen=True)
class RunResult:
    """What a run wrote."""

    output: Path
    sidecar: Path
    report: DomainReport
    provenance: Provenance
    """What the sidecar holds (:meth:`~zoo.provenance.Provenance.to_dict` gives its JSON data)."""
    consistency: Path | None = None
    """The consistency map (``--consistency``), an OME-TIFF beside the output."""


def _planes(image: Image, space: str) -> tuple[np.ndarray, str]:
    """The image as (..., C, *space): leading non-model axes first, channel, model space."""
    data, axes = image.data, image.axes
    if "c" not in axes:
        data, axes = data[..., np.newaxis], axes + "c"
    lead = [a for a in axes if a not in space and a != "c"]
    order = [axes.index(a) for a in [*lead, "c", *space]]
    return np.transpose(data, order), "".join(lead) + "c" + space


def denoise(
    predictor: Predictor,
    image: Image,
    *,
    tiling: Tiling,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, str]:
    """Denoise every plane / volume of ``image`` the model's input can take; (data, axes)."""
    space = "".join(a for a in predictor.input_axes if a not in "bc")
    data, axes = _planes(image, space)
    lead_shape = data.shape[: len(axes) - len(space) - 1]
    out = np.empty(data.shape, np.float32)
    count = int(np.prod(lead_shape)) if lead_shape else 1
    for n, index in enumerate(np.ndindex(*lead_shape)):

        def tiles(done: int, total: int, n: int = n) -> None:
            if progress:  # planes × tiles as one count
                progress(n * total + done, count * total)

        predict_tiled(
            predictor,
            data[index].astype(np.float32, copy=False),
            tiling=tiling,
            progress=tiles,
            out=out[index],
        )
    return out, axes


def run(
    model: ModelLike,
    image: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    force: bool = False,
    overwrite: bool = False,
    weight_format: str | None = None,
    device: str = "auto",
    tile: int | None = None,
    axes: str | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
    modality: str | None = None,
    channel: int | None = None,
    dtype: str = "float32",
    with_consistency: bool = False,
    with_trial: bool = False,
    progress: Callable[[int, int], None] | None = None,
    registry: str | None = None,
    cache: Path | None = None,
) -> RunResult:
    """Check, denoise and write ``output`` (OME-TIFF) + ``output.json`` (provenance).

    ``channel`` keeps that one channel of the image (before the check and the run; the
    output has that channel only). ``dtype`` "float32": the output is float32, whatever
    the input; "input": the input's dtype, rounded and clipped to its range.
    ``tile`` None: windows of as many pixels as :data:`~zoo.memory.MEMORY_BUDGET` allows
    for this image (:func:`~zoo.tiling.auto_tiling`), in the grid that computes the fewest
    pixels (:attr:`~zoo.tiling.Tiling.area`); else square windows of at most ``tile``.
    ``with_trial``: run the no-reference trial (:mod:`zoo.trial`) before the run as the
    check's last stage (:func:`~zoo.domain.with_trial`: a model estimated not to beat a
    Gaussian filter on the image is at least a caution where the learned score is at or
    above the trial cut; it never refuses by itself) and record it in the provenance."""
    output_dtype(dtype, np.float32)  # an unknown rule is refused before anything is read
    ref = open_model(model, registry=registry, cache=cache)
    out, in_path = Path(output), Path(image)
    cmap = out.with_name(_stem(out) + ".consistency.ome.tif")
    sidecar = _free_outputs(in_path, out, [cmap] if with_consistency else [], overwrite)
    raw = read_image(in_path, axes=axes, pixel_size=pixel_size)
    out_dtype = output_dtype(dtype, raw.data.dtype)
    img = raw if channel is None else select_channel(raw, channel, in_path.name)
    staged: dict[str, Any] = {}  # the trial's predictor and result, when it ran

    def trial() -> Trial:
        staged["predictor"] = trusted_predictor(
            ref.package, weight_format=weight_format, device=device
        )
        staged["trial"] = trial_of(staged["predictor"][0], img)
        return staged["trial"]

    report = check_or_refuse(ref, img, in_path, modality=modality, force=force,
                             channel=channel, trial=trial if with_trial else None)  # fmt: skip
    predictor, weight_tests = staged.get("predictor") or trusted_predictor(
        ref.package, weight_format=weight_format, device=device
    )
    found: Trial | None = staged.get("trial")
    if tile is None:
        tiling = auto_tiling(predictor, img.data.size * 4)
    else:
        tiling = default_tiling(ref.package, tile=tile)
    data, out_axes = denoise(predictor, img, tiling=tiling, progress=progress)
    if "c" not in img.axes and data.shape[out_axes.index("c")] == 1:
        data, out_axes = data.squeeze(out_axes.index("c")), out_axes.replace("c", "")
    consistency_map, consistency = None, None
    if with_consistency:
        consistency_map, consistency_scores = consistency_planes(predictor, img, tiling)
        planes = [PlaneConsistency.model_validate(p) for p in consistency_scores]
        consistency = ConsistencyRecord(path=str(cmap), planes=planes)
    data = to_dtype(data, out_dtype)
    provenance = _provenance(
        ref, in_path, raw.data, raw.axes, report, predictor, weight_tests, tiling, force,
        output=OutputRecord(axes=out_axes, shape=list(data.shape), dtype=str(data.dtype)),
        consistency=consistency, channel=channel,
        trial=None if found is None else TrialRecord.model_validate(found.to_dict()),
    )  # fmt: skip
    _write_outputs(out, sidecar, data, out_axes, img.pixel_size, provenance, consistency_map)
    return RunResult(out, sidecar, report, provenance, None if consistency is None else cmap)


def _write_outputs(
    out: Path,
    sidecar: Path,
    data: np.ndarray,
    axes: str,
    pixel_size: dict[str, float],
    provenance: Provenance,
    consistency_map: np.ndarray | None,
) -> None:
    """Write the output (OME-TIFF or OME-Zarr), the consistency map and the sidecar.

    Every file is written to a temporary name first; the renames come only once all
    succeeded (the OME-Zarr folder last, inside the block), so a failure leaves nothing."""
    meta = {"zoo": provenance.to_dict()}
    with contextlib.ExitStack() as stack:
        if out.suffix.lower() != ".zarr":
            tmp = stack.enter_context(atomic_path(out, suffix=".tif"))
            write_tiff(tmp, data, axes=axes, pixel_size=pixel_size, metadata=meta)
        if consistency_map is not None and provenance.consistency is not None:
            cmap_path = Path(provenance.consistency.path)
            tmp_map = stack.enter_context(atomic_path(cmap_path, suffix=".tif"))
            record = provenance.consistency.model_dump()
            map_meta = {"zoo": {"consistency_of": str(out), **record}}
            map_axes = axes.replace("c", "")
            write_tiff(
                tmp_map, consistency_map, axes=map_axes, pixel_size=pixel_size, metadata=map_meta
            )
        tmp_json = stack.enter_context(atomic_path(sidecar))
        tmp_json.write_text(json.dumps(meta["zoo"], indent=2, default=str))
        if out.suffix.lower() == ".zarr":
            from zoo.omezarr import write_ome_zarr

            write_ome_zarr(out, data, axes=axes, pixel_size=pixel_size, metadata=meta)


def _free_outputs(in_path: Path, out: Path, extra: list[Path], overwrite: bool) -> Path:
    """Refuse an output that would replace the input, or an existing one without
    ``overwrite``; returns the provenance sidecar's path."""
    if out.suffix.lower() not in (".tif", ".tiff", ".zarr"):
        raise ImageError(
            f"output must be a .tif / .ome.tif file or a .zarr folder, got {out.name!r}"
        )
    if out.resolve() == in_path.resolve():
        raise ImageError("the output would overwrite the input; choose another output path")
    sidecar = out.with_name(out.name + ".json")
    for target in (out, sidecar, *extra):
        if target.exists() and not overwrite:
            raise OutputExistsError(f"{target} exists; pass --overwrite to replace it")
    return sidecar


def _provenance(
    model: ModelRef,
    in_path: Path,
    data: Any,
    axes: str,
    report: DomainReport,
    predictor: Predictor,
    weight_tests: list[Any],
    tiling: Tiling,
    force: bool,
    *,
    output: OutputRecord,
    consistency: ConsistencyRecord | None = None,
    dask: DaskRecord | None = None,
    channel: int | None = None,
    trial: TrialRecord | None = None,
) -> Provenance:
    return Provenance(
        zoo_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        model=ModelRecord(
            id=model.id, version=model.version, sha256=model.sha256, source=model.source
        ),
        input=InputRecord(
            path=str(in_path),
            sha256=sha256_path(in_path),
            shape=list(data.shape),
            axes=axes,
            dtype=str(data.dtype),
            channel=channel,
        ),
        backend=predictor.weight_format,
        graph_nodes_bypassed=predictor.bypassed,
        weights_tests=[WeightsTestRecord.model_validate(asdict(t)) for t in weight_tests],
        device=predictor.device,
        tiling=TilingRecord.model_validate(tiling.to_dict()),
        forced=bool(force and report.verdict == "mismatch"),
        check=report,
        output=output,
        consistency=consistency,
        dask=dask,
        trial=trial,
    )


def run_dask(
    model: ModelLike,
    image: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    force: bool = False,
    overwrite: bool = False,
    weight_format: str | None = None,
    tile: int | None = None,
    modality: str | None = None,
    channel: int | None = None,
    dtype: str = "float32",
    registry: str | None = None,
    cache: Path | None = None,
) -> RunResult:
    """:func:`run` for OME-Zarr images larger than memory: Dask blocks with halos, on the
    local threads (``scheduler`` None or "local") or a dask.distributed scheduler address.

    The check runs on a central crop (≤ 2048 × 2048) of the middle plane, read alone;
    ``channel`` and ``dtype`` are those of :func:`run`.
    ``tile`` None: :data:`~zoo.memory.DEFAULT_TILE` (blocks run in parallel, each with
    its own tile's working memory).
    """
    from zoo.distributed import denoise_zarr
    from zoo.omezarr import is_ome_zarr, open_ome_zarr

    output_dtype(dtype, np.float32)  # an unknown rule is refused before anything is read
    ref = open_model(model, registry=registry, cache=cache)
    out, in_path = Path(output), Path(image)
    if not is_ome_zarr(in_path) or out.suffix.lower() != ".zarr":
        raise ImageError("--dask reads an OME-Zarr image and writes an OME-Zarr (.zarr) output")
    sidecar = _free_outputs(in_path, out, [], overwrite)
    array, axes, pixel_size, _ = open_ome_zarr(in_path)
    out_dtype = output_dtype(dtype, array.dtype)
    img = _central_crop(array, axes, pixel_size)
    img = img if channel is None else select_channel(img, channel, in_path.name)
    kept = [(a, n) for a, n in zip(axes, array.shape, strict=True) if a != "c" or channel is None]
    out_axes, out_shape = "".join(a for a, _ in kept), [n for _, n in kept]
    report = check_or_refuse(ref, img, in_path, modality=modality, force=force, channel=channel)
    report.notes.append("checked on a central crop of the middle plane (--dask)")
    predictor, weight_tests = trusted_predictor(ref.package, weight_format=weight_format)
    tiling = default_tiling(ref.package, tile=tile or DEFAULT_TILE)
    local = scheduler in (None, "local")
    provenance = _provenance(
        ref, in_path, array, axes, report, predictor, weight_tests, tiling, force,
        output=OutputRecord(axes=out_axes, shape=out_shape, dtype=str(out_dtype)),
        dask=DaskRecord(scheduler="local threads" if local else str(scheduler)), channel=channel,
    )  # fmt: skip
    meta = {"zoo": provenance.to_dict()}
    with atomic_path(sidecar) as tmp_json:
        tmp_json.write_text(json.dumps(meta["zoo"], indent=2, default=str))
        denoise_zarr(
            Path(ref.package.source),
            in_path,
            out,
            tiling=tiling,
            weight_format=predictor.weight_format,
            scheduler=None if local else scheduler,
            metadata=meta,
            channel=channel,
            dtype=out_dtype,
        )
    return RunResult(out, sidecar, report, provenance)


def _central_crop(array: Any, axes: str, pixel_size: dict[str, float]) -> Image:
    """A central crop (≤ 2048 × 2048) of the middle plane of an OME-Zarr array, every
    channel kept, read alone."""
    h, w = array.shape[-2:]
    top, left = max(0, (h - 2048) // 2), max(0, (w - 2048) // 2)
    lead = axes[:-2]
    index = tuple(
        slice(None) if a == "c" else n // 2 for a, n in zip(lead, array.shape[:-2], strict=True)
    )
    crop = np.asarray(array[(*index, slice(top, top + 2048), slice(left, left + 2048))])
    kept = "c" if "c" in lead else ""
    return Image(crop, kept + "yx", pixel_size={a: v for a, v in pixel_size.items() if a in "yx"})


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def consistency_planes(
    predictor: Predictor, image: Image, tiling: Tiling
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """The consistency map of every 2D plane of a single-channel 2D model's input."""
    from zoo.consistency import consistency

    if "".join(a for a in predictor.input_axes if a not in "bc") != "yx":
        raise ImageError("the consistency map is defined for 2D (yx) models only")
    data, axes = _planes(image, "yx")
    if data.shape[len(axes) - 3] != 1:
        raise ImageError("the consistency map is defined for single-channel images only")

    def denoise_plane(plane: np.ndarray) -> np.ndarray:
        return predict_tiled(predictor, plane[np.newaxis], tiling=tiling)[0]

    lead_shape = data.shape[: len(axes) - 3]
    maps = np.empty(lead_shape + data.shape[-2:], np.float32)
    scores = []
    for index in np.ndindex(*lead_shape):
        result = consistency(denoise_plane, data[index][0])
        maps[index] = result.map
        scores.append(result.to_dict())
    return maps, scores
