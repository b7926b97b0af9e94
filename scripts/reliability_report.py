"""Write docs/reliability.md from fresh runs: the catalogue of bad inputs with the outcome of
each case, and the figures of fault injection, concurrency and a soak of ``zoo serve``.

    python scripts/reliability_report.py [--quick] [--out FILE]

Runs, one after the other (each script with ``--json``; their output passes through):

1. ``pytest tests/reliability --junitxml=…`` (but test_report.py, which checks the old
   document): each case of the catalogue (tests/reliability/catalogue.py) is the parametrised
   test ``test_catalogue[<case id>]`` of the module that declares its family, and gets that
   test's outcome;
2. ``scripts/fault_publish.py --kills 200``;
3. ``scripts/concurrent_publish.py --procs 8 --versions 50 --fetchers 8``;
4. ``scripts/soak_serve.py --seconds 120 --clients 4`` (loopback; bounded by its duration).

``--quick`` is a smoke run with small parameters (the catalogue tests only, 20 kills, 3 × 5
publishes, a 10-second soak); it writes build/reliability-quick.md unless ``--out`` says
otherwise, so that it never replaces the figures of a full run. The document is written even
when a part failed (the failure is in it); the exit status is then 1.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "fault": "fault_publish.py",
    "concurrency": "concurrent_publish.py",
    "soak": "soak_serve.py",
}
FULL = {
    "fault": ["--kills", "200"],
    "concurrency": ["--procs", "8", "--versions", "50", "--fetchers", "8"],
    "soak": ["--seconds", "120", "--clients", "4"],
}
QUICK = {
    "fault": ["--kills", "20", "--pad-mb", "0.5"],
    "concurrency": ["--procs", "3", "--versions", "5", "--fetchers", "4"],
    "soak": ["--seconds", "10", "--clients", "2"],
}
TITLES = {
    "tests": "the test suite",
    "fault": "fault injection",
    "concurrency": "concurrency",
    "soak": "soak",
}
PYTEST_FLAGS = ["-p", "no:cacheprovider", "--ignore=tests/reliability/test_report.py"]
"""test_report.py checks the document this run is about to replace."""


def catalogue() -> list[tuple[str, Any]]:
    """(test module, case) for every case of the catalogue, in declaration order."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.reliability.catalogue import FAMILIES, Family

    module_of = {}
    for path in sorted((REPO / "tests" / "reliability").glob("test_*.py")):
        module = importlib.import_module(f"tests.reliability.{path.stem}")
        for value in vars(module).values():
            if isinstance(value, Family):
                module_of[value.name] = module.__name__
    return [(module_of[name], case) for name, family in FAMILIES.items() for case in family]


def outcomes(junit: Path) -> dict[tuple[str, str], str]:
    """(classname, test name) → passed / failed / skipped, from a junit XML file."""
    result = {}
    for test in ET.parse(junit).iter("testcase"):
        tags = {child.tag for child in test}
        outcome = "failed" if tags & {"failure", "error"} else "passed"
        result[test.get("classname", ""), test.get("name", "")] = (
            "skipped" if "skipped" in tags else outcome
        )
    return result


def run(argv: list[str]) -> tuple[int, float]:
    """Run ``argv`` in the repository; its exit status and seconds."""
    print(f"\n$ {shlex.join(argv)}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    code = subprocess.run(argv, cwd=REPO).returncode
    return code, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small parameters: a smoke run")
    parser.add_argument("--out", type=Path, help="default docs/reliability.md")
    args = parser.parse_args(argv)
    out = args.out or REPO / ("build/reliability-quick.md" if args.quick else "docs/reliability.md")
    params = QUICK if args.quick else FULL
    t_start = time.monotonic()
    codes: dict[str, int] = {}
    wall: dict[str, float] = {}
    commands: dict[str, str] = {}
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="zoo-reliability-") as tmp:
        junit = Path(tmp) / "junit.xml"
        tests = ["tests/reliability", "-q", *(["-k", "test_catalogue"] if args.quick else [])]
        commands["tests"] = shlex.join(["pytest", *tests, PYTEST_FLAGS[-1]])
        codes["tests"], wall["tests"] = run(
            [sys.executable, "-m", "pytest", *tests, *PYTEST_FLAGS, f"--junitxml={junit}"]
        )
        results = outcomes(junit) if junit.is_file() else {}
        for part, script in SCRIPTS.items():
            path = Path(tmp) / f"{part}.json"
            commands[part] = shlex.join(["python", f"scripts/{script}", *params[part]])
            codes[part], wall[part] = run(
                [sys.executable, f"scripts/{script}", *params[part], "--json", str(path)]
            )
            figures[part] = json.loads(path.read_text()) if path.is_file() else {}
    took = time.monotonic() - t_start

    cases = [
        (case, results.get((module, f"test_catalogue[{case.id}]"), "not run"))
        for module, case in catalogue()
    ]
    names = {f"test_catalogue[{case.id}]" for case, _ in cases}
    others = {  # by node id; a collection error has no classname
        f"{c.replace('.', '/')}.py::{n}" if c else n: o
        for (c, n), o in results.items()
        if n not in names
    }
    failed = [TITLES[part] for part, code in codes.items() if code or not figures.get(part, True)]
    failed += [f"`test_catalogue[{case.id}]` ({o})" for case, o in cases if o != "passed"]
    failed += [f"`{name}`" for name, o in others.items() if o == "failed"]

    command = ".venv/bin/python scripts/reliability_report.py" + " --quick" * args.quick
    command += f" --out {args.out}" if args.out else ""
    report = {"cases": cases, "others": others, "figures": figures, "commands": commands}
    report |= {"wall": wall, "took": took, "failed": failed, "quick": args.quick}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report, command))
    print(f"\nwrote {out} in {took / 60:.1f} min", file=sys.stderr)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _para(*parts: str) -> list[str]:
    text = textwrap.fill(" ".join(parts), 92, break_long_words=False, break_on_hyphens=False)
    return [text, ""]


def _value(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) or "–"
    if isinstance(value, list):
        return "; ".join(map(str, value)) or "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return str(value)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figures(figures: dict) -> list[str]:
    """The figures a script printed as a two-column table; its failures listed after it."""
    if not figures:
        return _para("**No figures: the script failed before writing them.**")
    rows = ["| figure | value |", "|---|---|"]
    rows += [f"| `{k}` | {_cell(_value(v))} |" for k, v in figures.items() if k != "failures"]
    failures = [f"- **failure:** {_cell(f)}" for f in figures.get("failures", [])]
    return [*rows, "", *failures, *[""] * bool(failures)]


def render(report: dict, command: str) -> str:
    """The text of docs/reliability.md."""
    cases, others, wall, cmd = report["cases"], report["others"], report["wall"], report["commands"]
    fault, conc, soak = (report["figures"][part] for part in SCRIPTS)
    rss = soak.get("rss_mib", {})
    passed = sum(outcome == "passed" for _, outcome in cases)
    families = ", ".join(dict.fromkeys(case.family for case, _ in cases))
    today = datetime.date.today().isoformat()
    lines = ["# Reliability", ""]
    lines += _para(
        "What zoo does with bad input. Every input of the catalogue below is refused with a",
        "**named error** (a subclass of `ZooError`, zoo/errors.py) whose message says what is",
        "wrong; through the `zoo` command, with its **exit code** (2 for a zoo error, 4 for a",
        "domain mismatch) and the same message on standard error; through `zoo serve`, with",
        "its **HTTP status**. The **registry, the cache and the input** (and the output folder",
        "where there is one) are **byte-identical** afterwards: every file under them is hashed",
        "(sha256; folders, symlinks and special files listed too) before and after the attempt,",
        "for the library call and for the command alike (`refused` in",
        "tests/reliability/catalogue.py). Publishers killed with SIGKILL at random moments lose",
        "no acknowledged version and leave no partial entry; concurrent publishers and fetchers",
        "lose nothing and agree; a real server under a mixed load answers every request as",
        "expected, with flat memory.",
    )
    lines += _para(
        f"Generated on {today} by `scripts/reliability_report.py` from fresh runs",
        f"({report['took'] / 60:.1f} minutes in all, on {os.cpu_count()} CPU cores);",
        "regenerate with:",
    )
    lines += ["```bash", command, "```", ""]
    if report["quick"]:
        lines += _para("**A smoke run (`--quick`): small parameters, catalogue tests only.**")
    if report["failed"]:
        lines += _para(f"**Failed in this run: {', '.join(report['failed'])}.**")

    lines += ["## The catalogue of bad inputs", ""]
    lines += _para(
        f"**{len(cases)} distinct cases** in {len(families.split(', '))} families ({families});",
        f"in this run {passed} passed and {len(cases) - passed} did not (`{cmd['tests']}`,",
        f"{wall['tests']:.0f} s). Each case is the test `test_catalogue[<case>]` of the module",
        "that declares its family. Exit: of the `zoo` command (– where no command sends this",
        "input); HTTP: the status `zoo serve` answers.",
    )
    lines += ["| family | case | bad input | error | exit | HTTP | outcome |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for case, outcome in cases:
        exit_code = "–" if case.exit is None else case.exit
        status = "–" if case.status is None else case.status
        mark = outcome if outcome == "passed" else f"**{outcome}**"
        lines.append(
            f"| {case.family} | `{case.id}` | {_cell(case.input)} | `{case.error.__name__}` "
            f"| {exit_code} | {status} | {mark} |"
        )
    lines.append("")
    if others:
        bad = [f"**{o}:** `{name}`" for name, o in others.items() if o != "passed"]
        lines += _para(
            f"Besides the catalogue the suite ran {len(others)} other tests (properties of ids,",
            "versions and cards under hypothesis, a slow client, short runs of the scripts",
            f"below): {sum(o == 'passed' for o in others.values())} passed"
            + "".join(f"; {b}" for b in bad)
            + ".",
        )

    lines += ["## Fault injection", ""]
    lines += _para(
        f"`{cmd['fault']}` ({wall['fault']:.0f} s): a publisher forked over and over and",
        "killed with SIGKILL at a random moment (half of the kills aimed at the writes, after",
        "the lock), the registry checked after every kill: index.json loads, every listed",
        "version has its complete blob (size and sha256), every acknowledged publish is listed.",
        f"**{fault.get('kills')} kills; {fault.get('acknowledged_publishes')} publishes",
        f"acknowledged, {fault.get('lost')} lost, {fault.get('bad_blobs')} bad blobs.**",
    )
    lines += _figures(fault)
    lines += ["## Concurrency", ""]
    lines += _para(
        f"`{cmd['concurrency']}` ({wall['concurrency']:.0f} s): processes started together",
        "publish into one registry, then race to publish one version with other bytes (exactly",
        f"one may win), then fetchers race for the same {conc.get('fetched_versions')} versions",
        "into one empty cache.",
        f"**{conc.get('publishes')} publishes, {conc.get('listed')} listed,",
        f"{conc.get('blobs_verified')} blobs verified, {conc.get('lost')} lost; race:",
        f"{_value(conc.get('race_same_version', {}))}.**",
    )
    lines += _figures(conc)
    lines += ["## Soak", ""]
    lines += _para(
        f"`{cmd['soak']}` ({wall['soak']:.0f} s): a real `zoo serve` on loopback under a mixed",
        "load (index, search, metadata, downloads verified whole and by range, pages,",
        "publishes, requests that must be refused), its resident memory sampled every half",
        f"second. **{soak.get('requests')} requests in {soak.get('seconds')} s,",
        f"{soak.get('errors')} errors; memory (MiB) {rss.get('start')} at the start,",
        f"{rss.get('end')} at the end (median of the last quarter), {rss.get('max')} at most",
        f"({rss.get('samples')} samples).** Memory is flat when the median of the last quarter",
        "of the run is within 10% + 16 MiB of the median of the second quarter (the first is",
        f"warm-up; {rss.get('after_warmup')} MiB after it).",
        "It is here." if soak.get("memory_flat") else "**It is not here.**",
    )
    lines += _figures(soak)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
