"""Sections of docs/performance.md written by the benchmarks (scripts/bench_inference.py,
bench_registry.py, bench_serve.py): each replaces only its own section, between markers, and
leaves the other sections and the hand-written text alone, so the doc can be regenerated
piece by piece; and the timing the benchmarks share (:func:`best_seconds`)."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


def best_seconds(fn: Callable[[], object], repeat: int, *, warm_up: int = 0) -> float:
    """The shortest of ``repeat`` timed calls of ``fn``, after ``warm_up`` untimed ones."""
    for _ in range(warm_up):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> str:
    """One line: the date, Python, the CPU count, architecture and model."""
    cpu = ", ".join(filter(None, (platform.machine(), _cpu_model())))
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores ({cpu})"
    )


def _cpu_model() -> str:
    """The CPU's model name as Linux's /proc/cpuinfo gives it; empty elsewhere."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return ""


def write_section(path: Path, name: str, body: str) -> None:
    """Put ``body`` between the markers of section ``name`` in ``path`` (appended if new)."""
    begin = f"<!-- begin {name}: generated, edits are overwritten -->"
    end = f"<!-- end {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Performance\n"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        text = head + block + rest.partition(end)[2]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
