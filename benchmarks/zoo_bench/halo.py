"""bioimage.io tools that tile: bioimageio.core's blocked predict on every live zoo model,
the version that declares no halo against the one that declares zoo's (scripts/declare_halo.py).

The reference is bioimageio.core's whole-image predict of the version without a halo (one
pass of the network over the image, as zoo's runner gives it). Each run is scored by its
PSNR against that reference (peak: the reference's range) over the whole image and over its
interior (the image less twice the halo at each border, where a tool's own padding of the
image decides the result), and by the share of interior pixels off by more than 1 % of the
range. Images: the first held-out image of the model's family (SPLITS.md; EM slices with
their synthesised noise), the example image for a model without one.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from zoo.index import parse_version
from zoo.package import Package, load_package
from zoo.registry import Registry
from zoo.tiling import declared_halo
from zoo_bench.heldout import family_of, heldout_sets
from zoo_bench.training.data import REPO

DOC = REPO / "docs" / "bioimageio-tiling.md"
BLOCKSIZE = 10
"""bioimageio.core's blocksize parameter (block = minimum + 10 steps), as bench_inference."""


@dataclass
class Row:
    model: str
    image: str
    shape: tuple[int, int]
    halo: int
    method: str
    seconds: float
    psnr: float
    psnr_interior: float
    off_interior: float
    """Share of interior pixels off the reference by more than 1 % of its range."""
    psnr_fitted: float
    """PSNR over the interior after a least-squares line onto the reference: what is left
    once a change of the output's scale (another normalisation) is taken out."""


def _image(package: Package) -> tuple[str, np.ndarray]:
    """The first held-out image of the package's family, else the example image."""
    family = family_of(package)
    for hs in heldout_sets() if family is not None else ():
        if hs.family == family:
            return hs.pairs[0].name, np.asarray(hs.pairs[0].noisy, dtype=np.float32)
    from zoo.imageio import read_image

    image = read_image(REPO / "examples" / "ihc-noisy.ome.tif")
    return "examples/ihc-noisy.ome.tif", np.asarray(image.data, dtype=np.float32).squeeze()


def _core(package: Package, x: np.ndarray, blocked: bool) -> tuple[np.ndarray, float]:
    from bioimageio.core import Sample, Tensor, create_prediction_pipeline, predict

    descr = package.descr
    pipeline = create_prediction_pipeline(descr, weight_format="onnx")
    tensor = Tensor.from_numpy(x[None, None], dims=("batch", "channel", "y", "x"))
    sample = Sample(members={descr.inputs[0].id: tensor}, stat={}, id="halo")
    kw = {"blocksize_parameter": BLOCKSIZE} if blocked else {}
    start = time.perf_counter()
    out = predict(model=pipeline, inputs=sample, **kw)
    seconds = time.perf_counter() - start
    return np.asarray(out.members[descr.outputs[0].id].data).squeeze(), seconds


def _psnr(a: np.ndarray, ref: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - ref) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def _line(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``a`` mapped onto ``ref`` by a least-squares line."""
    design = np.stack([a.ravel().astype(np.float64), np.ones(a.size)], 1)
    coef, *_ = np.linalg.lstsq(design, ref.ravel().astype(np.float64), rcond=None)
    return (design @ coef).reshape(a.shape)


def measure(model_id: str, old: Package, new: Package) -> list[Row]:
    """The three runs of one model (see the module's docstring)."""
    name, x = _image(new)
    halo = declared_halo(new)
    ref, _ = _core(old, x, blocked=False)
    peak = float(ref.max() - ref.min())
    inner = (slice(2 * halo, -2 * halo),) * 2
    rows = []
    for method, package, blocked in (
        ("core blocked, no halo declared", old, True),
        ("core blocked, halo declared", new, True),
        ("core whole image, halo declared", new, False),
    ):
        out, seconds = _core(package, x, blocked)
        off = np.abs(out - ref)[inner] > 0.01 * peak
        psnr = _psnr(out, ref, peak), _psnr(out[inner], ref[inner], peak)
        fitted = _psnr(_line(out[inner], ref[inner]), ref[inner], peak)
        row = (*psnr, float(off.mean()), fitted)
        rows.append(Row(model_id, name, x.shape, halo, method, seconds, *row))
    return rows


def run(registry: Registry | None = None) -> list[Row]:
    """Every live model whose newest version declares a halo and an older one does not."""
    registry = registry or Registry(REPO)
    rows: list[Row] = []
    for model_id, entry in sorted(registry.index().models.items()):
        newest = entry.newest()
        if newest is None:
            continue
        new = load_package(registry.fetch(f"{model_id}@{newest}"))
        if not declared_halo(new):
            continue
        for version in sorted(entry.versions, key=parse_version, reverse=True):
            old = _pinned(registry, model_id, version)
            if not declared_halo(old):
                rows += measure(model_id, old, new)
                break
    return rows


def _pinned(registry: Registry, model_id: str, version: str) -> Package:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a yanked version, pinned
        return load_package(registry.fetch(f"{model_id}@{version}"))


def render(rows: list[Row], date: str, minutes: float) -> str:
    """docs/bioimageio-tiling.md."""
    head = [
        "# bioimage.io tools that tile zoo's packages",
        "",
        f"Generated by `python scripts/bench_halo.py` ({date}, {minutes:.0f} min on 2 CPU "
        "cores); do not edit by hand. Method: benchmarks/zoo_bench/halo.py.",
        "",
        "A bioimage.io tool that cuts an image into blocks (bioimageio.core's blocked "
        "predict, measured here) overlaps them by the halo the package declares on its "
        "output's axes, as the spec asks. zoo's packages declared none until their current "
        "versions (scripts/declare_halo.py published them with the halo zoo's own tiles use, "
        "weights unchanged). The reference is bioimageio.core's whole-image predict of the version "
        "without a halo; PSNR against it (peak: its range), over the whole image and over "
        "its interior (less twice the halo at each border, where the tool's padding of the "
        "image decides), and the share of interior pixels off by more than 1 % of the range. "
        f"Blocks: bioimageio.core's blocksize parameter {BLOCKSIZE} (as bench_inference). "
        "bioimageio.core's whole-image predict pads the image by the declared halo before it "
        "computes the percentiles of a per-image normalisation, hence its last row for the "
        "models normalised that way: the output's scale changes (by a few per cent on a "
        "512² image, less on larger ones: the padding is a smaller share of them), which a "
        "least-squares line takes out (last column); the seams of blocks without a halo "
        "stay. zoo's runner normalises the image as it is.",
        "",
        "| model | image | size | halo px | run | s | PSNR dB | PSNR interior dB | "
        "interior pixels off > 1 % | PSNR interior after a line dB |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    body = [
        f"| {r.model} | {r.image} | {r.shape[0]}×{r.shape[1]} | {r.halo} | {r.method} | "
        f"{r.seconds:.2f} | {_db(r.psnr)} | {_db(r.psnr_interior)} | {r.off_interior:.2%} | "
        f"{_db(r.psnr_fitted)} |"
        for r in rows
    ]
    return "\n".join(head + body) + "\n"


def _db(value: float) -> str:
    """dB, or "exact" where only float rounding is left (the line's fit of exact results)."""
    return "exact" if value > EXACT_DB else f"{value:.1f}"


EXACT_DB = 150.0
"""Above this, a PSNR is float rounding alone."""


def write(rows: list[Row], date: str, minutes: float, doc: Path = DOC) -> Path:
    """docs/bioimageio-tiling.json (the run) and the Markdown rendered from it."""
    run = {"date": date, "minutes": minutes, "rows": [asdict(r) for r in rows]}
    doc.with_suffix(".json").write_text(json.dumps(run, indent=1) + "\n")
    return render_doc(doc)


def render_doc(doc: Path = DOC) -> Path:
    """Render ``doc`` from its JSON, as the run wrote it."""
    run = json.loads(doc.with_suffix(".json").read_text())
    rows = [Row(**{**r, "shape": tuple(r["shape"])}) for r in run["rows"]]
    doc.write_text(render(rows, run["date"], run["minutes"]))
    return doc
