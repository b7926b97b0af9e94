"""`--channel` (one channel of a multi-channel image) and the output dtype rule (float32, or
the input's with `--dtype input`), on the runner, the CLI, OME-Zarr and the Dask path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

import zoo as zoo_api
from zoo.cli import app
from zoo.hashes import sha256_file
from zoo.imageio import read_image, to_dtype


def zoo(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture()
def plane(example_zip: Path) -> np.ndarray:
    """The example package's own test input (float32, 2D)."""
    from zoo.inference import _test_tensors
    from zoo.package import load_package

    x, _ = _test_tensors(load_package(example_zip))
    return np.asarray(x[0, 0], np.float32)


def _as(dtype: str, plane: np.ndarray) -> np.ndarray:
    if dtype == "float32":
        return plane
    top = 250 if dtype == "uint8" else 60000
    u = (plane - plane.min()) / (np.ptp(plane) or 1.0)
    return np.rint(u * top).astype(dtype)


@pytest.fixture()
def rgb_png(plane: np.ndarray, tmp_path: Path) -> Path:
    """A real RGB PNG (PIL), channel 1 the example's own input scaled to 8 bits."""
    from PIL import Image as PILImage

    g = _as("uint8", plane)
    rgb = np.stack([g[::-1], g, g[:, ::-1]], axis=-1)
    folder = tmp_path / "in"
    folder.mkdir()
    PILImage.fromarray(rgb, "RGB").save(folder / "rgb.png")
    PILImage.fromarray(g, "L").save(folder / "green.png")
    return folder / "rgb.png"


def test_rgb_png_is_refused_even_forced_and_the_error_names_channel(
    example_zip: Path, rgb_png: Path, tmp_path: Path
) -> None:
    stamp = sha256_file(rgb_png)
    out = tmp_path / "out"
    out.mkdir()
    for extra in ((), ("--force",)):
        code, output = zoo("run", example_zip, rgb_png, "-o", out / "x.ome.tif", *extra)
        assert code == 4, output
        assert "not even with --force" in output and "--channel N (N from 0 to 2)" in output
        assert "Use --force" not in output and "Traceback" not in output
    code, output = zoo("check", example_zip, rgb_png)
    assert code == 4 and "--channel N" in output
    for force in (False, True):
        with pytest.raises(zoo_api.IncompatibleImageError, match="--channel"):
            zoo_api.run(example_zip, rgb_png, out / "x.ome.tif", force=force)
    assert list(out.iterdir()) == [] and sha256_file(rgb_png) == stamp


def test_channel_picks_one_channel_for_check_run_and_match(
    example_zip: Path, rgb_png: Path, tmp_path: Path
) -> None:
    green = rgb_png.with_name("green.png")
    code, output = zoo("check", example_zip, rgb_png, "--channel", "1", "--json")
    assert code == 4, output  # 8-bit grey values, not the model's: a statistics mismatch
    assert [c["status"] for c in json.loads(output)["checks"][:3]] == ["ok"] * 3
    data = json.loads(output)
    assert data.pop("next_step")["adapt_command"].endswith(" --channel 1 -o rgb.adapted.zip")
    assert data == zoo_api.check(example_zip, green).to_dict()
    assert zoo_api.check(example_zip, rgb_png, channel=1).to_dict() == data
    out = tmp_path / "g.ome.tif"
    code, output = zoo("run", example_zip, rgb_png, "--channel", "1", "-o", out, "--tile", "128",
                       "--force")  # fmt: skip
    assert code == 0, output
    reference = zoo_api.run(example_zip, green, tmp_path / "ref.ome.tif", tile=128, force=True)
    written = read_image(out)
    assert written.axes == "yx"
    np.testing.assert_array_equal(written.data, read_image(reference.output).data)
    provenance = json.loads(out.with_name(out.name + ".json").read_text())
    assert provenance["input"]["channel"] == 1 and provenance["input"]["axes"] == "yxc"
    assert provenance["input"]["shape"][-1] == 3 and provenance["output"]["axes"] == "yx"
    assert "channel" not in json.loads(reference.sidecar.read_text())["input"]
    code, output = zoo("run", example_zip, rgb_png, "--channel", "3", "-o", tmp_path / "n.tif")
    assert code == 2 and "has 3 channel(s), numbered 0 to 2" in output
    code, output = zoo("match", rgb_png, "--channel", "1", "--json")
    assert code == 0, output
    assert not any("channels" in r for m in json.loads(output) for r in m["reasons"])


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_output_is_float32_or_the_input_dtype_clipped(
    example_zip: Path, plane: np.ndarray, tmp_path: Path, dtype: str
) -> None:
    image = tmp_path / f"in-{dtype}.tif"
    tifffile.imwrite(image, _as(dtype, plane))
    floats = zoo_api.run(example_zip, image, tmp_path / "f.ome.tif", force=True, tile=128)
    data = tifffile.imread(floats.output)
    assert data.dtype == np.float32 and floats.provenance.output.dtype == "float32"
    code, output = zoo("run", example_zip, image, "-o", tmp_path / "i.ome.tif", "--force",
                       "--tile", "128", "--dtype", "input")  # fmt: skip
    assert code == 0, output
    cast = tifffile.imread(tmp_path / "i.ome.tif")
    assert cast.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(cast, to_dtype(data, dtype))
    provenance = json.loads((tmp_path / "i.ome.tif.json").read_text())
    assert provenance["output"]["dtype"] == dtype == provenance["input"]["dtype"]
    zarr_out = zoo_api.run(example_zip, image, tmp_path / "i.zarr", force=True, tile=128,
                           dtype="input")  # fmt: skip
    np.testing.assert_array_equal(read_image(zarr_out.output).data, cast)


def test_to_dtype_rounds_and_clips_to_the_range() -> None:
    x = np.array([-3.6, 0.4, 1.5, 254.6, 300.2], np.float32)
    assert to_dtype(x, "uint8").tolist() == [0, 0, 2, 255, 255]
    assert to_dtype(x * 300, "uint16").tolist() == [0, 120, 450, 65535, 65535]
    assert to_dtype(x, np.float32) is x
    with pytest.raises(zoo_api.ImageError, match="--dtype must be one of float32, input"):
        zoo_api.run("n2v-ihc-careamics", "any.tif", "out.tif", dtype="uint8")


def test_dask_path_keeps_the_dtype_rule(
    example_zip: Path, plane: np.ndarray, tmp_path: Path
) -> None:
    from zoo.omezarr import write_ome_zarr

    data = _as("uint16", np.tile(plane, (3, 3)))
    source = tmp_path / "in.zarr"
    write_ome_zarr(source, data, axes="yx", pixel_size={}, metadata={})
    single = zoo_api.run(example_zip, source, tmp_path / "s.zarr", force=True, tile=256,
                         dtype="input")  # fmt: skip
    code, output = zoo("run", example_zip, source, "-o", tmp_path / "d.zarr", "--force",
                       "--tile", "256", "--dask", "local", "--dtype", "input")  # fmt: skip
    assert code == 0 and "lower is better; Dask" in output, output
    got = read_image(tmp_path / "d.zarr").data
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, read_image(single.output).data)
    provenance = json.loads((tmp_path / "d.zarr.json").read_text())
    assert provenance["output"]["dtype"] == "uint16"


def test_dask_path_picks_a_channel(example_zip: Path, plane: np.ndarray, tmp_path: Path) -> None:
    from zoo.omezarr import write_ome_zarr

    big = np.tile(plane, (2, 2))
    data = np.stack([big[::-1], big, big[:, ::-1]])
    source = tmp_path / "cyx.zarr"
    write_ome_zarr(source, data, axes="cyx", pixel_size={}, metadata={})
    code, output = zoo("run", example_zip, source, "-o", tmp_path / "x.zarr", "--dask", "local",
                       "--force")  # fmt: skip
    assert code == 4 and "--channel N (N from 0 to 2)" in output, output
    assert not (tmp_path / "x.zarr").exists()
    single = zoo_api.run(example_zip, source, tmp_path / "s.zarr", channel=1, tile=256)
    code, output = zoo("run", example_zip, source, "-o", tmp_path / "d.zarr", "--dask", "local",
                       "--channel", "1", "--tile", "256")  # fmt: skip
    assert code == 0, output
    got = read_image(tmp_path / "d.zarr")
    assert got.axes == "yx"
    np.testing.assert_array_equal(got.data, read_image(single.output).data)
    provenance = json.loads((tmp_path / "d.zarr.json").read_text())
    assert provenance["input"]["channel"] == 1 and provenance["output"]["axes"] == "yx"
    assert provenance["output"]["shape"] == list(got.data.shape)
