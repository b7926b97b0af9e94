"""Registry speed at scale: a 100k-version index, search, and fetch by id (cold and warm).

Builds a synthetic registry in a temporary folder: the example package published once for
real (so fetch has a real blob to copy and verify) and ``--models`` × ``--versions`` more
index entries (summaries of realistic size). Then, each timed as the best of --repeat:

- index load: reading and validating index.json (a new Registry, nothing cached);
- search: free text and typed filters over every model, on a Registry that already read the
  index (warm) and on a new one (cold);
- fetch by id: cold (copy from the store into an empty cache, verify sha256) and warm
  (already cached: verify only); resolve alone.

Prints seconds and, for search, the reference: a plain Python loop over the same summaries
(the ratio says what the registry's own overhead costs). Also start-up, each a new process,
best of --startup-repeat: ``python -c pass`` (the interpreter alone, the reference),
``python -c "import zoo"`` and ``zoo --help``. Then PASS/FAIL against the goals: every warm
search ≤ 50 ms, ``zoo --help`` ≤ 0.25 s.

    python scripts/bench_registry.py [--models 10000] [--versions 10] [--repeat 3]
        [--startup-repeat 5] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from zoo_bench.perfdoc import best_seconds

MODALITIES = ["widefield", "confocal", "two-photon", "spinning-disk", "light-sheet", "SEM", "TEM"]
SEARCH_GOAL_S, HELP_GOAL_S = 0.050, 0.25


def build(root: Path, models: int, versions: int, package: Path | None = None) -> str:
    """A registry with one real package (default: the example of the embedded registry)
    published as ``real``, and models × versions synthetic entries pointing at its zip."""
    from zoo.config import EMBEDDED_REGISTRY
    from zoo.registry import Registry

    if package is None:
        package = Registry(EMBEDDED_REGISTRY, cache=root / "example-cache").fetch(
            "n2v-ihc-careamics"
        )
    real = Registry(root / "registry", cache=root / "publish-cache").publish(
        package, model_id="real"
    )
    index = json.loads((root / "registry" / "index.json").read_text())
    entry = index["models"]["real"]["versions"][real.version]
    for m in range(models):
        summary = dict(entry["summary"], name=f"model-{m}", modality=MODALITIES[m % 7],
                       structures=[f"structure-{m % 50}", "nuclei" if m % 3 else "membranes"],
                       description=f"synthetic entry {m} for the registry benchmark")  # fmt: skip
        index["models"][f"model-{m:06d}"] = {
            "versions": {f"1.{v}.0": dict(entry, summary=summary) for v in range(versions)}
        }
    (root / "registry" / "index.json").write_text(json.dumps(index))
    return real.version


def startup(repeat: int) -> list[tuple[str, float]]:
    """Wall time of each start-up command, a new process each time, best of ``repeat``."""
    zoo = Path(sys.executable).parent / "zoo"
    commands = {
        "start-up: python -c pass (reference)": [sys.executable, "-c", "pass"],
        'start-up: python -c "import zoo"': [sys.executable, "-c", "import zoo"],
        "start-up: zoo --help": [str(zoo), "--help"],
    }
    return [
        (
            label,
            best_seconds(
                lambda c=command: subprocess.run(c, capture_output=True, check=True), repeat
            ),
        )
        for label, command in commands.items()
    ]


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line), measure, print and optionally write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--startup-repeat", type=int, default=5)
    parser.add_argument("--write", type=Path, help="also write the results into this markdown")
    args = parser.parse_args(argv)
    from zoo.registry import Registry

    rows = startup(args.startup_repeat)
    verdicts = [_verdict("zoo --help", rows[-1][1], HELP_GOAL_S)]

    with tempfile.TemporaryDirectory(prefix="zoo-bench-registry-") as tmp:
        root = Path(tmp)
        version = build(root, args.models, args.versions)
        n = args.models * args.versions + 1
        size_mb = (root / "registry" / "index.json").stat().st_size / 2**20
        setup = f"{args.models + 1} models, {n} versions, index.json {size_mb:.1f} MB"
        print(f"index: {setup}")
        reg = root / "registry"

        def new() -> Registry:
            return Registry(reg, cache=root / "cache")

        rows.append(("index load (new Registry)", best_seconds(lambda: new().index(), args.repeat)))
        warm = new()
        warm.index()
        queries = {
            "text 'structure-7'": {"text": "structure-7"},
            "--modality confocal --structure nuclei": dict(modality="confocal", structure="nuclei"),
            "--method n2v (every model)": {"method": "n2v"},
        }  # fmt: skip
        for label, query in queries.items():
            hits = len(warm.search(**query))
            rows.append((f"search {label}, warm [{hits} hits]",
                         best_seconds(lambda q=query: warm.search(**q), args.repeat)))  # fmt: skip
            verdicts.append(_verdict(f"search {label}, warm", rows[-1][1], SEARCH_GOAL_S))
            rows.append(
                (f"search {label}, cold", best_seconds(lambda q=query: new().search(**q), 1))
            )
        summaries = [
            (mid, m.versions[m.newest()].summary) for mid, m in warm.index().models.items()
        ]

        def loop() -> int:
            return sum(1 for mid, s in summaries if "structure-7" in " ".join([mid, *s.structures]))

        rows.append(("reference: plain loop over summaries, text", best_seconds(loop, args.repeat)))
        rows.append(
            (
                "resolve real (warm Registry)",
                best_seconds(lambda: warm.resolve("real"), args.repeat),
            )
        )

        def cold_fetch() -> None:
            shutil.rmtree(root / "cache" / "blobs", ignore_errors=True)
            new().fetch(f"real@{version}")

        rows.append(("fetch by id, cold (copy + verify)", best_seconds(cold_fetch, args.repeat)))
        new().fetch("real")
        rows.append(
            (
                "fetch by id, warm (verify cached)",
                best_seconds(lambda: warm.fetch("real"), args.repeat),
            )
        )
    width = max(len(r[0]) for r in rows)
    for label, seconds in rows:
        print(f"{label:<{width}}  {seconds * 1e3:10.1f} ms")
    print("\n".join(verdicts))
    if args.write:
        _write(args, setup, rows, verdicts)


def _verdict(what: str, seconds: float, goal: float) -> str:
    ok = "PASS" if seconds <= goal else "FAIL"
    return f"{ok} {what}: {seconds * 1e3:.1f} ms (goal ≤ {goal * 1e3:.0f} ms)"


def _write(args: argparse.Namespace, setup: str, rows: list, verdicts: list[str]) -> None:
    from zoo_bench.perfdoc import machine, write_section

    command = (
        f"python scripts/bench_registry.py --models {args.models} --versions {args.versions} "
        f"--repeat {args.repeat} --startup-repeat {args.startup_repeat}"
    )
    table = "\n".join(f"| {label} | {seconds * 1e3:.1f} |" for label, seconds in rows)
    body = (
        "### Index, search, fetch and start-up\n\n"
        f"`{command}` on {machine()}. Index: {setup}. Best of the repeats; start-up runs "
        "are new processes (wall time, page cache warm).\n\n"
        f"| measurement | ms |\n|---|---|\n{table}\n\n"
        + "\n".join(f"- {v}" for v in verdicts)
        + "\n"
    )
    write_section(args.write, "bench_registry", body)


if __name__ == "__main__":
    main()
