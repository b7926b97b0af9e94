"""`zoo run --dask`: OME-Zarr in Dask blocks gives exactly the single-process result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from zoo.cli import app
from zoo.imageio import read_image
from zoo.omezarr import write_ome_zarr


def zoo(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def stack(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two planes of 1100 × 900 (several tiles of 512 each way, odd sizes)."""
    noisy = np.load(shared_data / "synthetic" / "noisy.npy")
    plane = np.tile(noisy, (3, 2))[:1100, :900]
    path = tmp_path_factory.mktemp("zarr") / "stack.zarr"
    write_ome_zarr(path, np.stack([plane, plane[::-1]]), axes="zyx",
                   pixel_size={"z": 1.0, "y": 0.2, "x": 0.2}, metadata={})  # fmt: skip
    return path


@pytest.fixture(scope="module")
def single(example_zip: Path, stack: Path, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    out = tmp_path_factory.mktemp("single") / "single.zarr"
    code, output = zoo("run", example_zip, stack, "-o", out, "--tile", "512")
    assert code == 0, output
    return read_image(out).data


def test_dask_local_equals_single_process(
    example_zip: Path, stack: Path, single: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "dask.zarr"
    code, output = zoo("run", example_zip, stack, "-o", out, "--tile", "512", "--dask", "local")
    assert code == 0, output
    result = read_image(out)
    assert result.axes == "zyx" and result.pixel_size == {"z": 1.0, "y": 0.2, "x": 0.2}
    np.testing.assert_array_equal(result.data, single)
    provenance = __import__("json").loads((tmp_path / "dask.zarr.json").read_text())
    assert provenance["dask"]["scheduler"] == "local threads"
    assert provenance["check"]["verdict"] == "match"


def test_dask_distributed_cluster_on_loopback(
    example_zip: Path, stack: Path, single: np.ndarray, tmp_path: Path
) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:  # fmt: skip
        out = tmp_path / "cluster.zarr"
        code, output = zoo("run", example_zip, stack, "-o", out, "--tile", "512",
                           "--dask", cluster.scheduler_address)  # fmt: skip
    assert code == 0, output
    np.testing.assert_array_equal(read_image(out).data, single)


def test_dask_needs_ome_zarr(example_zip: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((64, 64), np.float32))
    code, output = zoo("run", example_zip, tmp_path / "x.npy", "-o", tmp_path / "o.zarr",
                       "--dask", "local")  # fmt: skip
    assert code == 2 and "OME-Zarr" in output
    assert not (tmp_path / "o.zarr").exists()
