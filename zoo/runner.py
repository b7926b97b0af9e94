"""Check, then denoise, then write the result with its provenance. The input is never modified.

``MODEL`` is a registry reference ``ID[@VERSION]`` or a path to a package. A ``mismatch``
verdict refuses to run (nothing is written) unless forced; a ``caution`` is recorded in the
provenance. The output is an OME-TIFF plus a JSON sidecar holding the model id, version and
sha256, the backend and tiling, the full check report, the zoo version and the input's sha256.
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
from zoo.errors import DomainMismatchError, ImageError, PackageError
from zoo.files import atomic_path
from zoo.hashes import sha256_file, sha256_path
from zoo.imageio import Image, read_image, write_tiff
from zoo.inference import Predictor, trusted_predictor
from zoo.package import Package, load_package
from zoo.tiling import DEFAULT_TILE, Tiling, auto_tiling, default_tiling, predict_tiled

__all__ = ["ModelRef", "RunResult", "check", "open_model", "run", "run_dask"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A loaded model and where it came from."""

    package: Package
    id: str
    version: str
    sha256: str
    source: str


def open_model(
    model: str | os.PathLike[str], *, registry: str | None = None, cache: Path | None = None
) -> ModelRef:
    """Load ``model``: an existing package path, else a registry ``ID[@VERSION]``."""
    path = Path(model)
    if path.exists():
        package = load_package(path)
        sha = sha256_file(path) if path.is_file() else ""
        version = str(package.descr.version or "")
        return ModelRef(package, package.name, version, sha, str(path))
    from zoo.registry import Registry

    reg = Registry(registry, cache=cache)
    model_id, version, entry = reg.resolve(str(model))
    return ModelRef(reg.load(f"{model_id}@{version}"), model_id, version, entry.sha256, reg.source)


def check(
    model: ModelRef,
    image_path: str | os.PathLike[str],
    *,
    axes: str | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
    modality: str | None = None,
) -> DomainReport:
    """The domain check of one image file for one model."""
    image = read_image(image_path, axes=axes, pixel_size=pixel_size)
    return check_image(model.package, image, modality=modality)


@dataclass(frozen=True)
class RunResult:
    """What a run wrote."""

    output: Path
    sidecar: Path
    report: DomainReport
    provenance: dict[str, Any]
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
    model: ModelRef,
    image_path: str | os.PathLike[str],
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
    with_consistency: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Check, denoise and write ``output`` (OME-TIFF) + ``output.json`` (provenance).

    ``tile`` None: windows of as many pixels as :data:`~zoo.tiling.MEMORY_BUDGET` allows
    for this image (:func:`~zoo.tiling.auto_tiling`), in the grid that computes the fewest
    pixels (:attr:`~zoo.tiling.Tiling.area`); else square windows of at most ``tile``."""
    out, in_path = Path(output), Path(image_path)
    zarr_out = out.suffix.lower() == ".zarr"
    cmap = out.with_name(_stem(out) + ".consistency.ome.tif")
    sidecar = _free_outputs(in_path, out, [cmap] if with_consistency else [], overwrite)
    image = read_image(in_path, axes=axes, pixel_size=pixel_size)
    report = _check_or_refuse(model, image, in_path, modality=modality, force=force)
    predictor, weight_tests = trusted_predictor(
        model.package, weight_format=weight_format, device=device
    )
    if tile is None:
        tiling = auto_tiling(predictor, image.data.size * 4)
    else:
        tiling = default_tiling(model.package, tile=tile)
    data, out_axes = denoise(predictor, image, tiling=tiling, progress=progress)
    if "c" not in image.axes and data.shape[out_axes.index("c")] == 1:
        data, out_axes = data.squeeze(out_axes.index("c")), out_axes.replace("c", "")
    consistency_map = None
    if with_consistency:
        consistency_map, consistency_scores = consistency_planes(predictor, image, tiling)
    provenance = _provenance(
        model, in_path, image.data, image.axes, report, predictor, weight_tests, tiling, force
    )
    provenance["output"] = {"axes": out_axes, "shape": list(data.shape), "dtype": "float32"}
    cmap_path = None
    if consistency_map is not None:
        cmap_path = cmap
        provenance["consistency"] = {"path": str(cmap_path), "planes": consistency_scores}
    # every file is written to a temporary name first; the renames come only once all
    # succeeded (the OME-Zarr folder last, inside the block), so a failure leaves nothing
    with contextlib.ExitStack() as stack:
        if not zarr_out:
            tmp = stack.enter_context(atomic_path(out, suffix=".tif"))
            write_tiff(
                tmp, data, axes=out_axes, pixel_size=image.pixel_size, metadata={"zoo": provenance}
            )
        if cmap_path is not None:
            tmp_map = stack.enter_context(atomic_path(cmap_path, suffix=".tif"))
            meta = {"zoo": {"consistency_of": str(out), **provenance["consistency"]}}
            map_axes = out_axes.replace("c", "")
            write_tiff(
                tmp_map, consistency_map, axes=map_axes, pixel_size=image.pixel_size, metadata=meta
            )
        tmp_json = stack.enter_context(atomic_path(sidecar))
        tmp_json.write_text(json.dumps(provenance, indent=2, default=str))
        if zarr_out:
            from zoo.omezarr import write_ome_zarr

            write_ome_zarr(
                out, data, axes=out_axes, pixel_size=image.pixel_size, metadata={"zoo": provenance}
            )
    return RunResult(out, sidecar, report, provenance, cmap_path)


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
            raise PackageError(f"{target} exists; pass --overwrite to replace it")
    return sidecar


def _check_or_refuse(
    model: ModelRef, image: Image, in_path: Path, *, modality: str | None, force: bool
) -> DomainReport:
    report = check_image(model.package, image, modality=modality)
    if report.verdict == "mismatch" and not force:
        reasons = "; ".join(f"{c.name}: {c.message}" for c in report.failed())
        raise DomainMismatchError(
            f"{in_path} does not match {model.id}@{model.version} ({reasons}); nothing was "
            "written. Use --force to run anyway (the mismatch is recorded in the provenance)."
        )
    return report


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
) -> dict[str, Any]:
    return {
        "zoo_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "id": model.id,
            "version": model.version,
            "sha256": model.sha256,
            "source": model.source,
        },
        "input": {
            "path": str(in_path),
            "sha256": sha256_path(in_path),
            "shape": list(data.shape),
            "axes": axes,
            "dtype": str(data.dtype),
        },
        "backend": predictor.weight_format,
        # exact rewrites of the ONNX graph the session ran (zoo.onnxgraph)
        "graph_nodes_bypassed": predictor.bypassed,
        "weights_tests": [asdict(t) for t in weight_tests],
        "device": predictor.device,
        "tiling": tiling.to_dict(),
        "forced": bool(force and report.verdict == "mismatch"),
        "check": report.to_dict(),
    }


def run_dask(
    model: ModelRef,
    image_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    force: bool = False,
    overwrite: bool = False,
    weight_format: str | None = None,
    tile: int | None = None,
    modality: str | None = None,
) -> RunResult:
    """:func:`run` for OME-Zarr images larger than memory: Dask blocks with halos, on the
    local threads (``scheduler`` None or "local") or a dask.distributed scheduler address.

    The check runs on a central crop (≤ 2048 × 2048) of the middle plane, read alone.
    ``tile`` None: :data:`~zoo.tiling.DEFAULT_TILE` (blocks run in parallel, each with
    its own tile's working memory).
    """
    from zoo.distributed import denoise_zarr
    from zoo.omezarr import is_ome_zarr, open_ome_zarr

    out, in_path = Path(output), Path(image_path)
    if not is_ome_zarr(in_path) or out.suffix.lower() != ".zarr":
        raise ImageError("--dask reads an OME-Zarr image and writes an OME-Zarr (.zarr) output")
    sidecar = _free_outputs(in_path, out, [], overwrite)
    array, axes, pixel_size, _ = open_ome_zarr(in_path)
    h, w = array.shape[-2:]
    top, left = max(0, (h - 2048) // 2), max(0, (w - 2048) // 2)
    middle = tuple(n // 2 for n in array.shape[:-2])
    crop = np.asarray(array[(*middle, slice(top, top + 2048), slice(left, left + 2048))])
    image = Image(crop, "yx", pixel_size={a: v for a, v in pixel_size.items() if a in "yx"})
    report = _check_or_refuse(model, image, in_path, modality=modality, force=force)
    report.notes.append("checked on a central crop of the middle plane (--dask)")
    predictor, weight_tests = trusted_predictor(model.package, weight_format=weight_format)
    tiling = default_tiling(model.package, tile=tile or DEFAULT_TILE)
    provenance = _provenance(
        model, in_path, array, axes, report, predictor, weight_tests, tiling, force
    )
    provenance["output"] = {"axes": axes, "shape": list(array.shape), "dtype": "float32"}
    local = scheduler in (None, "local")
    provenance["dask"] = {"scheduler": "local threads" if local else scheduler}
    with atomic_path(sidecar) as tmp_json:
        tmp_json.write_text(json.dumps(provenance, indent=2, default=str))
        denoise_zarr(
            Path(model.package.source),
            in_path,
            out,
            tiling=tiling,
            weight_format=predictor.weight_format,
            scheduler=None if local else scheduler,
            metadata={"zoo": provenance},
        )
    return RunResult(out, sidecar, report, provenance)


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
