"""The embedded registry's example package: the quickstart works and it runs everywhere."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import EXAMPLE_ID, REPO
from zoo.cli import app


def test_quickstart_commands_succeed(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"ZOO_CACHE": str(tmp_path)}
    listed = runner.invoke(app, ["search", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert EXAMPLE_ID in listed.output
    fetched = runner.invoke(app, ["fetch", EXAMPLE_ID, "--registry", str(REPO)], env=env)
    assert fetched.exit_code == 0, fetched.output
    path = fetched.output.strip().splitlines()[-1]
    assert Path(path).parent == tmp_path / "blobs"
    result = runner.invoke(app, ["validate", path])
    assert result.exit_code == 0, result.output
    assert "bioimage.io valid; zoo card valid" in result.output


def test_readme_quickstart_checks_and_denoises_the_example(tmp_path: Path) -> None:
    """The README's first command, minus the install, run literally (in a copy of examples/)."""
    import re
    import shutil
    import subprocess
    import sys

    readme = (REPO / "README.md").read_text()
    block = re.search(r"Run the main job.*?```bash\n(.*?)\n```", readme, re.S)
    assert block, "README lost its quickstart"
    steps = [c.strip() for c in block.group(1).split("&&")]
    steps = [c for c in steps if not c.startswith(("python3 -m venv", ".venv/bin/pip"))]
    assert [c.split()[1] for c in steps] == ["check", "run"]
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    zoo_bin = str(Path(sys.executable).parent / "zoo")
    env = {"ZOO_CACHE": str(tmp_path / "cache"), "ZOO_REGISTRY": str(REPO), "PATH": "/usr/bin:/bin"}
    for step in steps:
        argv = step.split()
        argv[0] = zoo_bin
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "match" in done.stdout
    assert (tmp_path / "denoised.ome.tif").is_file()
    assert (tmp_path / "denoised.ome.tif.json").is_file()


def test_example_passes_bioimageio_core_test_model(example_zip: Path) -> None:
    from bioimageio.core import test_model

    summary = test_model(example_zip)
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed


def test_every_embedded_package_verifies() -> None:
    from zoo.hashes import sha256_file
    from zoo.registry import Registry

    entries = list(Registry(REPO).iter_entries())
    assert entries
    for _id, _version, entry in entries:
        assert sha256_file(REPO / entry.location) == entry.sha256
