"""The inference benchmark's report (zoo_bench.inference): its table, the issue's targets with
PASS/FAIL, the comparison with a baseline checkout (--baseline-src) and its section of
docs/performance.md."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

BEFORE = "@before"
"""Suffix of a method run with the baseline checkout's zoo (``zoo@before``)."""
SAME_SPEED = 1.10
"""The most time a method may take against its baseline and still count as the same speed:
the run-to-run spread of one command on a shared machine (docs/performance.md)."""


def report(
    results: dict[tuple[str, int], dict],
    args: argparse.Namespace,
    *,
    default_methods: list[str],
    warm_up: int,
) -> None:
    """Print the table and the verdicts of ``results`` ((package, size) -> method -> figures),
    and write them to ``args.write``'s section when asked."""
    rows = [row for (ref, size), got in results.items() for row in _rows(ref, size, got)]
    before = _baseline(args.baseline_src) if args.baseline_src else None
    table = _table(rows, with_before=before is not None)
    verdicts = _targets(rows) + _against_baseline(rows)
    if before:
        print(f"{BEFORE[1:]}: {before}")
    print(table)
    print("\n".join(verdicts))
    if args.write:
        header = _header(args, default_methods, warm_up, before)
        body = header + table + "\n\n" + "\n".join(f"- {v}" for v in verdicts) + "\n"
        from zoo_bench.perfdoc import write_section

        write_section(args.write, args.section, body)


def _baseline(src: Path) -> str:
    """'zoo of /tmp/zoo-before (commit 301ab07)': the checkout, and its commit if git knows."""
    done = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    commit = f" (commit {done.stdout.strip()})" if done.returncode == 0 else ""
    return f"zoo of {src}{commit}"


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
        before = results.get(method + BEFORE, {})
        rows.append(
            {
                "package": ref, "size": size, "method": method, "seconds": s,
                "tile": r.get("tile"),
                "mpix_s": mpix / s, "vs_core": core / s if core else None,
                "vs_ort": ort / s if ort else None, "rss_mb": r["rss_mb"],
                "vs_graph": same_graph / s if same_graph else None,
                "check_share": r["check_s"] / s if "check_s" in r else None,
                "image_mb": size * size * 4 / 2**20,
                "of_before": s / before["seconds"] if "seconds" in before else None,
                "rss_of_before": r["rss_mb"] / before["rss_mb"] if "rss_mb" in before else None,
            }
        )  # fmt: skip
    return rows


def _fmt(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def _table(rows: list[dict], *, with_before: bool = False) -> str:
    head = (
        "| package | size | method | s | MPix/s | × core blocked | × raw ORT "
        "| × ORT, zoo's graph | peak RSS MB | check share |"
    )
    head += " s ÷ before's s |" if with_before else ""
    columns = 11 if with_before else 10
    lines = [head, "|" + "---|" * columns]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['package']} | {r['size']}² | {r['method']} | error: {r['error']} "
                + "|" * (columns - 4)
            )
            continue
        label = r["method"] + (f" ({r['tile']})" if r.get("tile") else "")
        lines.append(
            f"| {r['package']} | {r['size']}² | {label} | {r['seconds']:.3f} | "
            f"{r['mpix_s']:.2f} | {_fmt(r['vs_core'], '.2f')} | {_fmt(r['vs_ort'], '.2f')} | "
            f"{_fmt(r['vs_graph'], '.2f')} | "
            f"{r['rss_mb']:.0f} | {_fmt(r['check_share'], '.1%')} |"
            + (f" {_fmt(r['of_before'], '.2f')} |" if with_before else "")
        )
    return "\n".join(lines)


def _targets(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        if "error" in r or BEFORE in r["method"]:
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


def _against_baseline(rows: list[dict]) -> list[str]:
    """Each zoo method's time and peak RSS against the same method run by the baseline."""
    out = []
    for r in rows:
        if r.get("of_before") is None:
            continue
        ok = "PASS" if r["of_before"] <= SAME_SPEED else "FAIL"
        out.append(
            f"{ok} {r['package']} {r['size']}²: {r['method']} takes {r['of_before']:.2f}× the "
            f"time of {r['method']}{BEFORE} (goal ≤ {SAME_SPEED:.2f}×: the same speed within "
            f"the run-to-run spread); peak RSS {r['rss_of_before']:.2f}× before's"
        )
    return out


def _header(
    args: argparse.Namespace, default_methods: list[str], warm_up: int, before: str | None
) -> str:
    import onnxruntime

    from zoo import __version__
    from zoo_bench.perfdoc import machine

    providers = ", ".join(onnxruntime.get_available_providers())
    baseline = (
        f"`{BEFORE}` rows: the zoo methods run once more in each round with the {before} first "
        "on PYTHONPATH; the last column is a method's time divided by its time there.\n\n"
        if before
        else ""
    )
    subset = f": {', '.join(args.methods)}" if args.methods != default_methods else ""
    return (
        f"### Inference at {', '.join(f'{n}²' for n in args.sizes)}{subset}\n\n"
        "`python scripts/bench_inference.py"
        f" --sizes {' '.join(map(str, args.sizes))} --repeat {args.repeat}"
        f"{''.join(f' --package {p}' for p in args.package or [])}"
        f"{' --methods ' + ' '.join(args.methods) if args.methods != default_methods else ''}"
        f"{f' --baseline-src {args.baseline_src}' if args.baseline_src else ''}`"
        f" on {machine()}: zoo {__version__}, onnxruntime {onnxruntime.__version__} "
        f"(providers here: {providers}; every method runs on the CPU).\n\n"
        "Seconds are the best of --repeat rounds; a round runs every method once (after "
        f"{warm_up} untimed runs), each in a process of its own, one after another, so that "
        "a drift in the machine's speed reaches every method alike (`zoo_run`: one "
        "end-to-end run of the CLI, start-up, check, reading and writing included). "
        "Ratios > 1 mean zoo is faster. Peak RSS is the whole process's, the largest of the "
        "rounds.\n\n" + baseline
    )
