"""Server throughput: GET/s and latency of a real ``zoo serve`` under concurrent clients.

Builds bench_registry's synthetic registry (one real package published, --models ×
--versions index entries pointing at it), starts ``zoo serve`` on it (the command, as its own
process, on a free loopback port, access log on as shipped) and drives it with --clients
client processes. Each client holds one keep-alive HTTP/1.1 connection (a minimal socket
client: httpx or http.client would take more of the shared CPU than the server) and sends
its next GET as soon as the previous answer is read, asking for gzip as real clients do
(httpx, browsers; the server compresses index.json, and a client decodes it: this one does
not, to leave the shared CPU to the server). Every answer must be 200 with the whole body
(its Content-Length); anything else is an error.

Runs, each bounded by a request count and by --seconds:

- the mix (the target): index.json, model metadata (``/api/v1/models/ID``), version
  metadata and card (``/api/v1/models/ID/VERSION``) and package downloads
  (``…/package``), weighted by --mix; --requests in all;
- each kind alone (--alone requests), to show what each costs.

The clients run on the same cores as the server, so the script reports the CPU seconds of
the server processes and of the clients; the server's CPU time per request gives the rate
one core of its own would sustain (an estimate, labelled so). Prints GET/s, MB/s and latency
percentiles, then PASS/FAIL against ≥ 1,000 GET/s at p99 ≤ 50 ms: the mix is the target,
each kind alone is judged too, to show where it falls short. ``--write`` replaces the
section ``bench_serve-workersN`` of the markdown file.

    python scripts/bench_serve.py [--models 250] [--versions 4] [--clients 8] [--workers 1]
        [--requests 20000] [--alone 3000] [--seconds 60] [--mix KIND=W,…] [--package ZIP]
        [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("index", "model", "version", "download")
MIX = "index=30,model=30,version=30,download=10"
GOAL_RATE, GOAL_P99_MS = 1000.0, 50.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its children (``--workers``): all
    their threads, from Linux /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if stat.parent.name == str(pid) or fields[1] == str(pid):  # itself or a child
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.contextmanager
def serving(registry: Path, log: Path, workers: int = 1):  # type: ignore[no-untyped-def]
    """``zoo serve`` on a free loopback port; yields (url, pid)."""
    from zoo_bench.serve import zoo_serve

    with zoo_serve(registry, "--workers", str(workers), log=log) as server:
        yield server.url, server.pid


def paths_of(registry: Path) -> dict[str, list[str]]:
    """The URL paths of each kind of GET, over every model and version of the index."""
    index = json.loads((registry / "index.json").read_text())
    versions = [(mid, v) for mid, m in index["models"].items() for v in m["versions"]]
    return {
        "index": ["/index.json"],
        "model": [f"/api/v1/models/{mid}" for mid in index["models"]],
        "version": [f"/api/v1/models/{mid}/{v}" for mid, v in versions],
        "download": [f"/api/v1/models/{mid}/{v}/package" for mid, v in versions],
    }


class Connection:
    """A minimal HTTP/1.1 keep-alive client over one socket: a GET, then the status and the
    body by its Content-Length (every answer of these GETs has one). Far lighter than httpx
    or http.client, so that the load generator leaves the shared cores to the server."""

    def __init__(self, host: str, port: int) -> None:
        self.address, self.sock, self.buffer = (host, port), None, bytearray()
        self.host = f"{host}:{port}".encode()

    def get(self, path: str) -> tuple[int, bytearray]:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=30)
            self.buffer = bytearray()
        head = b"GET %s HTTP/1.1\r\nHost: %s\r\nAccept-Encoding: gzip\r\n\r\n"
        self.sock.sendall(head % (path.encode(), self.host))
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._recv()
        head = self.buffer[:end].decode("latin-1")
        del self.buffer[: end + 4]
        lines = head.split("\r\n")
        fields = dict(line.split(":", 1) for line in lines[1:])
        length = {k.lower(): v for k, v in fields.items()}.get("content-length")
        if length is None:
            raise ConnectionError(f"no Content-Length in the answer: {lines[0]}")
        body = bytearray(int(length))
        got = min(len(body), len(self.buffer))
        body[:got] = self.buffer[:got]
        del self.buffer[:got]
        view = memoryview(body)
        while got < len(body):
            n = self.sock.recv_into(view[got:])
            if not n:
                raise ConnectionError("the server closed the connection")
            got += n
        return int(lines[0].split()[1]), body

    def _recv(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def client(plan: dict, seed: int) -> dict:
    """One client: GETs over one keep-alive connection until its share is done or time is up."""
    rng = random.Random(seed)
    kinds, weights = zip(*plan["mix"], strict=True)
    todo = rng.choices(kinds, weights=weights, k=plan["requests"])
    host, port = plan["url"].removeprefix("http://").split(":")
    conn = Connection(host, int(port))
    latencies: dict[str, list[float]] = {k: [] for k in kinds}
    errors: list[str] = []
    received = 0
    while time.time() < plan["start_at"]:
        time.sleep(0.005)
    cpu0 = time.process_time()
    for kind in todo:
        if time.time() > plan["stop_at"]:
            break
        path = rng.choice(plan["paths"][kind])
        t0 = time.perf_counter()
        try:
            status, body = conn.get(path)
        except OSError as exc:  # ConnectionError and timeouts too
            errors.append(f"{kind} {path}: {type(exc).__name__} {exc}"[:200])
            conn.close()  # a new connection for the next request
            continue
        seconds = time.perf_counter() - t0
        if status != 200:
            errors.append(f"{kind} {path}: {status} {body[:100]!r}")
            continue
        latencies[kind].append(seconds * 1e3)
        received += len(body)
    conn.close()
    return {
        "latencies_ms": latencies,
        "errors": len(errors),
        "error_samples": errors[:5],
        "bytes": received,
        "end": time.time(),
        "cpu_s": time.process_time() - cpu0,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


def run_load(
    server: tuple[str, int], paths: dict, mix: list, n: int, args: argparse.Namespace, work: Path
) -> dict:
    """``n`` GETs in the ``mix`` from --clients processes; the figures of the run."""
    url, pid = server
    per_client = -(-n // args.clients)
    start_at = time.time() + 1.0 + 0.25 * args.clients  # the clients start in the meantime
    plan = {"url": url, "paths": paths, "mix": mix, "requests": per_client,
            "start_at": start_at, "stop_at": start_at + args.seconds}  # fmt: skip
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan))
    argv = [sys.executable, "-m", "zoo_bench.serve_load", "--client", str(plan_file)]
    procs = [
        subprocess.Popen([*argv, "--seed", str(i)], stdout=subprocess.PIPE, text=True)
        for i in range(args.clients)
    ]
    while time.time() < start_at:
        time.sleep(0.005)
    server_cpu0 = _cpu_seconds(pid)
    results = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=args.seconds + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"a client failed (exit {proc.returncode})")
        results.append(json.loads(stdout))
    server_cpu = _cpu_seconds(pid) - server_cpu0
    wall = max(r["end"] for r in results) - start_at
    by_kind = {k: [x for r in results for x in r["latencies_ms"].get(k, [])] for k, _ in mix}
    every = [x for xs in by_kind.values() for x in xs]
    done = len(every)
    return {
        "requests": done,
        "errors": sum(r["errors"] for r in results),
        "error_samples": [e for r in results for e in r["error_samples"]][:5],
        "wall_s": wall,
        "rate": done / wall,
        "mb_s": sum(r["bytes"] for r in results) / 2**20 / wall,
        **{f"p{q}": _percentile(every, q) for q in (50, 95, 99)},
        "max": max(every, default=0.0),
        "server_cpu_s": server_cpu,
        "client_cpu_s": sum(r["cpu_s"] for r in results),
        "kinds": {
            k: {"n": len(v), "p50": _percentile(v, 50), "p99": _percentile(v, 99)}
            for k, v in by_kind.items()
        },
    }


def _parse_mix(text: str) -> list[list]:
    mix = [[k, float(w)] for k, _, w in (part.partition("=") for part in text.split(","))]
    unknown = [k for k, _ in mix if k not in KINDS]
    if unknown:
        raise SystemExit(f"unknown kinds in --mix: {unknown} (known: {', '.join(KINDS)})")
    return mix


def _table(runs: dict[str, dict]) -> str:
    lines = [
        "| run | GETs | errors | s | GET/s | MB/s | p50 ms | p95 ms | p99 ms | max ms "
        "| server CPU s | server CPU µs/GET | client CPU s |",
        "|" + "---|" * 13,
    ]
    for name, r in runs.items():
        per = r["server_cpu_s"] / max(r["requests"], 1) * 1e6
        lines.append(
            f"| {name} | {r['requests']} | {r['errors']} | {r['wall_s']:.1f} | "
            f"{r['rate']:.0f} | {r['mb_s']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['p99']:.1f} | {r['max']:.1f} | {r['server_cpu_s']:.1f} | {per:.0f} | "
            f"{r['client_cpu_s']:.1f} |"
        )
    return "\n".join(lines)


def _kinds_table(run: dict) -> str:
    lines = ["| kind (in the mix) | GETs | p50 ms | p99 ms |", "|---|---|---|---|"]
    for kind, k in run["kinds"].items():
        lines.append(f"| {kind} | {k['n']} | {k['p50']:.1f} | {k['p99']:.1f} |")
    return "\n".join(lines)


def verdict(name: str, run: dict) -> str:
    ok = run["rate"] >= GOAL_RATE and run["p99"] <= GOAL_P99_MS and run["errors"] == 0
    per = run["server_cpu_s"] / max(run["requests"], 1)
    return (
        f"{'PASS' if ok else 'FAIL'} server {name}: {run['rate']:.0f} GET/s at p99 "
        f"{run['p99']:.1f} ms, {run['errors']} errors (goal ≥ {GOAL_RATE:.0f} GET/s at p99 ≤ "
        f"{GOAL_P99_MS:.0f} ms); server CPU {per * 1e6:.0f} µs/GET, i.e. about "
        f"{1 / per if per else 0:.0f} GET/s on one core of its own (estimate)"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), measure, print and optionally write; 1 if
    any GET failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=250)
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--workers", type=int, default=1, help="zoo serve --workers")
    parser.add_argument("--requests", type=int, default=20_000, help="GETs in the mix run")
    parser.add_argument("--alone", type=int, default=3000, help="GETs per kind alone (0: none)")
    parser.add_argument("--seconds", type=float, default=60, help="cap per run")
    parser.add_argument("--mix", default=MIX, help=f"kind=weight,… (default {MIX})")
    parser.add_argument("--package", type=Path, help="zip to publish (default: the example)")
    parser.add_argument("--write", type=Path, help="also write the results into this markdown")
    parser.add_argument("--client", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        print(json.dumps(client(json.loads(args.client.read_text()), args.seed)))
        return 0
    mix = _parse_mix(args.mix)
    from zoo_bench.registry import build

    with tempfile.TemporaryDirectory(prefix="zoo-bench-serve-") as tmp:
        work = Path(tmp)
        build(work, args.models, args.versions, args.package)
        registry = work / "registry"
        paths = paths_of(registry)
        index_mb = (registry / "index.json").stat().st_size / 2**20
        package_mb = max(p.stat().st_size for p in (registry / "models").glob("*.zip")) / 2**20
        setup = (
            f"{len(paths['model'])} models, {len(paths['version'])} versions, index.json "
            f"{index_mb:.2f} MB, package {package_mb:.1f} MB"
        )
        print(f"registry: {setup}")
        with serving(registry, work / "server.log", args.workers) as server:
            import httpx

            with httpx.Client(base_url=server[0]) as http:  # warm-up: one of each kind
                for kind in KINDS:
                    http.get(paths[kind][0]).raise_for_status()
            runs = {"mix": run_load(server, paths, mix, args.requests, args, work)}
            for kind in KINDS if args.alone else ():
                runs[f"{kind} alone"] = run_load(server, paths, [[kind, 1]], args.alone, args, work)
    for r in runs.values():
        for sample in r["error_samples"]:
            print("error:", sample, file=sys.stderr)
    table, kinds = _table(runs), _kinds_table(runs["mix"])
    lines = [verdict(name, run) for name, run in runs.items()]  # the mix is the target
    print(table, kinds, "\n".join(lines), sep="\n\n")
    if args.write:
        _write(args, setup, f"{table}\n\n{kinds}\n\n" + "".join(f"- {x}\n" for x in lines))
    return 0 if all(r["errors"] == 0 for r in runs.values()) else 1


def _write(args: argparse.Namespace, setup: str, results: str) -> None:
    import uvicorn

    from zoo_bench.perfdoc import machine, write_section

    command = (
        f"python scripts/bench_serve.py --models {args.models} --versions {args.versions} "
        f"--clients {args.clients} --workers {args.workers} --requests {args.requests} "
        f"--alone {args.alone} --seconds {args.seconds:g} --mix {args.mix}"
    )
    body = (
        f"### `zoo serve --workers {args.workers}`\n\n"
        f"`{command}` on {machine()}; uvicorn {uvicorn.__version__}. Registry: {setup}. "
        f"{args.clients} client processes, one keep-alive connection each, share the cores "
        "with the server (their CPU seconds: last column).\n\n" + results
    )
    write_section(args.write, f"bench_serve-workers{args.workers}", body)


if __name__ == "__main__":
    sys.exit(main())
