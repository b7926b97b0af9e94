"""Small runs of the fault-injection and concurrency scripts (their full runs are in
docs/reliability.md): SIGKILLed publishers, racing publishers, racing fetchers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _script(name: str, *args: str, tmp_path: Path) -> dict:
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_publishers_killed_at_random_moments_lose_nothing(tmp_path: Path) -> None:
    figures = _script("fault_publish.py", "--kills", "12", "--pad-mb", "0.5", tmp_path=tmp_path)
    assert figures["ok"], figures["failures"]
    assert figures["index_loads_after_every_kill"]
    assert figures["lost"] == figures["bad_blobs"] == 0
    assert figures["temp_files_after_next_publish"] == 0
    assert figures["versions_listed"] >= figures["acknowledged_publishes"] > 0


def test_concurrent_publishers_and_fetchers(tmp_path: Path) -> None:
    figures = _script(
        "concurrent_publish.py", "--procs", "3", "--versions", "5", "--fetchers", "4",
        tmp_path=tmp_path,
    )  # fmt: skip
    assert figures["ok"], figures["failures"]
    assert figures["listed"] == figures["acknowledged"] == figures["blobs_verified"] == 15
    assert figures["race_same_version"] == {"procs": 3, "won": 1, "refused": 2}
    assert figures["cache_files"] == figures["cache_files_verified"] == 5
    assert figures["cache_temp_files"] == figures["temp_files"] == 0


def test_a_stray_temporary_file_is_removed_by_the_next_publish(tmp_path: Path) -> None:
    """What a publisher killed mid-write leaves (a temporary blob and index) goes at the next
    transaction, which holds the lock, so no live writer's file is touched."""
    from zoo.registry import Registry
    from zoo.spec import ZooCard
    from zoo_bench.fixtures import build_tiny_package, card_dict

    package = build_tiny_package(tmp_path / "p", ZooCard.model_validate(card_dict()))
    registry = tmp_path / "registry"
    reg = Registry(registry, cache=tmp_path / "cache")
    reg.publish(package)
    strays = [registry / "models" / f".{'0' * 64}.abc.tmp", registry / ".index.json.abc.tmp"]
    for stray in strays:
        stray.write_bytes(b"half")
    reg.yank("tiny-mean@0.1.0", "any write sweeps")
    assert not any(s.exists() for s in strays)


def test_packages_load_in_parallel_threads(tmp_path: Path) -> None:
    """zoo serve loads uploads in a thread pool; bioimageio.spec's YAML parser is shared, so
    unserialised loads garbled each other (a valid package refused with a YAML error)."""
    from concurrent.futures import ThreadPoolExecutor

    from zoo.package import load_package
    from zoo.spec import ZooCard
    from zoo_bench.fixtures import build_tiny_package, card_dict

    card = ZooCard.model_validate(card_dict())
    packages = [build_tiny_package(tmp_path / n, card, name=f"tiny-{n}") for n in "ab"]
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda i: load_package(packages[i % 2]).name, range(64)))
    assert names == ["tiny-a", "tiny-b"] * 32
