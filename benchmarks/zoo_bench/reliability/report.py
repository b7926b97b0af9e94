"""Write docs/reliability.md from fresh runs: the catalogue of bad inputs with the outcome of
each case, and the figures of fault injection, concurrency and a soak of ``zoo serve``.

    python scripts/reliability_report.py [--quick] [--out FILE]

Runs, one after the other (each script with ``--json``; their output passes through):

1. ``pytest tests/reliability --junitxml=…`` (but test_report.py, which checks the old
   document): each case of the catalogue (declared by tests/reliability/test_*.py, listed by
   the plugin :mod:`zoo_bench.reliability.pytest_catalogue` of that run) is the parametrised
   test ``test_catalogue[<case id>]`` of the module that declares its family, and gets that
   test's outcome;
2. ``scripts/fault_publish.py --kills 200``;
3. ``scripts/concurrent_publish.py --procs 8 --versions 50 --fetchers 8``;
4. ``scripts/soak_serve.py --seconds 120 --clients 4`` (loopback; bounded by its duration).

``--quick`` is a smoke run with small parameters (the catalogue tests only, 20 kills, 3 × 5
publishes, a 10-second soak); it writes build/reliability-quick.md unless ``--out`` says
otherwise, so that it never replaces the figures of a full run. The document is written even
when a part failed (the failure is in it); the exit status is then 1. Its prose is the
template report.md.j2 beside this module.
"""

from __future__ import annotations

import argparse
import datetime
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

from zoo_bench.reliability.catalogue import Row
from zoo_bench.templates import render_markdown

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = Path(__file__).with_name("report.md.j2")
"""The checkout this harness is part of (zoo_bench is installed from it, editable)."""
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
PLUGIN = ["-p", "zoo_bench.reliability.pytest_catalogue"]
"""Writes the catalogue the collected tests declare (``--catalogue-json``)."""


def catalogue(path: Path) -> list[Row]:
    """The cases of the catalogue, in declaration order, as the test run listed them."""
    if not path.is_file():
        return []
    return [Row(**row) for row in json.loads(path.read_text())]


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


def run_all(quick: bool) -> dict:
    """Run the tests and the three scripts: the catalogue, the test outcomes, the figures,
    and each part's command, exit status and seconds."""
    params = QUICK if quick else FULL
    report: dict = {"codes": {}, "wall": {}, "commands": {}, "figures": {}}
    codes, wall, commands, figures = (report[k] for k in ("codes", "wall", "commands", "figures"))
    with tempfile.TemporaryDirectory(prefix="zoo-reliability-") as tmp:
        junit = Path(tmp) / "junit.xml"
        listed = Path(tmp) / "catalogue.json"
        tests = ["tests/reliability", "-q", *(["-k", "test_catalogue"] if quick else [])]
        commands["tests"] = shlex.join(["pytest", *tests, PYTEST_FLAGS[-1]])
        plugin = [*PLUGIN, f"--catalogue-json={listed}"]
        codes["tests"], wall["tests"] = run(
            [sys.executable, "-m", "pytest", *tests, *PYTEST_FLAGS, f"--junitxml={junit}", *plugin]
        )
        report["results"] = outcomes(junit) if junit.is_file() else {}
        report["catalogue"] = catalogue(listed)
        for part, script in SCRIPTS.items():
            path = Path(tmp) / f"{part}.json"
            commands[part] = shlex.join(["python", f"scripts/{script}", *params[part]])
            codes[part], wall[part] = run(
                [sys.executable, f"scripts/{script}", *params[part], "--json", str(path)]
            )
            figures[part] = json.loads(path.read_text()) if path.is_file() else {}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small parameters: a smoke run")
    parser.add_argument("--out", type=Path, help="default docs/reliability.md")
    args = parser.parse_args(argv)
    out = args.out or REPO / ("build/reliability-quick.md" if args.quick else "docs/reliability.md")
    t_start = time.monotonic()
    ran = run_all(args.quick)
    took = time.monotonic() - t_start

    results, codes, figures = ran["results"], ran["codes"], ran["figures"]
    cases = [
        (case, results.get((case.module, f"test_catalogue[{case.id}]"), "not run"))
        for case in ran["catalogue"]
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
    report = {"cases": cases, "others": others, "figures": figures, "commands": ran["commands"]}
    report |= {"wall": ran["wall"], "took": took, "failed": failed, "quick": args.quick}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report, command))
    print(f"\nwrote {out} in {took / 60:.1f} min", file=sys.stderr)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _para(text: str) -> str:
    """A paragraph of the template, filled to 92 columns (its line breaks are spaces)."""
    text = textwrap.fill(text.rstrip("\n"), 92, break_long_words=False, break_on_hyphens=False)
    return text + "\n"


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


def render(report: dict, command: str) -> str:
    """The text of docs/reliability.md: the template report.md.j2 filled with ``report``
    (what :func:`main` gathered) and the ``command`` that regenerates it."""
    cases = report["cases"]
    families = ", ".join(dict.fromkeys(case.family for case, _ in cases))
    context = {
        **report,
        "command": command,
        "today": datetime.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "passed": sum(outcome == "passed" for _, outcome in cases),
        "families": families,
        "n_families": len(families.split(", ")),
        **{part: report["figures"][part] for part in SCRIPTS},
    }
    filters = {"para": _para, "value": _value, "cell": _cell}
    text = render_markdown(TEMPLATE, context, filters=filters)
    return text.rstrip() + "\n"
