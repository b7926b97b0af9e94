"""Fault injection: publish over and over, kill the publisher with SIGKILL at random moments,
and check the registry after every kill.

    python scripts/fault_publish.py [--kills 200] [--pad-mb 1] [--seed 0] [--json FILE]

The publisher is a child forked from this process once zoo is imported, so a kill costs
milliseconds, not an interpreter start: it publishes distinct bytes of a tiny real package
(padded with ``--pad-mb`` of random data, so that copying and hashing take a while) as new
versions, in a loop, writing each step it reaches to a pipe: ``load`` (read and validate
the package), ``check`` (its own test), ``lock`` (wait for the lock, read the index),
``blob`` (copy, verify, rename the package), ``index`` (write and rename index.json) and
``done``. After a random delay (uniform over about three publishes) the parent kills it and
checks that:

- index.json loads;
- every version it lists has its blob, of the listed size and sha256 (no partial entry);
- every publish the child reported ``done`` is listed with its sha256 (nothing lost).

Temporary files of a killed write are counted; the next publish removes them under the
lock. After the last kill one publish runs to the end, and then the registry must hold no
temporary file and every blob is hashed once more. Prints the figures (``--json`` writes
them too) and exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from zoo_bench.reliability.harness import base_package, check_registry, report_figures, variant

MODEL = "faulty"
PHASES = ("load", "check", "lock", "blob", "index", "done")


def _instrument(out) -> None:  # type: ignore[no-untyped-def]
    """Report each step of a publish to ``out`` (the child only)."""
    import zoo.registry as registry
    from zoo.store import LocalStore

    def step(name: str, func):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            out.write(f"{name} {time.perf_counter():.6f}\n")
            return func(*args, **kwargs)

        return wrapped

    registry.check_publishable = step("check", registry.check_publishable)
    LocalStore.transaction = step("lock", LocalStore.transaction)  # type: ignore[method-assign]
    LocalStore.put_blob = step("blob", LocalStore.put_blob)  # type: ignore[method-assign]
    LocalStore._write_index = step("index", LocalStore._write_index)  # type: ignore[method-assign]


def _publisher(registry: Path, base: Path, work: Path, start: int, count: int, fd: int) -> None:
    """The child: publish versions 1.0.start, 1.0.start+1, … (``count`` of them, or for ever)."""
    from zoo.registry import Registry

    tempfile.tempdir = str(work / "tmp")  # what a killed publish leaves there is counted
    out = os.fdopen(fd, "w", buffering=1)
    _instrument(out)
    reg = Registry(registry, cache=work / "cache")
    n = start
    while count < 0 or n < start + count:
        package = variant(base, work / f"package-{os.getpid()}.zip", n)
        out.write(f"load {time.perf_counter():.6f}\n")
        result = reg.publish(package, model_id=MODEL, version=f"1.0.{n}")
        out.write(f"done {time.perf_counter():.6f} {result.id}@{result.version} ")
        out.write(f"{result.entry.sha256}\n")
        n += 1


def _fork(registry: Path, base: Path, work: Path, start: int, count: int) -> tuple[int, int]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        code = 0
        try:
            _publisher(registry, base, work, start, count, write)
        except BaseException as exc:  # the parent sees no "done" line
            print(f"publisher failed: {exc!r}", file=sys.stderr)
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def _read_all(fd: int, head: bytes = b"") -> list[str]:
    chunks = [head]
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode().splitlines()


def _wait_for(fd: int, prefix: bytes, *, timeout: float) -> bytes:
    """Read the child's lines until one starts with ``prefix``; what was read."""
    import select

    buffer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        buffer += chunk
        if any(line.startswith(prefix) for line in buffer.split(b"\n")):
            break
    return buffer


def _next_version(registry: Path) -> int:
    from zoo.store import LocalStore

    model = LocalStore(str(registry)).read_index(fresh=True).models.get(MODEL)
    versions = [int(v.rsplit(".", 1)[1]) for v in (model.versions if model else {})]
    return max(versions, default=-1) + 1


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--pad-mb", type=float, default=1.0, help="package padding (MiB)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--aimed", type=float, default=0.5, help="share of kills aimed at the writes"
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--keep", type=Path, help="keep the registry here (default: removed)")
    return parser.parse_args(argv)


def _calibrate(registry: Path, base: Path, work: Path) -> tuple[float, float] | None:
    """Three publishes run to the end: the time a publish and its writes take (medians), or
    None when they failed."""
    pid, fd = _fork(registry, base, work, 0, 3)
    os.waitpid(pid, 0)
    lines = [line.split() for line in _read_all(fd)]
    starts = [float(x[1]) for x in lines if x[0] == "load"]
    locks = [float(x[1]) for x in lines if x[0] == "lock"]
    ends = [float(x[1]) for x in lines if x[0] == "done"]
    if len(ends) != 3:
        return None
    publish_s = sorted(e - s for s, e in zip(starts, ends, strict=True))[1]
    write_s = sorted(e - s for s, e in zip(locks, ends, strict=True))[1]
    return publish_s, write_s


@dataclass
class _Kills:
    """What the kill loop saw."""

    acknowledged: dict[str, str] = field(default_factory=dict)
    verified: set[str] = field(default_factory=set)
    phases: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    max_temp: int = 0
    kills_with_temp: int = 0
    aimed_kills: int = 0
    loop_s: float = 0.0

    def acknowledge(self, lines: list[str]) -> None:
        """Record the publishes the child reported ``done``."""
        for line in lines:
            if line.startswith("done "):
                _, _, ref, sha = line.split()
                self.acknowledged[ref] = sha


def _kill_loop(
    args: argparse.Namespace, registry: Path, base: Path, work: Path, window: float, write_s: float
) -> _Kills:
    """Fork a publisher, kill it at a random moment, check the registry; ``args.kills`` times."""
    rng = random.Random(args.seed)
    kills = _Kills()
    t_start = time.perf_counter()
    for k in range(args.kills):
        pid, fd = _fork(registry, base, work, _next_version(registry), -1)
        head = b""
        if rng.random() < args.aimed:  # at a moment of the writes: after the lock step
            head = _wait_for(fd, b"lock ", timeout=10 * window)
            time.sleep(rng.uniform(0, 1.5 * write_s))
            kills.aimed_kills += 1
        else:
            time.sleep(rng.uniform(0, window))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        lines = _read_all(fd, head)
        steps = [line.split()[0] for line in lines]
        kills.phases[steps[-1] if steps else "start"] += 1
        kills.acknowledge(lines)
        check = check_registry(registry, acknowledged=kills.acknowledged, verified=kills.verified)
        kills.max_temp = max(kills.max_temp, len(check.temp_files))
        kills.kills_with_temp += bool(check.temp_files)
        if not check.ok:
            kills.failures.append(f"kill {k} (during {steps[-1] if steps else 'start'}): {check}")
    kills.loop_s = time.perf_counter() - t_start
    return kills


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)

    from loguru import logger

    import zoo.registry  # noqa: F401  (imported once, before the children are forked)
    from zoo.inference import self_test  # noqa: F401

    logger.disable("bioimageio")
    work = Path(tempfile.mkdtemp(prefix="zoo-faults-"))
    (work / "tmp").mkdir()
    registry = args.keep or work / "registry"
    base = base_package(work, pad_bytes=int(args.pad_mb * 2**20))

    timing = _calibrate(registry, base, work)
    if timing is None:
        print("the calibration publishes failed", file=sys.stderr)
        return 1
    publish_s, write_s = timing
    window = 3 * publish_s
    kills = _kill_loop(args, registry, base, work, window, write_s)

    pid, fd = _fork(registry, base, work, _next_version(registry), 1)  # one publish to the end
    os.waitpid(pid, 0)
    kills.acknowledge(_read_all(fd))
    final = check_registry(registry, acknowledged=kills.acknowledged)  # every blob hashed again
    failures = kills.failures
    if not final.ok or final.temp_files:
        failures.append(f"after the last publish: {final}")
    left_in_tmp = sum(1 for _ in (work / "tmp").iterdir())

    figures = {
        "kills": args.kills,
        "pad_mb": args.pad_mb,
        "seed": args.seed,
        "publish_s": round(publish_s, 4),
        "writes_s": round(write_s, 4),
        "kill_window_s": round(window, 4),
        "aimed_kills": kills.aimed_kills,
        "loop_s": round(kills.loop_s, 1),
        "killed_during": {p: kills.phases[p] for p in ("start", *PHASES) if kills.phases[p]},
        "acknowledged_publishes": len(kills.acknowledged),
        "versions_listed": final.entries,
        "blobs_verified": final.verified,
        "index_loads_after_every_kill": not any("index_loads=False" in f for f in failures),
        "lost": len(final.lost),
        "bad_blobs": len(final.bad_blobs),
        "kills_leaving_temp_files": kills.kills_with_temp,
        "max_temp_files_after_a_kill": kills.max_temp,
        "temp_files_after_next_publish": len(final.temp_files),
        "orphan_blobs": final.orphan_blobs,
        "temp_dirs_left_in_tmpdir": left_in_tmp,
        "failures": failures,
        "ok": not failures,
    }
    return report_figures(figures, args.json, work)
