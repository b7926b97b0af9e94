"""`zoo check` and `zoo run` end to end: verdicts and exit codes, reproduction of real
packages' own outputs, provenance, refusals that write nothing, bad images."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from tests.conftest import core_one_pass
from zoo.cli import app
from zoo.hashes import sha256_file

CAREAMICS_ONNX = "careamics/n2v_short_bioimageio_with_onnx"


def zoo(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _listing(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture()
def own_input(example_zip: Path, tmp_path: Path) -> Path:
    """The example package's own test input as a plain 2D image file."""
    from zoo.inference import _test_tensors
    from zoo.package import load_package

    x, _ = _test_tensors(load_package(example_zip))
    path = tmp_path / "own.npy"
    np.save(path, x[0, 0])
    return path


def test_check_own_test_input_is_a_match(example_zip: Path, own_input: Path) -> None:
    code, output = zoo("check", example_zip, own_input, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["verdict"] == "match" and report["score"] < 1
    assert {c["name"] for c in report["checks"]} >= {"dimensionality", "noise_corr_x", "snr_db"}


def test_check_by_registry_id_and_exit_codes(
    own_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo import learned

    cache = tmp_path / "cache"
    assert zoo("check", "n2v-ihc-careamics", own_input, "--cache", cache)[0] == 0
    # another modality of the same family: a departure the learned score tolerates here,
    # reported; judged by the thresholds alone, a caution (exit 3)
    code, output = zoo(
        "check", "n2v-ihc-careamics", own_input, "--modality", "confocal", "--cache", cache
    )
    assert code == 0 and "modality" in output and "learned score" in output
    with monkeypatch.context() as m:
        m.setattr(learned, "LEARNED", {})
        code, output = zoo(
            "check", "n2v-ihc-careamics", own_input, "--modality", "confocal", "--cache", cache
        )
    assert code == 3 and "caution" in output and "modality" in output
    x = np.load(own_input)
    noisy = x + np.random.default_rng(0).normal(0, 3 * x.std(), x.shape).astype(np.float32)
    np.save(tmp_path / "noisier.npy", noisy)
    code, output = zoo("check", "n2v-ihc-careamics", tmp_path / "noisier.npy", "--cache", cache)
    assert code == 4 and "mismatch" in output


def test_run_writes_output_and_provenance(
    example_zip: Path, own_input: Path, tmp_path: Path
) -> None:
    from zoo.imageio import read_image
    from zoo.inference import _test_tensors
    from zoo.package import load_package

    before = sha256_file(own_input)
    out = tmp_path / "out" / "denoised.ome.tif"
    out.parent.mkdir()
    code, output = zoo("run", example_zip, own_input, "-o", out, "--tile", "128")
    assert code == 0, output
    _, expected = _test_tensors(load_package(example_zip))
    written = read_image(out)
    assert written.axes == "yx"
    np.testing.assert_allclose(written.data, expected[0, 0], rtol=1e-4, atol=1e-4)
    provenance = json.loads(out.with_name(out.name + ".json").read_text())
    assert provenance["input"]["sha256"] == before == sha256_file(own_input)
    assert provenance["model"]["sha256"] == sha256_file(example_zip)
    assert provenance["backend"] == "onnx"
    # the example's graph was exported with one-output Splits, which the session runs without
    assert [n.split()[0] for n in provenance["graph_nodes_bypassed"]] == ["Split"] * 4
    assert provenance["weights_tests"][0]["status"] == "passed"
    assert provenance["tiling"] == {"tile": 128, "halo": 32, "area": False}  # --tile: square
    assert provenance["check"]["verdict"] == "match"
    assert provenance["zoo_version"]
    with tifffile.TiffFile(out) as tif:  # the provenance travels inside the OME-TIFF too
        xml = ElementTree.fromstring(tif.ome_metadata)
    (description,) = (el.text for el in xml.iter() if el.tag.endswith("Description"))
    assert json.loads(description)["zoo"] == provenance
    # not overwritten without --overwrite
    stamp = _listing(out.parent)
    code, output = zoo("run", example_zip, own_input, "-o", out)
    assert code == 2 and "--overwrite" in output
    assert _listing(out.parent) == stamp


@pytest.mark.parametrize("backend", ["onnx", "pytorch_state_dict"])
def test_real_careamics_package_reproduces_its_test_output(
    shared_data: Path, tmp_path: Path, backend: str
) -> None:
    """The real CAREamics export (ONNX with external data, state dict of the careamics UNet)."""
    package = shared_data / CAREAMICS_ONNX
    out = tmp_path / f"{backend}.tif"
    code, output = zoo(
        "run", package, package / "inputs.npy", "--axes", "tcyx", "-o", out, "--backend", backend
    )
    assert code == 0, output
    from zoo.imageio import read_image

    got = read_image(out).data
    expected = np.load(package / "outputs.npy")  # (1, 1, 256, 256); 1-long axes not kept
    assert got.shape == expected.shape[2:]
    # bioimage.io's reproducibility tolerance of the package (rtol = atol = 1e-3 by default)
    np.testing.assert_allclose(got, expected[0, 0], rtol=1e-3, atol=1e-3)


def test_real_broken_torchscript_is_refused_by_name(shared_data: Path, tmp_path: Path) -> None:
    package = shared_data / CAREAMICS_ONNX
    code, output = zoo(
        "run", package, package / "inputs.npy", "--axes", "tcyx", "-o", tmp_path / "ts.tif",
        "--backend", "torchscript",
    )  # fmt: skip
    assert code == 2
    assert "torchscript weights of" in output and "cannot be trusted" in output
    assert "99.6%" in output and "onnx" in output
    assert list(tmp_path.iterdir()) == []
    # without --backend the runner passes over nothing that fails and picks ONNX
    code, output = zoo("run", package, package / "inputs.npy", "--axes", "tcyx", "-o",
                       tmp_path / "auto.tif")  # fmt: skip
    assert code == 0, output
    assert json.loads((tmp_path / "auto.tif.json").read_text())["backend"] == "onnx"


def test_run_matches_bioimageio_core_predict_on_an_odd_size(
    example_zip: Path, shared_data: Path, tmp_path: Path
) -> None:
    """The CLI's tiles give bioimageio.core's one pass over the whole image."""
    from zoo.imageio import read_image
    from zoo.package import load_package

    image = np.tile(np.load(shared_data / "careamics" / "input_noisy.npy"), (2, 2))[:1000, :700]
    np.save(tmp_path / "odd.npy", image)
    ref = core_one_pass(load_package(example_zip).descr, image[np.newaxis, np.newaxis])
    for backend in ("onnx", "torchscript"):
        out = tmp_path / f"odd-{backend}.tif"
        code, output = zoo("run", example_zip, tmp_path / "odd.npy", "-o", out, "--tile", "256",
                           "--backend", backend)  # fmt: skip
        assert code == 0, output
        np.testing.assert_allclose(
            read_image(out).data, ref[0, 0], atol=1e-4, rtol=0, err_msg=backend
        )


def test_fixed_size_real_package_runs_on_an_odd_size(shared_data: Path, tmp_path: Path) -> None:
    """The real CAREamics export declares 256 × 256 and its ONNX graph is fixed at that size:
    zoo tiles at exactly 256 with a halo, and agrees with one whole-image pass of the same
    weights over the image reflect-padded as zoo pads it (to a multiple of 16, the pooling
    grid of UNets up to depth 4). bioimageio.core 0.11 cannot run it at this size: whole,
    ONNX Runtime rejects the shape; blocked, it returns a 256 × 256 output."""
    from zoo.imageio import read_image
    from zoo.inference import Predictor
    from zoo.package import load_package

    package = shared_data / CAREAMICS_ONNX
    image = np.tile(np.load(shared_data / "careamics" / "input_noisy.npy"), (2, 2))[:1000, :700]
    np.save(tmp_path / "odd.npy", image)
    predictor = Predictor(load_package(package), weight_format="pytorch_state_dict")
    assert predictor.fixed_sizes == {2: 256, 3: 256}
    padded = np.pad(image, ((0, 8), (0, 4)), mode="reflect")  # 1008 × 704
    whole = predictor(padded[np.newaxis, np.newaxis])[0, 0, :1000, :700]  # one pass, no tiles
    code, output = zoo("run", package, tmp_path / "odd.npy", "-o", tmp_path / "odd.tif")
    assert code == 0, output
    provenance = json.loads((tmp_path / "odd.tif.json").read_text())
    assert provenance["backend"] == "onnx"
    np.testing.assert_allclose(read_image(tmp_path / "odd.tif").data, whole, atol=1e-4, rtol=0)


def test_mismatch_is_refused_and_nothing_written(example_zip: Path, tmp_path: Path) -> None:
    images = tmp_path / "in"
    images.mkdir()
    rgb = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(images / "rgb.tif", rgb, photometric="rgb")
    stamp = _listing(images)
    out = tmp_path / "out"
    out.mkdir()
    code, output = zoo("run", example_zip, images / "rgb.tif", "-o", out / "x.tif")
    assert code == 4 and "does not match" in output and "nothing was written" in output
    assert list(out.iterdir()) == [] and _listing(images) == stamp


def test_forced_mismatch_is_recorded(example_zip: Path, own_input: Path, tmp_path: Path) -> None:
    x = np.load(own_input)
    noisy = x + np.random.default_rng(0).normal(0, 3 * x.std(), x.shape).astype(np.float32)
    np.save(tmp_path / "noisier.npy", noisy)
    assert zoo("run", example_zip, tmp_path / "noisier.npy", "-o", tmp_path / "n.tif")[0] == 4
    assert not (tmp_path / "n.tif").exists()
    code, output = zoo("run", example_zip, tmp_path / "noisier.npy", "-o", tmp_path / "n.tif",
                       "--force")  # fmt: skip
    assert code == 0, output
    provenance = json.loads((tmp_path / "n.tif.json").read_text())
    assert provenance["forced"] is True and provenance["check"]["verdict"] == "mismatch"


def test_stack_runs_plane_by_plane(example_zip: Path, own_input: Path, tmp_path: Path) -> None:
    from zoo.imageio import read_image

    x = np.load(own_input)
    stack = np.stack([x, x[::-1], x[:, ::-1]])
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    single = tmp_path / "single.tif"
    assert zoo("run", example_zip, own_input, "-o", single)[0] == 0
    code, output = zoo("run", example_zip, tmp_path / "stack.tif", "-o", tmp_path / "s.tif")
    assert code == 0, output
    out = read_image(tmp_path / "s.tif")
    assert out.axes == "zyx" and out.data.shape == stack.shape
    np.testing.assert_allclose(out.data[0], read_image(single).data, atol=1e-5)


def test_several_images_into_a_folder(example_zip: Path, own_input: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.npy"
    np.save(second, np.load(own_input)[::-1])
    out = tmp_path / "results"
    out.mkdir()
    code, output = zoo("run", example_zip, own_input, second, "-o", out)
    assert code == 0, output
    assert {p.name for p in out.iterdir()} == {
        "own.denoised.ome.tif", "own.denoised.ome.tif.json",
        "second.denoised.ome.tif", "second.denoised.ome.tif.json",
    }  # fmt: skip


def test_consistency_map(example_zip: Path, own_input: Path, tmp_path: Path) -> None:
    from zoo.imageio import read_image

    out = tmp_path / "c.ome.tif"
    code, output = zoo("run", example_zip, own_input, "-o", out, "--consistency")
    assert code == 0, output
    cmap = read_image(tmp_path / "c.consistency.ome.tif").data
    assert cmap.shape == np.load(own_input).shape and np.all(cmap >= 0)
    (plane,) = json.loads((tmp_path / "c.ome.tif.json").read_text())["consistency"]["planes"]
    assert 0 < plane["score"] < 0.5


def test_run_result_holds_the_provenance_the_outputs_carry(
    example_zip: Path, own_input: Path, tmp_path: Path
) -> None:
    """RunResult.provenance is the typed record; its to_dict() is what the sidecar and the
    OME-TIFF description hold, and the sidecar reads back as the same record."""
    from zoo.provenance import Provenance
    from zoo.runner import run

    out = tmp_path / "p.ome.tif"
    result = run(example_zip, own_input, out, with_consistency=True, tile=128)
    provenance = result.provenance
    assert isinstance(provenance, Provenance) and provenance.check is result.report
    data = provenance.to_dict()
    assert result.sidecar.read_text() == json.dumps(data, indent=2, default=str)
    with tifffile.TiffFile(out) as tif:
        xml = ElementTree.fromstring(tif.ome_metadata)
    (description,) = (el.text for el in xml.iter() if el.tag.endswith("Description"))
    assert description == json.dumps({"zoo": data})
    assert list(data)[-3:] == ["check", "output", "consistency"] and "dask" not in data
    assert provenance.tiling.tile == 128 and not provenance.tiling.area
    assert provenance.consistency is not None and result.consistency is not None
    assert provenance.consistency.path == str(result.consistency)
    back = Provenance.from_file(result.sidecar)
    assert (back.model, back.input, back.output) == (
        provenance.model,
        provenance.input,
        provenance.output,
    )
    assert back.check.verdict == provenance.check.verdict


def test_the_python_api_takes_a_reference_a_path_or_an_opened_model(
    example_zip: Path, own_input: Path, tmp_path: Path
) -> None:
    import zoo

    cache = tmp_path / "cache"
    by_id = zoo.check("n2v-ihc-careamics", own_input, cache=cache)
    opened = zoo.open_model("n2v-ihc-careamics", cache=cache)
    assert (opened.id, opened.sha256) == ("n2v-ihc-careamics", sha256_file(example_zip))
    assert zoo.check(opened, own_input).to_dict() == by_id.to_dict()
    package = zoo.open_package(example_zip)
    assert zoo.check(package, own_input).verdict == by_id.verdict == "match"
    result = zoo.run(package, own_input, tmp_path / "o.tif", tile=128)
    assert result.provenance.model.sha256 == sha256_file(example_zip)
    assert result.provenance.model.source == str(example_zip)
    with pytest.raises(zoo.OutputExistsError, match="pass --overwrite"):
        zoo.run(opened, own_input, tmp_path / "o.tif")
    assert zoo.run(opened, own_input, tmp_path / "o.tif", overwrite=True, tile=128)


def test_consistency_separates_a_denoiser_from_one_that_keeps_the_noise(
    shared_data: Path,
) -> None:
    """Identity (keeps all noise) disagrees with itself by ~1; a smoother by far less."""
    from scipy import ndimage

    from zoo.consistency import consistency

    noisy = np.load(shared_data / "synthetic" / "noisy.npy")
    keep = consistency(lambda a: a, noisy)
    smooth = consistency(lambda a: ndimage.gaussian_filter(a, 2), noisy)
    assert 0.8 < keep.score < 1.3
    assert smooth.score < 0.5 * keep.score
    assert keep.map.shape == noisy.shape


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("nan.npy", np.full((64, 64), np.nan, np.float32), "NaN"),
        ("empty.npy", np.zeros((0, 64), np.float32), "empty"),
        ("garbage.tif", b"not a tiff at all", "cannot read"),
        ("wrong_axes.npy", np.zeros((4, 4, 4, 4, 4, 4), np.float32), "axes"),
    ],
)
def test_bad_images_error_and_write_nothing(
    example_zip: Path, tmp_path: Path, name: str, content: object, expected: str
) -> None:
    images = tmp_path / "in"
    images.mkdir()
    path = images / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    stamp = _listing(images)
    out = tmp_path / "out"
    out.mkdir()
    for command in (("check",), ("run", "-o", out / "x.tif")):
        code, output = zoo(command[0], example_zip, path, *command[1:])
        assert code == 2, output
        assert expected.lower() in output.lower()
    assert list(out.iterdir()) == [] and _listing(images) == stamp


def test_wrong_axes_override_is_named(example_zip: Path, own_input: Path, tmp_path: Path) -> None:
    code, output = zoo("run", example_zip, own_input, "--axes", "zyx", "-o", tmp_path / "x.tif")
    assert code == 2 and "zyx" in output
    assert list(tmp_path.glob("x.tif*")) == []


def test_ome_zarr_in_and_out(example_zip: Path, own_input: Path, tmp_path: Path) -> None:
    import zarr

    from zoo.imageio import read_image
    from zoo.omezarr import write_ome_zarr

    x = np.load(own_input)
    write_ome_zarr(tmp_path / "in.zarr", x, axes="yx", pixel_size={"y": 0.2, "x": 0.2},
                   metadata={})  # fmt: skip
    out = tmp_path / "out.zarr"
    code, output = zoo("run", example_zip, tmp_path / "in.zarr", "-o", out)
    assert code == 0, output
    single = tmp_path / "single.tif"
    assert zoo("run", example_zip, own_input, "-o", single)[0] == 0
    result = read_image(out)
    assert result.pixel_size == {"y": 0.2, "x": 0.2}
    np.testing.assert_allclose(result.data, read_image(single).data, atol=1e-6)
    provenance = dict(zarr.open_group(str(out), mode="r").attrs)["zoo"]
    assert provenance == json.loads((tmp_path / "out.zarr.json").read_text())
    assert len(provenance["input"]["sha256"]) == 64  # a folder's hash: its files and names
    # an existing OME-Zarr output is an output, not a folder to write into
    code, output = zoo("run", example_zip, own_input, "-o", out)
    assert code == 2 and "--overwrite" in output
    assert sorted(p.name for p in out.iterdir()) == [".zattrs", ".zgroup", "0"]


def test_check_output_is_whole_when_piped_and_explains_the_score(
    example_zip: Path, own_input: Path, tmp_path: Path
) -> None:
    """Captured (not a terminal), no table cell is cut or wrapped, and the score is explained."""
    import os
    import subprocess
    import sys

    code, output = zoo("check", example_zip, own_input)
    assert code == 0, output
    assert "shot_noise_fraction" in output and "…" not in output
    row = next(line for line in output.splitlines() if "noise_corr_x" in line)
    assert "N2V assumes" in row or "Typical of the training data." in row  # one line per row
    assert "score: lower is better: 0 = every check inside the training data's range" in output
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run(
        [sys.executable, "-m", "zoo", "search", "--cache", str(tmp_path / "cache")],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert "tissue section (IHC stain, inverted)" in piped.stdout and "…" not in piped.stdout
    code, output = zoo("run", example_zip, own_input, "-o", tmp_path / "o.tif", "--tile", "128")
    assert code == 0 and "lower is better" in output
