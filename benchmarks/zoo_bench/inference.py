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

    python scripts/bench_inference.py [--package ID_OR_PATH ...] [--sizes 512 2048 8192]
        [--repeat 3] [--whole-max 2048] [--methods ...] [--write docs/performance.md]
        [--section NAME]

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
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]  # the checkout: benchmarks/zoo_bench/inference.py
DATA = Path(os.environ.get("ZOO_SHARED_DATA", REPO.parent / "shared" / "data"))
METHODS = ("zoo", "zoo_tile1056", "zoo_run", "core_blocked", "core_whole", "ort", "ort_zoo_graph")
BIG_TILE = 1056  # zoo_tile1056: 2 × 2 windows at 2048², more memory than the default allows
# memory grows with the image: capped by --whole-max
WHOLE_IMAGE = {"core_whole", "ort", "ort_zoo_graph"}


def _image(size: int) -> np.ndarray:
    base = np.load(DATA / "synthetic" / "noisy.npy")
    reps = -(-size // base.shape[0])
    return np.ascontiguousarray(np.tile(base, (reps, reps))[:size, :size], dtype=np.float32)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


WARM_UP = 2
"""Untimed runs before the timed ones, for every method: ONNX Runtime plans its memory on
the first run of a shape and allocates that plan on the second (for a whole 2048² image
that second run was 2.5-4× slower than the ones after it)."""


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(WARM_UP):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def worker(method: str, size: int, package_ref: str, repeat: int) -> dict:
    """One method at one size, in this process; returns seconds and peak RSS."""
    from zoo.runner import open_model

    model = open_model(package_ref)
    x = _image(size)
    extra: dict = {}
    if method.startswith("zoo"):
        from zoo.domain import check_image
        from zoo.imageio import Image
        from zoo.inference import Predictor
        from zoo.tiling import _grids, auto_tiling, default_tiling, predict_tiled

        predictor = Predictor(model.package, weight_format="onnx")
        if method == "zoo_tile1056":
            tiling = default_tiling(model.package, tile=BIG_TILE)
        else:  # the default's: a window's pixels bounded by the memory budget
            tiling = auto_tiling(predictor, x.size * 4)
        grid = list(_grids(predictor, (1, 1, size, size), tiling).values())
        extra["tile"] = (
            f"{' × '.join(str(len(w)) for w in grid)} of "
            f"{' × '.join(str(w[0][1] - w[0][0]) for w in grid)}"
        )
        seconds = _best(lambda: predict_tiled(predictor, x[np.newaxis], tiling=tiling), repeat)
        if method == "zoo":
            extra["check_s"] = _best(lambda: check_image(model.package, Image(x, "yx")), repeat)
    elif method.startswith("ort"):
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
        seconds = _best(lambda: session.run(None, feed), repeat)
    elif method.startswith("core"):
        from bioimageio.core import Sample, Tensor, create_prediction_pipeline, predict

        descr = model.package.descr
        pipeline = create_prediction_pipeline(descr, weight_format="onnx")
        tensor = Tensor.from_numpy(x[None, None], dims=("batch", "channel", "y", "x"))
        sample = Sample(members={descr.inputs[0].id: tensor}, stat={}, id="bench")
        blocks = {"blocksize_parameter": 10} if method == "core_blocked" else {}
        seconds = _best(lambda: predict(model=pipeline, inputs=sample, **blocks), repeat)
    else:
        raise SystemExit(f"unknown method {method}")
    return {"seconds": seconds, "rss_mb": _peak_rss_mb(), **extra}


def run_cli(size: int, package_ref: str) -> dict:
    """``zoo run`` end to end on an .npy file; wall time and the child's peak RSS."""
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        src = Path(tmp) / "in.npy"
        np.save(src, _image(size))
        zoo = Path(sys.executable).parent / "zoo"
        cmd = [str(zoo), "run", package_ref, str(src), "-o", str(Path(tmp) / "out.tif"), "--force"]
        probe = (
            "import resource,subprocess,sys,time,json;t=time.perf_counter();"
            "r=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
            "print(json.dumps({'rc':r.returncode,'err':r.stderr[-500:],"
            "'seconds':time.perf_counter()-t,"
            "'rss_mb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))"
        )
        done = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True)
        result = json.loads(done.stdout)
        if result["rc"] != 0:
            raise RuntimeError(f"zoo run failed: {result['err']}")
        return result


def measure(method: str, size: int, package_ref: str, repeat: int) -> dict:
    if method == "zoo_run":
        return run_cli(size, package_ref)
    argv = [sys.executable, "-m", "zoo_bench.inference", "--worker", method, "--size", str(size),
            "--package", package_ref, "--repeat", str(repeat)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line), measure, print and optionally write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", action="append", help="ID[@VERSION] or path (repeatable)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whole-max", type=int, default=2048, help="largest whole-image size")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--write", type=Path, help="also write the results as markdown here")
    parser.add_argument("--section", default="bench_inference", help="section of --write")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.size, args.package[0], args.repeat)))
        return
    packages = args.package or ["n2v-ihc-careamics"]
    rows = []
    for ref in packages:
        for size in args.sizes:
            methods = [
                m
                for m in args.methods
                if not (m in WHOLE_IMAGE and size > args.whole_max)
                # minutes per run; the targets compare at 2048²
                and not (m == "core_blocked" and size > max(args.whole_max, 2048))
            ]
            results: dict[str, dict] = {}
            for _ in range(args.repeat):  # rounds: the machine's drift reaches every method
                for method in methods:
                    got = measure(method, size, ref, 1)
                    print(f"  {ref} {size}² {method}: {got}", file=sys.stderr)
                    results[method] = _best_of(results.get(method), got)
            rows += _rows(ref, size, results)
    table = _table(rows)
    print(table)
    verdicts = _targets(rows)
    print("\n".join(verdicts))
    if args.write:
        _write(args.write, table, verdicts, args)


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


def _rows(ref: str, size: int, results: dict) -> list[dict]:
    mpix = size * size / 1e6
    core = results.get("core_blocked", {}).get("seconds")
    ort = results.get("ort", {}).get("seconds")
    same_graph = results.get("ort_zoo_graph", {}).get("seconds")
    rows = []
    for method, r in results.items():
        if "error" in r:
            rows.append({"package": ref, "size": size, "method": method, "error": r["error"]})
            continue
        s = r["seconds"]
        rows.append(
            {
                "package": ref, "size": size, "method": method, "seconds": s,
                "tile": r.get("tile"),
                "mpix_s": mpix / s, "vs_core": core / s if core else None,
                "vs_ort": ort / s if ort else None, "rss_mb": r["rss_mb"],
                "vs_graph": same_graph / s if same_graph else None,
                "check_share": r["check_s"] / s if "check_s" in r else None,
                "image_mb": size * size * 4 / 2**20,
            }
        )  # fmt: skip
    return rows


def _fmt(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def _table(rows: list[dict]) -> str:
    head = (
        "| package | size | method | s | MPix/s | × core blocked | × raw ORT "
        "| × ORT, zoo's graph | peak RSS MB | check share |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['package']} | {r['size']}² | {r['method']} | error: {r['error']} ||||||"
            )
            continue
        label = r["method"] + (f" ({r['tile']})" if r.get("tile") else "")
        lines.append(
            f"| {r['package']} | {r['size']}² | {label} | {r['seconds']:.3f} | "
            f"{r['mpix_s']:.2f} | {_fmt(r['vs_core'], '.2f')} | {_fmt(r['vs_ort'], '.2f')} | "
            f"{_fmt(r['vs_graph'], '.2f')} | "
            f"{r['rss_mb']:.0f} | {_fmt(r['check_share'], '.1%')} |"
        )
    return "\n".join(lines)


def _targets(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        if "error" in r:
            continue
        if r["method"].startswith("zoo") and r["method"] != "zoo_run" and r["size"] == 2048:
            for key, goal, what in (("vs_core", 2.0, "bioimageio.core blocked"),
                                    ("vs_ort", 0.9, "raw ONNX Runtime")):  # fmt: skip
                if r[key] is not None:
                    ok = "PASS" if r[key] >= goal else "FAIL"
                    same = r["vs_graph"] if key == "vs_ort" and r["vs_graph"] else None
                    out.append(
                        f"{ok} {r['package']} 2048²: {r['method']} {r[key]:.2f}× {what} "
                        f"(goal ≥ {goal}×)"
                        + (f"; {same:.2f}× ONNX Runtime on the graph zoo runs" if same else "")
                    )
            share = r["check_share"]
            if share is None:
                continue
            ok = "PASS" if share <= 0.05 else "FAIL"
            out.append(
                f"{ok} {r['package']} 2048²: domain check {share:.1%} of inference (goal ≤ 5%)"
            )
        if r["method"] == "zoo_run" and r["size"] == 8192:
            limit = 2.5 * r["image_mb"] + 400
            ok = "PASS" if r["rss_mb"] <= limit else "FAIL"
            out.append(f"{ok} {r['package']} 8192²: zoo run peak RSS {r['rss_mb']:.0f} MB "
                       f"(goal ≤ 2.5 × {r['image_mb']:.0f} + 400 = {limit:.0f} MB)")  # fmt: skip
    return out


def _write(path: Path, table: str, verdicts: list[str], args: argparse.Namespace) -> None:
    import onnxruntime

    from zoo import __version__
    from zoo_bench.perfdoc import machine, write_section

    providers = ", ".join(onnxruntime.get_available_providers())
    header = (
        f"### Inference at {', '.join(f'{n}²' for n in args.sizes)}\n\n"
        "`python scripts/bench_inference.py"
        f" --sizes {' '.join(map(str, args.sizes))} --repeat {args.repeat}"
        f"{''.join(f' --package {p}' for p in args.package or [])}"
        f"{' --methods ' + ' '.join(args.methods) if args.methods != list(METHODS) else ''}`"
        f" on {machine()}: zoo {__version__}, onnxruntime {onnxruntime.__version__} "
        f"(providers here: {providers}; every method runs on the CPU).\n\n"
        "Seconds are the best of --repeat rounds; a round runs every method once (after "
        f"{WARM_UP} untimed runs), each in a process of its own, one after another, so that "
        "a drift in the machine's speed reaches every method alike (`zoo_run`: one "
        "end-to-end run of the CLI, start-up, check, reading and writing included). "
        "Ratios > 1 mean zoo is faster. Peak RSS is the whole process's, the largest of the "
        "rounds.\n\n"
    )
    body = header + table + "\n\n" + "\n".join(f"- {v}" for v in verdicts) + "\n"
    write_section(path, args.section, body)


if __name__ == "__main__":
    main()
