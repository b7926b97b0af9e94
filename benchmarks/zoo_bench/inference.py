"""Inference throughput and memory: zoo against bioimageio.core and raw ONNX Runtime.

On the same package and image, in one run: zoo's Python API (check excluded, timed apart),
``zoo run`` end to end (a subprocess: start-up, check, read, write included),
``bioimageio.core`` predict with and without blocking, and raw ONNX Runtime ``session.run``
on the whole pre-processed image: on the package's graph as it is (``ort``, the issue's
reference) and on the graph zoo's sessions run (``ort_zoo_graph``: identity nodes bypassed,
zoo.onnxgraph), which leaves the tiles' halo as the only difference to ``zoo``. Each method
and size runs in its own process so its peak RSS is its own; --repeat rounds run every
method once each, in turn, so that the machine's drift in speed reaches all alike. Prints
seconds (best of the rounds), throughput (MPix/s), ratios to bioimageio.core blocked and to
raw ONNX Runtime (both graphs), peak RSS, and the domain check's share of zoo's inference
time; then the issue's targets with PASS/FAIL.

``--baseline-src DIR`` names another checkout of zoo (e.g. a git worktree of an earlier
commit): the zoo methods then also run with that checkout's zoo first on ``PYTHONPATH``, in
the same rounds, and the table gives each one's time as a ratio to the baseline's (before and
after a change, in one run).

    python scripts/bench_inference.py [--package ID_OR_PATH ...] [--sizes 512 2048 8192]
        [--repeat 3] [--whole-max 2048] [--methods ...] [--baseline-src DIR]
        [--write docs/performance.md] [--section NAME]

``--write`` replaces this run's section of the markdown file (``--section``, default
bench_inference), so runs with other sizes or methods can have sections of their own.

Images are the synthetic IHC image of ../shared/data tiled to each size (float32).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from zoo_bench.inference_report import BEFORE, report
from zoo_bench.perfdoc import best_seconds

REPO = Path(__file__).resolve().parents[2]  # the checkout: benchmarks/zoo_bench/inference.py
DATA = Path(os.environ.get("ZOO_SHARED_DATA", REPO.parent / "shared" / "data"))
METHODS = ("zoo", "zoo_tile1056", "zoo_run", "core_blocked", "core_whole", "ort", "ort_zoo_graph")
BIG_TILE = 1056  # zoo_tile1056: 2 × 2 windows at 2048², more memory than the default allows
# memory grows with the image: capped by --whole-max
WHOLE_IMAGE = {"core_whole", "ort", "ort_zoo_graph"}
ZOO_METHODS = ("zoo", "zoo_tile1056", "zoo_run")  # those --baseline-src runs a second time

WARM_UP = 2
"""Untimed runs before the timed ones, for every method: ONNX Runtime plans its memory on
the first run of a shape and allocates that plan on the second (docs/performance.md)."""


def _image(size: int) -> np.ndarray:
    base = np.load(DATA / "synthetic" / "noisy.npy")
    reps = -(-size // base.shape[0])
    return np.ascontiguousarray(np.tile(base, (reps, reps))[:size, :size], dtype=np.float32)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _windows_label(predictor, size: int, tiling) -> str | None:  # type: ignore[no-untyped-def]
    """'2 × 3 of 1056 × 728': the grid of windows zoo computes, when zoo.tiling tells it."""
    import zoo.tiling

    grids = getattr(zoo.tiling, "_grids", None)  # private: a checkout may not have it
    if grids is None:
        return None
    grid = list(grids(predictor, (1, 1, size, size), tiling).values())
    counts = " × ".join(str(len(w)) for w in grid)
    return f"{counts} of {' × '.join(str(w[0][1] - w[0][0]) for w in grid)}"


def _zoo(method: str, model, x: np.ndarray, repeat: int) -> dict:  # type: ignore[no-untyped-def]
    """zoo's Python API: ``predict_tiled`` with the default tiling (or 1056² windows), and the
    domain check timed apart. Uses only names every checkout of zoo since the tiling module
    has, so that --baseline-src can run it with an earlier zoo."""
    from zoo.domain import check_image
    from zoo.imageio import Image
    from zoo.inference import Predictor
    from zoo.tiling import auto_tiling, default_tiling, predict_tiled

    predictor = Predictor(model.package, weight_format="onnx")
    if method == "zoo_tile1056":
        tiling = default_tiling(model.package, tile=BIG_TILE)
    else:  # the default's: a window's pixels bounded by the memory budget
        tiling = auto_tiling(predictor, x.size * 4)
    extra: dict = {"tile": _windows_label(predictor, x.shape[-1], tiling)}
    extra["seconds"] = best_seconds(
        lambda: predict_tiled(predictor, x[np.newaxis], tiling=tiling), repeat, warm_up=WARM_UP
    )
    if method == "zoo":
        extra["check_s"] = best_seconds(
            lambda: check_image(model.package, Image(x, "yx")), repeat, warm_up=WARM_UP
        )
    return extra


def _ort(method: str, model, x: np.ndarray, repeat: int) -> dict:  # type: ignore[no-untyped-def]
    """Raw ONNX Runtime on the whole pre-processed image, the package's graph or zoo's."""
    import onnxruntime as ort

    from zoo.inference import tensor_axes
    from zoo.onnxgraph import bypass_identities
    from zoo.processing import apply_processing

    weights = model.package.descr.weights.onnx
    if weights.external_data is not None:
        raise SystemExit("the ort methods read single-file ONNX weights only")
    graph = weights.get_reader().read()
    if method == "ort_zoo_graph":
        graph, _ = bypass_identities(graph)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    inp = model.package.descr.inputs[0]
    pre = apply_processing(x[None, None], tensor_axes(inp), inp.preprocessing)
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(pre, dtype=np.float32)}
    return {"seconds": best_seconds(lambda: session.run(None, feed), repeat, warm_up=WARM_UP)}


def _core(method: str, model, x: np.ndarray, repeat: int) -> dict:  # type: ignore[no-untyped-def]
    """bioimageio.core's predict, blocked or on the whole image."""
    from bioimageio.core import Sample, Tensor, create_prediction_pipeline, predict

    descr = model.package.descr
    pipeline = create_prediction_pipeline(descr, weight_format="onnx")
    tensor = Tensor.from_numpy(x[None, None], dims=("batch", "channel", "y", "x"))
    sample = Sample(members={descr.inputs[0].id: tensor}, stat={}, id="bench")
    blocks = {"blocksize_parameter": 10} if method == "core_blocked" else {}
    return {
        "seconds": best_seconds(
            lambda: predict(model=pipeline, inputs=sample, **blocks), repeat, warm_up=WARM_UP
        )
    }


def worker(method: str, size: int, package_ref: str, repeat: int) -> dict:
    """One method at one size, in this process; returns seconds, peak RSS and where the zoo
    that ran came from."""
    import zoo
    from zoo.runner import open_model

    kinds = {"zoo": _zoo, "ort": _ort, "core": _core}
    run = next((fn for prefix, fn in kinds.items() if method.startswith(prefix)), None)
    if run is None:
        raise SystemExit(f"unknown method {method}")
    got = run(method, open_model(package_ref), _image(size), repeat)
    zoo_from = str(Path(zoo.__file__).resolve().parents[1])
    return {**got, "rss_mb": _peak_rss_mb(), "zoo_from": zoo_from}


def _env(src: Path | None) -> dict[str, str] | None:
    """The environment of a method's process: this one's, with ``src`` first on PYTHONPATH."""
    if src is None:
        return None
    path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def run_cli(size: int, package_ref: str, src: Path | None = None) -> dict:
    """``zoo run`` end to end on an .npy file; wall time and the child's peak RSS."""
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        image = Path(tmp) / "in.npy"
        np.save(image, _image(size))
        zoo = Path(sys.executable).parent / "zoo"
        out = Path(tmp) / "out.tif"
        cmd = [str(zoo), "run", package_ref, str(image), "-o", str(out), "--force"]
        probe = (
            "import resource,subprocess,sys,time,json;t=time.perf_counter();"
            "r=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
            "print(json.dumps({'rc':r.returncode,'err':r.stderr[-500:],"
            "'seconds':time.perf_counter()-t,"
            "'rss_mb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=_env(src)
        )
        result = json.loads(done.stdout)
        if result["rc"] != 0:
            raise RuntimeError(f"zoo run failed: {result['err']}")
        return result


def measure(method: str, size: int, package_ref: str, repeat: int, src: Path | None = None) -> dict:
    """One method at one size in a process of its own; with ``src``, that checkout's zoo."""
    if method == "zoo_run":
        return run_cli(size, package_ref, src)
    # -P: the working directory's zoo must not come before PYTHONPATH's
    argv = [sys.executable, "-P", "-m", "zoo_bench.inference", "--worker", method,
            "--size", str(size), "--package", package_ref, "--repeat", str(repeat)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(src))
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if src is not None and Path(got["zoo_from"]) != src.resolve():
        raise SystemExit(f"--baseline-src {src}: the worker imported zoo from {got['zoo_from']}")
    return got


def _best_of(before: dict | None, got: dict) -> dict:
    """Two rounds' results of one method: the shorter time, the larger peak RSS."""
    if before is None or "error" in before:
        return got
    if "error" in got:
        return before
    best = dict(min(before, got, key=lambda r: r["seconds"]))
    best["rss_mb"] = max(before["rss_mb"], got["rss_mb"])
    if "check_s" in got:
        best["check_s"] = min(before["check_s"], got["check_s"])
    return best


def _rounds(ref: str, size: int, methods: list[str], args: argparse.Namespace) -> dict:
    """Every method once per round, --repeat rounds; with --baseline-src each zoo method
    beside its baseline, which of the two goes first alternating from round to round."""
    results: dict[str, dict] = {}
    for n in range(args.repeat):  # rounds: the machine's drift reaches every method
        for method in methods:
            runs = [(method, None)]
            if args.baseline_src and method in ZOO_METHODS:
                runs.append((method + BEFORE, args.baseline_src))
            for name, src in runs[:: 1 - 2 * (n % 2)]:
                got = measure(method, size, ref, 1, src)
                print(f"  {ref} {size}² {name}: {got}", file=sys.stderr)
                results[name] = _best_of(results.get(name), got)
    return results


def _methods_at(size: int, args: argparse.Namespace) -> list[str]:
    return [
        m
        for m in args.methods
        if not (m in WHOLE_IMAGE and size > args.whole_max)
        # minutes per run; the targets compare at 2048²
        and not (m == "core_blocked" and size > max(args.whole_max, 2048))
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--package", action="append", help="ID[@VERSION] or path (repeatable)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whole-max", type=int, default=2048, help="largest whole-image size")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another checkout of zoo (e.g. a git worktree of an earlier commit): the zoo "
        "methods run with its zoo too, and the table gives their time against it",
    )
    parser.add_argument("--write", type=Path, help="also write the results as markdown here")
    parser.add_argument("--section", default="bench_inference", help="section of --write")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line), measure, print and optionally write."""
    args = _parser().parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.size, args.package[0], args.repeat)))
        return
    if args.baseline_src and not (args.baseline_src / "zoo" / "__init__.py").is_file():
        raise SystemExit(f"--baseline-src {args.baseline_src}: no zoo/__init__.py there")
    results = {
        (ref, size): _rounds(ref, size, _methods_at(size, args), args)
        for ref in args.package or ["n2v-ihc-careamics"]
        for size in args.sizes
    }
    report(results, args, default_methods=list(METHODS), warm_up=WARM_UP)


if __name__ == "__main__":
    main()
