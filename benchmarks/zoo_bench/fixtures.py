"""Tiny real packages built in a folder: an ONNX 3x3 mean filter with a full zoo card.

Shared by the tests and the reliability harness (`zoo_bench.reliability`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.package import build_model_descr, save_package
from zoo.processing import apply_processing, parse_processing
from zoo.spec import ZooCard

CARD: dict[str, Any] = {
    "domain": {
        "modality": "widefield",
        "dimensionality": 2,
        "channels": 1,
        "dtype": "uint16",
        "structures": ["nuclei"],
        "bit_depth": 12,
        "pixel_size": {"x": 0.1625, "y": 0.1625, "unit": "um"},
        "microscope": {
            "manufacturer": "Nikon",
            "model": "Ti2",
            "objective": {"magnification": 40, "numerical_aperture": 0.95, "immersion": "air"},
            "detector": {"type": "sCMOS", "model": "Hamamatsu ORCA-Flash4.0"},
        },
        "sample": "fixed HeLa cells, DAPI",
    },
    "noise": {"type": "poisson-gaussian", "gain": 2.1, "read_noise_sigma": 1.8, "offset": 100},
    "method": {
        "name": "n2v",
        "framework": "zoo 0.1.0",
        "hyperparameters": {"epochs": 10, "patch_size": [64, 64], "masked_fraction": 0.002},
    },
    "training_data": {
        "description": "Synthetic nuclei, Poisson-Gaussian noise",
        "license": "CC0-1.0",
        "source": "made by the test suite",
        "n_images": 4,
        "image_shape": [256, 256],
    },
    "validation": {
        "intended_use": "Denoise widefield images of stained nuclei.",
        "limitations": ["not for EM"],
        "metrics": [{"name": "psnr", "value": 31.2, "dataset": "held-out synthetic"}],
    },
}


def card_dict(**overrides: Any) -> dict[str, Any]:
    """A deep copy of the full test card; ``overrides`` replace top-level sections."""
    card = copy.deepcopy(CARD)
    card.update(overrides)
    return card


def tiny_onnx(path: Path) -> Path:
    """Write an ONNX model: NCHW float32 in, 3x3 mean filter (zero padded) out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    kernel = numpy_helper.from_array(np.full((1, 1, 3, 3), 1 / 9, np.float32), "kernel")
    node = helper.make_node("Conv", ["input", "kernel"], ["output"], pads=[1, 1, 1, 1])
    shape = ["batch", 1, "y", "x"]
    graph = helper.make_graph(
        [node],
        "mean3",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)],
        initializer=[kernel],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def build_tiny_package(
    folder: Path,
    card: ZooCard | None,
    *,
    name: str = "tiny-mean",
    preprocessing: Sequence[Mapping[str, Any]] = (),
    postprocessing: Sequence[Mapping[str, Any]] = (),
    test_input: np.ndarray | None = None,
) -> Path:
    """Build and save a valid bioimage.io package around :func:`tiny_onnx`.

    The test output is computed with zoo's own pre/post-processing, so ``bioimageio.core``'s
    ``test_model`` on the result judges that implementation too.
    """
    import onnxruntime as ort

    folder.mkdir(parents=True, exist_ok=True)
    weights = tiny_onnx(folder / "weights.onnx")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 1, 64, 64)).astype(np.float32) if test_input is None else test_input
    pre = parse_processing("pre", preprocessing)
    post = parse_processing("post", postprocessing)
    session = ort.InferenceSession(str(weights), providers=["CPUExecutionProvider"])
    y = session.run(None, {"input": apply_processing(x, "bcyx", pre)})[0]
    y = apply_processing(y, "bcyx", post)
    np.save(folder / "test_input.npy", x)
    np.save(folder / "test_output.npy", y)
    (folder / "README.md").write_text(f"# {name}\n\nA 3x3 mean filter used by zoo's tests.\n")
    from PIL import Image

    Image.fromarray(np.zeros((128, 256), np.uint8)).save(folder / "cover.png")
    descr = build_model_descr(
        name=name,
        description="A 3x3 mean filter in ONNX, used by zoo's tests.",
        authors=["zoo tests"],
        license="BSD-3-Clause",
        documentation=folder / "README.md",
        covers=[folder / "cover.png"],
        test_input=folder / "test_input.npy",
        test_output=folder / "test_output.npy",
        weights={"onnx": {"source": weights, "opset_version": 17}},
        card=card,
        preprocessing=pre,
        postprocessing=post,
    )
    return save_package(descr, folder / f"{name}.zip")
