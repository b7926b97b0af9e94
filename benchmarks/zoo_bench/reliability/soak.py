"""Soak: a bounded mixed load against a real ``zoo serve`` on loopback; zero errors, flat memory.

    python scripts/soak_serve.py [--seconds 60] [--clients 4] [--json FILE]

Starts ``zoo serve`` (the command, as its own process) on a free loopback port over a
registry holding a few tiny real packages, with a token made by ``zoo token add``. Then
``--clients`` threads send, for ``--seconds``, a mix of what a registry sees: the index,
searches, model and version metadata, package downloads (verified against their sha256,
whole and by byte range), web pages, covers, publishes of identical bytes (the full
validation path; answered 200), a new version now and then, and requests that must be
refused (a wrong token: 403; an unknown model: 404; an invalid id: 422). An answer other
than the expected one, or a failed request, is an error.

Before the load the server answers one request of each read kind and one publish (imports
and caches a first request fills are not growth). Then its resident memory (VmRSS) is
sampled every half second; memory is flat when the
median of the last quarter of the run is within 10% (+ 16 MiB) of the median of the second
quarter (the first quarter is warm-up). Prints the figures (``--json`` writes them too);
exits 1 on any error or a memory growth beyond that.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from zoo_bench.reliability.harness import base_package, variant


def _rss(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--new-versions", type=int, default=10, help="at most this many")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)

    from zoo.registry import Registry
    from zoo_bench.serve import ServerStartError, zoo_serve

    work = Path(tempfile.mkdtemp(prefix="zoo-soak-"))
    registry = work / "registry"
    base = base_package(work)
    reg = Registry(registry, cache=work / "cache")
    packages = []
    for i in range(3):
        package = variant(base, work / f"package-{i}.zip", i)
        reg.publish(package, model_id=f"soak-{i}", version="1.0.0")
        packages.append(package)
    zoo = [sys.executable, "-m", "zoo"]
    token = subprocess.run(
        [*zoo, "token", "add", "soak", "--registry", str(registry)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    log = work / "server.log"
    try:
        with zoo_serve(registry, "--max-upload-mb", "2", log=log) as server:
            figures = _load(args, server.url, token, packages, server.pid, work)
    except ServerStartError as e:
        print(e)
        return 1
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    with contextlib.suppress(OSError):
        shutil.rmtree(work)
    return 0 if figures["ok"] else 1


KINDS = ["index", "search", "model", "version", "download", "range", "page", "model-page",
         "republish", "publish-new", "wrong-token", "unknown", "bad-id"]  # fmt: skip
WEIGHTS = [10, 10, 8, 8, 8, 4, 4, 4, 2, 1, 2, 3, 3]
"""The mix of requests: how often each kind is drawn."""


class _Soak:
    """The load on one server: the clients' requests, their outcomes and latencies."""

    def __init__(self, args, url, token, packages, work) -> None:  # type: ignore[no-untyped-def]
        from zoo.store import LocalStore

        index = LocalStore(str(work / "registry")).read_index()
        self.entries = [
            (mid, v, e) for mid, m in index.models.items() for v, e in m.versions.items()
        ]
        self.args, self.url, self.packages, self.work = args, url, packages, work
        self.auth = {"Authorization": f"Bearer {token}"}
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.new_versions = 0
        self.stop = time.monotonic() + args.seconds

    def expect(self, kind: str, response, *status: int) -> bool:  # type: ignore[no-untyped-def]
        ok = response.status_code in status
        with self.lock:
            self.counts[kind] += 1
            if not ok:
                self.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
        return ok

    def client(self, seed: int) -> None:
        """Send random requests of the mix until the end of the run."""
        import httpx

        rng = random.Random(seed)
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while time.monotonic() < self.stop:
                mid, version, entry = rng.choice(self.entries)
                kind = rng.choices(KINDS, weights=WEIGHTS)[0]
                t0 = time.perf_counter()
                try:
                    if not self.request(http, kind, mid, version, entry, seed):
                        continue
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.counts[kind] += 1
                        self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                with self.lock:
                    self.latencies.append(time.perf_counter() - t0)

    def request(self, http, kind: str, mid: str, version: str, entry, seed: int) -> bool:  # type: ignore[no-untyped-def]
        """Send one request of ``kind`` and check its answer; False when none was sent (no
        new version left to publish)."""
        if kind == "index":
            self.expect(kind, http.get("/index.json"), 200)
        elif kind == "search":
            self.expect(kind, http.get("/api/v1/search", params={"q": "tiny"}), 200)
        elif kind == "model":
            self.expect(kind, http.get(f"/api/v1/models/{mid}"), 200)
        elif kind == "version":
            self.expect(kind, http.get(f"/api/v1/models/{mid}/{version}"), 200)
        elif kind == "download":
            r = http.get(f"/{entry.location}")
            if self.expect(kind, r, 200) and hashlib.sha256(r.content).hexdigest() != (
                entry.sha256
            ):
                with self.lock:
                    self.errors.append(f"download of {mid}@{version}: wrong bytes")
        elif kind == "range":
            r = http.get(f"/{entry.location}", headers={"Range": "bytes=0-99"})
            self.expect(kind, r, 206)
        elif kind == "page":
            self.expect(kind, http.get("/"), 200)
        elif kind == "model-page":
            self.expect(kind, http.get(f"/model/{mid}/"), 200)
        elif kind in ("republish", "publish-new"):
            return self.publish(http, kind, mid, seed)
        elif kind == "wrong-token":
            r = http.post("/api/v1/publish", content=b"x",
                          headers={"Authorization": "Bearer zoo_wrong"})  # fmt: skip
            self.expect(kind, r, 403)
        elif kind == "unknown":
            self.expect(kind, http.get("/api/v1/models/no-such-model"), 404)
        else:
            self.expect(kind, http.get("/api/v1/models/Bad_Id!/1.0.0"), 422)
        return True

    def publish(self, http, kind: str, mid: str, seed: int) -> bool:  # type: ignore[no-untyped-def]
        """Publish identical bytes again (200) or a new version (201); False when no new
        version is left to publish."""
        if kind == "republish":
            i = int(mid.rsplit("-", 1)[1]) if mid.startswith("soak-") else 0
            body = self.packages[i].read_bytes()
            params = {"id": f"soak-{i}", "version": "1.0.0"}
            r = http.post("/api/v1/publish", content=body, params=params,
                          headers=self.auth)  # fmt: skip
            self.expect(kind, r, 200)
            return True
        with self.lock:
            n = self.new_versions
            self.new_versions += n < self.args.new_versions
        if n >= self.args.new_versions:
            return False
        package = variant(self.packages[0], self.work / f"new-{seed}.zip", 100 + n)
        params = {"id": "soak-new", "version": f"1.0.{n}"}
        r = http.post("/api/v1/publish", content=package.read_bytes(),
                      params=params, headers=self.auth)  # fmt: skip
        self.expect(kind, r, 201)
        return True

    def warm_up(self) -> None:
        """One request of each read kind and one publish, before the load."""
        import httpx

        with httpx.Client(base_url=self.url, timeout=120) as http:
            mid, version, entry = self.entries[0]
            for kind, path in (("index", "/index.json"), ("model", f"/api/v1/models/{mid}"),
                               ("version", f"/api/v1/models/{mid}/{version}"),
                               ("download", f"/{entry.location}"), ("page", "/"),
                               ("model-page", f"/model/{mid}/")):  # fmt: skip
                self.expect(kind, http.get(path), 200)
            self.expect("search", http.get("/api/v1/search", params={"q": "tiny"}), 200)
            body = self.packages[0].read_bytes()
            params = {"id": "soak-0", "version": "1.0.0"}
            r = http.post("/api/v1/publish", content=body, params=params, headers=self.auth)
            self.expect("republish", r, 200)


def _load(args, url, token, packages, pid, work) -> dict:  # type: ignore[no-untyped-def]
    """Warm the server up, run the clients while sampling its memory; the figures."""
    soak = _Soak(args, url, token, packages, work)
    soak.warm_up()
    rss: list[tuple[float, int]] = []
    t_start = time.monotonic()
    threads = [
        threading.Thread(target=soak.client, args=(args.seed + i,)) for i in range(args.clients)
    ]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss.append((time.monotonic() - t_start, _rss(pid)))
        time.sleep(0.5)
    for t in threads:
        t.join()
    return _figures(args, soak, rss, time.monotonic() - t_start)


def _figures(args, soak: _Soak, rss: list[tuple[float, int]], elapsed: float) -> dict:  # type: ignore[no-untyped-def]
    """The figures of a run: requests, errors, latencies and the server's memory."""
    quarter = max(1, len(rss) // 4)
    warm = statistics.median(r for _, r in rss[quarter : 2 * quarter] or rss)
    last = statistics.median(r for _, r in rss[-quarter:])
    growth = last - warm
    flat = growth <= 0.10 * warm + (16 << 20)
    latencies = sorted(soak.latencies)
    errors = soak.errors
    total = sum(soak.counts.values())
    mib = 2**20
    return {
        "seconds": round(elapsed, 1),
        "clients": args.clients,
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "by_kind": dict(sorted(soak.counts.items())),
        "errors": len(errors),
        "error_samples": errors[:10],
        "latency_ms": {
            "p50": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
            "p99": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
            "max": round(1000 * latencies[-1], 1) if latencies else None,
        },
        "rss_mib": {
            "start": round(rss[0][1] / mib, 1),
            "after_warmup": round(warm / mib, 1),
            "end": round(last / mib, 1),
            "max": round(max(r for _, r in rss) / mib, 1),
            "samples": len(rss),
        },
        "rss_growth_mib": round(growth / mib, 1),
        "memory_flat": flat,
        "ok": not errors and flat,
    }
