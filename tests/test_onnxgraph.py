"""zoo.onnxgraph: identity nodes bypassed exactly, everything else of the model kept."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from zoo.inference import Predictor
from zoo.onnxgraph import activation_bytes_per_pixel, bypass_identities
from zoo.package import load_package


def _value(name: str, channels: int = 2) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", channels, "h", "w"])


def _model(nodes: list[onnx.NodeProto], outputs: list[str], **graph_fields) -> bytes:  # type: ignore[no-untyped-def]
    graph = helper.make_graph(
        nodes, "g", [_value("x")], [_value(o) for o in outputs], **graph_fields
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.doc_string = "kept as it was"
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _run(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})


def _ops(model: bytes) -> list[str]:
    return [n.op_type for n in onnx.load_from_string(model).graph.node]


X = np.random.default_rng(0).normal(size=(1, 2, 5, 7)).astype(np.float32)


def test_one_output_splits_and_identities_are_bypassed_in_a_chain() -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Split", ["a"], ["b"], axis=1, num_outputs=1),
        helper.make_node("Identity", ["b"], ["c"]),
        helper.make_node("Split", ["c"], ["d"], axis=1, num_outputs=1),
        helper.make_node("Concat", ["d", "a"], ["y"], axis=1),
    ]
    before = _model(nodes, ["y"], value_info=[_value("b"), _value("a")])
    after, bypassed = bypass_identities(before)
    assert bypassed == ["Split b", "Identity c", "Split d"]
    assert _ops(after) == ["Relu", "Concat"]
    graph = onnx.load_from_string(after).graph
    assert list(graph.node[1].input) == ["a", "a"]
    assert [v.name for v in graph.value_info] == ["a"]  # the bypassed name's entry goes
    assert onnx.load_from_string(after).doc_string == "kept as it was"
    onnx.checker.check_model(onnx.load_from_string(after))
    np.testing.assert_array_equal(_run(after, X)[0], _run(before, X)[0])


def test_a_split_into_parts_and_a_graph_output_are_kept() -> None:
    nodes = [
        helper.make_node("Split", ["x"], ["p", "q"], axis=1, num_outputs=2),
        helper.make_node("Concat", ["q", "p"], ["c"], axis=1),
        helper.make_node("Identity", ["c"], ["y"]),  # produces a graph output: stays
    ]
    before = _model(nodes, ["y"])
    assert bypass_identities(before) == (before, [])


def test_a_graph_with_a_subgraph_is_left_alone() -> None:
    branch = helper.make_graph(
        [helper.make_node("Identity", ["a"], ["r"])], "branch", [], [_value("r")]
    )
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),  # read inside the branch by name
        helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
        helper.make_node("Cast", ["m"], ["cond"], to=TensorProto.BOOL),
        helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch),
    ]
    before = _model(nodes, ["y"])
    assert bypass_identities(before) == (before, [])


def test_bytes_that_are_no_model_come_back_for_onnx_runtime_to_refuse() -> None:
    model = _model([helper.make_node("Split", ["x"], ["y"], axis=1, num_outputs=1)], ["y"])
    for broken in (model[: len(model) // 2], b"not a model"):
        assert bypass_identities(broken) == (broken, [])
    malformed = onnx.load_from_string(model)
    malformed.graph.node.insert(0, helper.make_node("Identity", [], ["z"]))  # no input
    malformed.graph.node.extend(  # a cycle, which must not loop for ever
        [helper.make_node("Identity", ["p"], ["q"]), helper.make_node("Identity", ["q"], ["p"])]
    )
    assert bypass_identities(malformed.SerializeToString())[0] == malformed.SerializeToString()


def test_weights_stored_outside_the_graph_are_untouched(tmp_path: Path) -> None:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [2, 2, 1, 1], np.eye(2).ravel().tolist())
    nodes = [
        helper.make_node("Split", ["x"], ["s"], axis=1, num_outputs=1),
        helper.make_node("Conv", ["s", "w"], ["y"]),
    ]
    model = onnx.load_from_string(_model(nodes, ["y"], initializer=[weight]))
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, size_threshold=0,
              location="m.onnx.data")  # fmt: skip
    after, _ = bypass_identities((tmp_path / "m.onnx").read_bytes())
    assert _ops(after) == ["Conv"]
    loaded = onnx.load_from_string(after)
    stored = onnx.load(tmp_path / "m.onnx", load_external_data=False)
    assert loaded.graph.initializer[0] == stored.graph.initializer[0]  # still a reference
    (tmp_path / "after.onnx").write_bytes(after)
    y = ort.InferenceSession(str(tmp_path / "after.onnx")).run(None, {"x": X})[0]
    np.testing.assert_array_equal(y, X)


def test_zoo_exports_carry_no_one_output_split(example_zip: Path) -> None:
    """The embedded example was exported before the exporter bypassed these nodes: its graph
    has them, the runner's session does not, and the outputs agree to the bit."""
    with zipfile.ZipFile(example_zip) as z:
        graph = z.read("weights.onnx")
    assert "Split" in _ops(graph)
    assert "Split" not in _ops(bypass_identities(graph)[0])
    predictor = Predictor(load_package(example_zip), weight_format="onnx")
    x = np.random.default_rng(1).normal(size=(1, 1, 96, 128)).astype(np.float32)
    raw = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(predictor.network(x), raw.run(None, {"input": x})[0])


@pytest.mark.slow
def test_exported_careamics_unet_has_no_split(tmp_path: Path) -> None:
    from zoo.archs.careamics_unet import UNet
    from zoo.export.onnx import export_onnx

    example = np.random.default_rng(2).normal(size=(1, 1, 32, 32)).astype(np.float32)
    export_onnx(UNet(conv_dims=2, depth=2, num_channels_init=8), example, tmp_path / "m.onnx")
    ops = _ops((tmp_path / "m.onnx").read_bytes())
    assert "Concat" in ops and "Split" not in ops


@pytest.fixture(scope="module")
def embedded_onnx() -> dict[str, bytes]:
    """The ONNX graph of each embedded model's newest version, as its zip holds it."""
    from packaging.version import Version

    from tests.conftest import REPO
    from zoo.registry import Registry

    newest: dict[str, tuple[Version, str]] = {}
    for mid, ver, entry in Registry(REPO).iter_entries():
        if mid not in newest or Version(ver) > newest[mid][0]:
            newest[mid] = (Version(ver), entry.location)
    graphs = {}
    for mid, (_ver, location) in newest.items():
        with zipfile.ZipFile(REPO / location) as z:
            (name,) = [n for n in z.namelist() if n.endswith(".onnx")]
            graphs[mid] = z.read(name)
    return graphs


def _weights(name: str, *dims: int) -> onnx.TensorProto:
    data = np.random.default_rng(1).normal(size=dims).astype(np.float32)
    return onnx.numpy_helper.from_array(data, name)


def _small_unet(up: str = "resize", concat_axis: int = 1) -> bytes:
    """x (1 channel) → 8 → relu → pool /2 → 16 → up ×2 → concat with the relu → 1."""
    inits = [_weights("w1", 8, 1, 3, 3), _weights("w2", 16, 8, 3, 3), _weights("w3", 1, 24, 1, 1)]
    if up == "resize":
        inits.append(onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc"))
        upsample = helper.make_node("Resize", ["d", "", "sc"], ["e"], mode="nearest")
    elif up == "sizes":
        inits.append(onnx.numpy_helper.from_array(np.array([1, 16, 8, 8], np.int64), "sz"))
        upsample = helper.make_node("Resize", ["d", "", "", "sz"], ["e"], mode="nearest")
    else:  # a transposed convolution to 16 channels
        inits.append(_weights("wt", 16, 16, 2, 2))
        upsample = helper.make_node("ConvTranspose", ["d", "wt"], ["e"], strides=[2, 2])
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("MaxPool", ["b"], ["c"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["c", "w2"], ["d"], pads=[1, 1, 1, 1]),
        upsample,
        helper.make_node("Concat", ["e", "b"], ["f"], axis=concat_axis),
        helper.make_node("Conv", ["f", "w3"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "unet", [_value("x", 1)], [_value("y", 1)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def test_activation_peak_of_a_small_unet_is_counted_node_by_node() -> None:
    # per input pixel, float32: b (8 ch, 32 B) waits for the concat; at the concat the
    # upsampled e (16 ch, 64 B), b and their concatenation f (24 ch, 96 B) are alive
    assert activation_bytes_per_pixel(_small_unet()) == 32 + 64 + 96
    # the transposed convolution's output has 16 channels too
    assert activation_bytes_per_pixel(_small_unet("transposed")) == 32 + 64 + 96
    x = np.zeros((1, 1, 16, 16), np.float32)  # the graphs are valid: ONNX Runtime runs them
    for up in ("resize", "transposed"):
        assert _run(_small_unet(up), x)[0].shape == (1, 1, 16, 16)


@pytest.mark.parametrize(
    "model",
    [
        _small_unet("sizes"),  # a resize to fixed sizes: its output does not scale with x
        _small_unet(concat_axis=2),  # not along the channels
        _model([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 1, 3, 2])], ["y"]),
        b"\x00not an onnx model",
    ],
    ids=["resize-to-sizes", "concat-along-y", "unknown-op", "not-protobuf"],
)
def test_activation_peak_is_none_where_the_graph_says_no_size(model: bytes) -> None:
    assert activation_bytes_per_pixel(model) is None


def test_activation_peak_of_the_embedded_unets(embedded_onnx: dict[str, bytes]) -> None:
    """CAREamics / CARE UNets: 32 channels at full resolution, the concatenation of the
    upsampled 64 with the 32 of the skip connection: 128 + 256 + 128 B per pixel alive;
    N2V2 has no skip connection at full resolution: 128 + 128; 48 channels (the fluorescence
    generalist since 0.3.0): 1.5 times as much."""
    peaks = {name: activation_bytes_per_pixel(graph) for name, graph in embedded_onnx.items()}
    assert peaks == {
        "n2v-ihc-careamics": 512,
        "n2v2-fibsem-em": 256,
        "care-nuclei-widefield": 512,
        "care-actin-widefield": 512,
        "care-mito-widefield": 512,
        "care-widefield-w2s": 512,  # depth 3: the peak is still at full resolution
        "care-fluorescence-generalist": 768,
        "care-em-generalist": 512,
    }
    # the bypassed single-output splits change nothing here: one tensor aliased, not two
    assert all(
        activation_bytes_per_pixel(bypass_identities(g)[0]) == peaks[n]
        for n, g in embedded_onnx.items()
    )
