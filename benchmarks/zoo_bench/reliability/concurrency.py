"""Concurrency: many processes publishing into one registry, and fetching into one cache.

    python scripts/concurrent_publish.py [--procs 8] [--versions 50] [--fetchers 8] [--json FILE]

1. ``--procs`` processes, started together, each publish ``--versions`` versions of one model
   id (distinct bytes each, so every publish writes a new blob): afterwards every one of the
   procs × versions publishes is listed with its sha256, every blob verifies, and no
   temporary file is left.
2. The same processes race to publish one version each with *other* bytes: exactly one
   wins, the others are refused (versions are immutable), and the index lists the winner.
3. ``--fetchers`` processes, started together, fetch the same ten versions into one empty
   cache: each version is one valid file, and no temporary file is left.

Processes are forked from this one once zoo is imported, and released together through a
pipe. Prints the figures (``--json`` writes them too); exits 1 when any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from zoo_bench.reliability.harness import (
    RegistryCheck,
    base_package,
    check_registry,
    report_figures,
    variant,
)

MODEL = "concurrent"


def _spawn(work, n: int):  # type: ignore[no-untyped-def]
    """Fork ``n`` children running ``work(i)``, held until :func:`release`; returns
    (pids, the release pipe, the result pipes)."""
    gate_r, gate_w = os.pipe()
    children = []
    for i in range(n):
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(gate_w)
            os.close(out_r)
            os.read(gate_r, 1)  # blocks until the parent closes the gate
            code = 0
            try:
                result = work(i)
            except BaseException as exc:  # reported to the parent
                result, code = {"crash": repr(exc)}, 1
            os.write(out_w, json.dumps(result).encode())
            os._exit(code)
        os.close(out_w)
        children.append((pid, out_r))
    os.close(gate_r)
    return children, gate_w


def _run_together(work, n: int) -> tuple[list[dict], float]:  # type: ignore[no-untyped-def]
    children, gate = _spawn(work, n)
    t0 = time.perf_counter()
    os.close(gate)  # go
    results = []
    for pid, fd in children:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        os.close(fd)
        os.waitpid(pid, 0)
        results.append(json.loads(b"".join(chunks) or b'{"crash": "no result"}'))
    return results, time.perf_counter() - t0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--fetchers", type=int, default=8)
    parser.add_argument("--pad-mb", type=float, default=0.25, help="package padding (MiB)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    return parser.parse_args(argv)


def _publish_together(
    args: argparse.Namespace, registry: Path, base: Path, work: Path, failures: list[str]
) -> tuple[dict[str, str], RegistryCheck, float]:
    """1. procs × versions publishes at once: (acknowledged publishes, the registry check,
    the wall time)."""
    from zoo.registry import Registry

    def publisher(i: int) -> dict:
        reg = Registry(registry, cache=work / f"cache-{i}")
        done = {}
        for v in range(args.versions):
            package = variant(base, work / f"package-{i}.zip", i * args.versions + v)
            result = reg.publish(package, model_id=MODEL, version=f"1.{i}.{v}")
            done[f"{result.id}@{result.version}"] = result.entry.sha256
        return done

    results, publish_s = _run_together(publisher, args.procs)
    acknowledged: dict[str, str] = {}
    for r in results:
        if "crash" in r:
            failures.append(f"a publisher crashed: {r['crash']}")
        else:
            acknowledged |= r
    check = check_registry(registry, acknowledged=acknowledged)
    expected = args.procs * args.versions
    if not check.ok or check.entries != expected or len(acknowledged) != expected:
        failures.append(f"publish: {len(acknowledged)} acknowledged, {check}")
    if check.temp_files:
        failures.append(f"temporary files left: {check.temp_files}")
    return acknowledged, check, publish_s


def _race(procs: int, registry: Path, base: Path, work: Path, failures: list[str]) -> dict:
    """2. everyone publishes the same new version with other bytes: one wins."""
    from zoo.errors import RegistryError
    from zoo.registry import Registry

    def racer(i: int) -> dict:
        package = variant(base, work / f"race-{i}.zip", 10**6 + i)
        try:
            result = Registry(registry, cache=work / f"cache-{i}").publish(
                package, model_id=MODEL, version="9.9.9"
            )
        except RegistryError as exc:
            return {"refused": "immutable" in str(exc)}
        return {"won": result.entry.sha256}

    race, _ = _run_together(racer, procs)
    winners = [r["won"] for r in race if "won" in r]
    refused = sum(bool(r.get("refused")) for r in race)
    listed = Registry(registry, cache=work / "cache-x").resolve(f"{MODEL}@9.9.9")[2].sha256
    if len(winners) != 1 or refused != procs - 1 or listed != winners[0]:
        failures.append(f"race for 9.9.9: {race}, listed {listed}")
    return {"procs": procs, "won": len(winners), "refused": refused}


def _fetch_together(
    args: argparse.Namespace,
    registry: Path,
    work: Path,
    acknowledged: dict[str, str],
    failures: list[str],
) -> dict:
    """3. fetchers × the same ten versions into one empty cache: the figures of the fetch."""
    from zoo.hashes import sha256_file
    from zoo.registry import Registry

    cache = work / "shared-cache"
    refs = [f"{MODEL}@1.0.{v}" for v in range(min(10, args.versions))]

    def fetcher(i: int) -> dict:
        reg = Registry(registry, cache=cache)
        order = refs[i % len(refs) :] + refs[: i % len(refs)]
        return {ref: str(reg.fetch(ref)) for ref in order}

    fetched, fetch_s = _run_together(fetcher, args.fetchers)
    crashed = [r["crash"] for r in fetched if "crash" in r]
    files = sorted((cache / "blobs").iterdir()) if (cache / "blobs").is_dir() else []
    valid = sum(f.name == f"{acknowledged.get(r, '')}.zip" for f in files for r in refs)
    verified = sum(sha256_file(f) == f.stem for f in files)
    stray = [f.name for f in files if f.suffix != ".zip" or f.name.startswith(".")]
    if crashed or len(files) != len(refs) or valid != len(refs) or verified != len(refs):
        failures.append(f"fetch: {len(files)} files for {len(refs)} versions, crashed {crashed}")
    return {
        "fetchers": args.fetchers,
        "fetched_versions": len(refs),
        "cache_files": len(files),
        "cache_files_verified": verified,
        "cache_temp_files": len(stray),
        "fetch_wall_s": round(fetch_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)

    from loguru import logger

    from zoo.inference import self_test  # noqa: F401  (imported before forking)
    from zoo.registry import Registry  # noqa: F401  (imported before forking)

    logger.disable("bioimageio")
    work = Path(tempfile.mkdtemp(prefix="zoo-concurrency-"))
    registry = work / "registry"
    base = base_package(work, pad_bytes=int(args.pad_mb * 2**20))
    failures: list[str] = []

    acknowledged, check, publish_s = _publish_together(args, registry, base, work, failures)
    race = _race(args.procs, registry, base, work, failures)
    fetch = _fetch_together(args, registry, work, acknowledged, failures)

    figures = {
        "procs": args.procs,
        "versions_each": args.versions,
        "publishes": args.procs * args.versions,
        "acknowledged": len(acknowledged),
        "listed": check.entries,
        "blobs_verified": check.verified,
        "lost": len(check.lost),
        "temp_files": len(check.temp_files),
        "publish_wall_s": round(publish_s, 1),
        "race_same_version": race,
        **fetch,
        "failures": failures,
        "ok": not failures,
    }
    return report_figures(figures, args.json, work)
