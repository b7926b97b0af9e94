"""`zoo package` on the real trained models: every package passes bioimageio.core test_model."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from zoo.cli import app
from zoo.package import load_package
from zoo.processing import apply_processing
from zoo.validation import validate_package

REPO = Path(__file__).resolve().parents[2]
CARD = REPO / "examples" / "n2v-ihc-careamics.card.yaml"
runner = CliRunner()


def _package(tmp_path: Path, *args: str, name: str = "model") -> Path:
    out = tmp_path / f"{name}.zip"
    result = runner.invoke(
        app, ["package", *args, "--card", str(CARD), "-o", str(out), "--author", "zoo tests"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out)
    report = validate_package(out)
    assert report.ok and report.card == "valid", report.problems
    return out


def _assert_test_model_passes(path: Path) -> None:
    from bioimageio.core import test_model

    summary = test_model(path)
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed
    formats = {d.name.split("(")[-1].rstrip(")") for d in summary.details if "Reproduce" in d.name}
    assert formats == {"onnx", "torchscript", "pytorch_state_dict"}


def _run_onnx(path: Path, image: np.ndarray) -> np.ndarray:
    """Run a package's ONNX weights with its own pre/post-processing on a 2D image."""
    import onnxruntime as ort

    pkg = load_package(path)
    inp, outp = pkg.descr.inputs[0], pkg.descr.outputs[0]
    with zipfile.ZipFile(path) as zf:
        session = ort.InferenceSession(zf.read("weights.onnx"), providers=["CPUExecutionProvider"])
    x = image[np.newaxis, np.newaxis].astype(np.float32)
    pre = apply_processing(x, "bcyx", inp.preprocessing)
    y = session.run(None, {"input": pre})[0]
    return apply_processing(y, "bcyx", outp.postprocessing)[0, 0]


@pytest.fixture(scope="module")
def careamics_zip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("careamics")
    ckpt = shared_data / "careamics" / "n2v_short.ckpt"
    image = shared_data / "synthetic" / "noisy.npy"
    return _package(tmp, str(ckpt), "--from", "careamics", "--image", str(image))


def test_careamics_package_passes_test_model(careamics_zip: Path) -> None:
    _assert_test_model_passes(careamics_zip)
    report = validate_package(careamics_zip)
    assert report.ok and report.card == "valid"


def test_careamics_package_reproduces_careamics_prediction(
    careamics_zip: Path, shared_data: Path
) -> None:
    image = np.load(shared_data / "careamics" / "input_noisy.npy")
    expected = np.load(shared_data / "careamics" / "n2v_short_careamics_prediction.npy")
    got = _run_onnx(careamics_zip, image)
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=0, atol=1e-4)


def test_careamics_card_gets_method_from_the_checkpoint(careamics_zip: Path) -> None:
    card = load_package(careamics_zip).card
    assert card is not None
    assert card.method.name == "n2v"
    assert card.method.framework == "careamics"


def test_careamics_package_fills_bioimageio_config(careamics_zip: Path) -> None:
    bmz = load_package(careamics_zip).descr.config.bioimageio
    assert bmz.task == "denoising" and bmz.target_structure
    assert "with ONNX Runtime" in (bmz.inference_time or "")
    assert "MiB of activations per megapixel" in (bmz.memory_requirements_inference or "")
    assert bmz.model_parameter_count and bmz.model_parameter_count > 1000


def test_careamics_bioimageio_export_repackages(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "careamics" / "n2v_short_bioimageio_export.zip"
    image = shared_data / "careamics" / "input_noisy.npy"
    out = _package(tmp_path, str(src), "--from", "bioimageio", "--image", str(image))
    _assert_test_model_passes(out)


def test_plain_state_dict_with_named_architecture(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "careamics" / "n2v_short_bioimageio_with_onnx"
    kwargs = (
        '{"conv_dims": 2, "num_classes": 1, "in_channels": 1, "depth": 2, '
        '"num_channels_init": 32, "use_batch_norm": true, "independent_channels": true}'
    )
    args = [str(folder / "weights.pth"), "--from", "state-dict", "--arch", "careamics-unet"]
    args += ["--arch-kwargs", kwargs, "--mean", "0.4259", "--std", "0.2523"]
    out = _package(tmp_path, *args, "--image", str(shared_data / "synthetic" / "noisy.npy"))
    _assert_test_model_passes(out)


def _truncated(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dst


@pytest.mark.parametrize(
    ("kind", "make", "match"),
    [
        (
            "careamics",
            lambda d, tmp: _truncated(d / "careamics" / "n2v_short.ckpt", tmp / "t.ckpt"),
            "cannot",
        ),
        (
            "state-dict",
            lambda d, tmp: d / "careamics" / "n2v_short_bioimageio_with_onnx" / "weights.pth",
            "needs its architecture",
        ),
        ("keras", lambda d, tmp: tmp, "config.json"),
    ],
)
def test_bad_sources_fail_clearly_and_write_nothing(  # type: ignore[no-untyped-def]
    kind, make, match, shared_data: Path, tmp_path: Path
) -> None:
    src = make(shared_data, tmp_path)
    out = tmp_path / "out" / "model.zip"
    image = shared_data / "synthetic" / "noisy.npy"
    args = ["package", str(src), "--from", kind, "--image", str(image), "-o", str(out)]
    result = runner.invoke(app, [*args, "--card", str(CARD)])
    assert result.exit_code == 2, result.output
    assert match in result.output
    assert not out.exists()
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_existing_output_is_not_overwritten(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.zip"
    out.write_bytes(b"precious")
    ckpt = shared_data / "careamics" / "n2v_short.ckpt"
    args = ["package", str(ckpt), "--from", "careamics", "-o", str(out), "--card", str(CARD)]
    result = runner.invoke(app, [*args, "--image", str(shared_data / "synthetic" / "noisy.npy")])
    assert result.exit_code == 2
    assert "--overwrite" in result.output
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize("folder", ["n2v_tiny", "care_d2_k3_f32"])
def test_keras_package_reproduces_keras(folder: str, shared_data: Path, tmp_path: Path) -> None:
    from zoo.inference import Predictor

    src = shared_data / "keras" / folder
    image = shared_data / "synthetic" / "noisy.npy"
    out = _package(tmp_path, str(src), "--from", "keras", "--image", str(image), name=folder)
    _assert_test_model_passes(out)
    package = load_package(out)
    x = np.load(src / "keras_input.npy").transpose(0, 3, 1, 2)  # NHWC → NCHW, normalised
    expected = np.load(src / "keras_output.npy").transpose(0, 3, 1, 2)
    for fmt in ("onnx", "torchscript", "pytorch_state_dict"):
        got = Predictor(package, weight_format=fmt).network(x)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4, err_msg=fmt)
