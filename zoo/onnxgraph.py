"""Static reads and exact rewrites of ONNX graphs, without the ``onnx`` package.

:func:`bypass_identities` removes nodes that only pass their input on: torch's dynamo-based
ONNX exporter writes ``torch.chunk(x, 1)`` (CAREamics's UNet chunks its feature maps by
channel group) as a ``Split`` with a single output, an identity that ONNX Runtime still
executes as a copy; bypassing it changes no output bit. :func:`activation_bytes_per_pixel`
reads the peak of live activations per input pixel, what :mod:`zoo.tiling`'s memory model
plans windows with.

Only the fields these read are declared here (a subset of onnx.proto, same field
numbers); protobuf keeps every other field as an unknown field and writes it back as it
was, so neither the ``onnx`` package nor a copy of its schema is needed at run time.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

__all__ = ["activation_bytes_per_pixel", "bypass_identities"]

logger = logging.getLogger(__name__)

_PACKAGE = "zoo_onnx_subset"
# FieldDescriptorProto types (bytes: no UTF-8 check on names)
_FLOAT, _INT64, _INT32, _BYTES, _MESSAGE = 2, 3, 5, 12, 11
_OPTIONAL, _REPEATED = 1, 3
_PACKED = {("Tensor", "float_data")}  # as onnx.proto declares them
_SUBSET = {  # message: (field, number, type, label, message type)
    "Model": [("graph", 7, _MESSAGE, _OPTIONAL, "Graph")],
    "Graph": [
        ("node", 1, _MESSAGE, _REPEATED, "Node"),
        ("initializer", 5, _MESSAGE, _REPEATED, "Tensor"),
        ("input", 11, _MESSAGE, _REPEATED, "ValueInfo"),
        ("output", 12, _MESSAGE, _REPEATED, "ValueInfo"),
        ("value_info", 13, _MESSAGE, _REPEATED, "ValueInfo"),
    ],
    "ValueInfo": [("name", 1, _BYTES, _OPTIONAL, None)],
    "Tensor": [
        ("dims", 1, _INT64, _REPEATED, None),
        ("data_type", 2, _INT32, _OPTIONAL, None),
        ("float_data", 4, _FLOAT, _REPEATED, None),
        ("name", 8, _BYTES, _OPTIONAL, None),
        ("raw_data", 9, _BYTES, _OPTIONAL, None),
    ],
    "Node": [
        ("input", 1, _BYTES, _REPEATED, None),
        ("output", 2, _BYTES, _REPEATED, None),
        ("op_type", 4, _BYTES, _OPTIONAL, None),
        ("attribute", 5, _MESSAGE, _REPEATED, "Attribute"),
        ("domain", 7, _BYTES, _OPTIONAL, None),
    ],
    "Attribute": [
        ("name", 1, _BYTES, _OPTIONAL, None),
        ("t", 5, _MESSAGE, _OPTIONAL, "Tensor"),
        ("g", 6, _MESSAGE, _OPTIONAL, "Graph"),
        ("floats", 7, _FLOAT, _REPEATED, None),
        ("ints", 8, _INT64, _REPEATED, None),
        ("i", 3, _INT64, _OPTIONAL, None),
        ("graphs", 11, _MESSAGE, _REPEATED, "Graph"),
    ],
}


@functools.cache
def _model_class() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(
        name=f"{_PACKAGE}.proto", package=_PACKAGE, syntax="proto2"
    )
    for message, fields in _SUBSET.items():
        m = file.message_type.add(name=message)
        for name, number, kind, label, type_name in fields:
            f = m.field.add(name=name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = f".{_PACKAGE}.{type_name}"
            if (message, name) in _PACKED:
                f.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Model"))


def _parse(model_bytes: bytes) -> Any:
    """The subset's ModelProto of ``model_bytes``, or None when they are no protobuf message."""
    from google.protobuf.message import DecodeError

    model = _model_class()()
    try:
        model.ParseFromString(model_bytes)
    except DecodeError:
        return None
    return model


def _is_identity(node: Any) -> bool:
    if node.domain not in (b"", b"ai.onnx") or not node.input or len(node.output) != 1:
        return False  # (a node without input or output: ONNX Runtime refuses the graph)
    if node.op_type == b"Identity":
        return True
    return node.op_type == b"Split"  # with one part: the whole tensor


def bypass_identities(model_bytes: bytes) -> tuple[bytes, list[str]]:
    """``model_bytes`` (a serialised ONNX ModelProto) with every single-output ``Split`` and
    every ``Identity`` of the main graph bypassed: their consumers read the node's input
    instead; and the nodes bypassed, each as "op_type output" (for provenance). Nodes whose
    output is a graph output stay. The bytes come back unchanged when there is nothing to
    bypass, when they are no protobuf message (a truncated file: ONNX Runtime's error then
    names the problem), or when a node holds a subgraph (If, Loop, Scan), whose references
    to outer names this rewrite does not follow.
    """
    model = _parse(model_bytes)
    if model is None:  # not an ONNX model: ONNX Runtime says what is wrong with it
        return model_bytes, []
    graph = model.graph
    if any(a.HasField("g") or len(a.graphs) for n in graph.node for a in n.attribute):
        return model_bytes, []
    outputs = {v.name for v in graph.output}
    alias = {
        n.output[0]: n.input[0]
        for n in graph.node
        if _is_identity(n) and n.input[0] and n.output[0] not in outputs
    }
    if not alias:
        return model_bytes, []

    def source(name: bytes) -> bytes:
        for _ in range(len(alias) + 1):
            if name not in alias:
                return name
            name = alias[name]
        raise ValueError("identities in a cycle")

    try:
        resolved = {name: source(name) for name in alias}
    except ValueError:  # a malformed graph: ONNX Runtime says what is wrong with it
        return model_bytes, []
    bypassed = []
    for i in reversed(range(len(graph.node))):
        node = graph.node[i]
        if _is_identity(node) and node.output[0] in alias:
            bypassed.append(f"{node.op_type.decode()} {node.output[0].decode(errors='replace')}")
            del graph.node[i]
        else:
            node.input[:] = [resolved.get(name, name) for name in node.input]
    for i in reversed(range(len(graph.value_info))):
        if graph.value_info[i].name in alias:
            del graph.value_info[i]
    logger.debug("bypassed %d identity nodes of the ONNX graph", len(alias))
    return model.SerializeToString(), bypassed[::-1]


# how each op's output relates to its first input, for activation_bytes_per_pixel
_SAME = frozenset(
    b"Relu LeakyRelu PRelu Sigmoid Tanh Elu Selu Celu Gelu HardSigmoid HardSwish Softplus "
    b"Softsign Mish Clip Abs Neg Exp Log Sqrt Reciprocal Erf Identity Dropout Cast "
    b"BatchNormalization InstanceNormalization LayerNormalization GroupNormalization".split()
)
_ELEMENTWISE = frozenset(b"Add Sub Mul Div Pow Max Min Sum Mean Where".split())
_POOL = frozenset(b"MaxPool AveragePool LpPool".split())
_FLOAT32 = 1  # TensorProto.FLOAT


def _ints(node: Any, name: bytes) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == name), [])


def _int(node: Any, name: bytes, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def _floats(tensor: Any) -> list[float] | None:
    import numpy as np

    if tensor.data_type != _FLOAT32:
        return None
    if tensor.raw_data:
        return np.frombuffer(tensor.raw_data, dtype="<f4").tolist()
    return list(tensor.float_data)


def activation_bytes_per_pixel(model_bytes: bytes) -> float | None:
    """The largest sum of activations alive at once while the graph runs, in bytes per
    pixel of its input image (float32; the input itself, which the caller holds, and the
    weights not counted): tensors are made by their node and freed after their last reader,
    in the graph's node order. A memory estimate for convolutional networks that scales
    with the image: read statically from the graph (channel counts from the weights,
    strides and resize scales from attributes and constants). None when the graph holds an
    op, or a form of one, whose output size this does not know: such graphs need the
    runner's general figure.
    """
    model = _parse(model_bytes)
    if model is None:
        return None
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    inputs = [v.name for v in graph.input if v.name not in weights]
    if len(inputs) != 1:
        return None
    # tensor name → (channels, its pixels per input pixel); constants separately
    size: dict[bytes, tuple[float, float]] = {inputs[0]: (1.0, 1.0)}
    constants: dict[bytes, Any] = dict(weights)
    nodes = list(graph.node)
    last_read = {name: i for i, n in enumerate(nodes) for name in n.input}
    kept = {v.name for v in graph.output}
    live: dict[bytes, float] = {}
    peak = 0.0
    for i, node in enumerate(nodes):
        op = node.op_type
        if node.domain not in (b"", b"ai.onnx") or not node.output:
            return None
        if op == b"Constant":
            tensor = next((a.t for a in node.attribute if a.name == b"value"), None)
            if tensor is None:
                return None
            constants[node.output[0]] = tensor
            continue
        args = [name for name in node.input if name in size]
        if not args:
            return None  # computed from constants alone, e.g. shapes: not handled
        channels, pixels = size[args[0]]
        if op in _SAME:
            out = [(channels, pixels)]
        elif op in _ELEMENTWISE:
            out = [max((size[a] for a in args), key=lambda s: s[0] * s[1])]
        elif op in (b"Conv", b"ConvTranspose"):
            w = constants.get(node.input[1]) if len(node.input) > 1 else None
            if w is None or len(w.dims) < 3 or node.input[0] not in size:
                return None
            stride = math.prod(_ints(node, b"strides") or [1])
            if op == b"Conv":
                out = [(float(w.dims[0]), pixels / stride)]
            else:
                out = [(float(w.dims[1] * _int(node, b"group", 1)), pixels * stride)]
        elif op in _POOL:
            out = [(channels, pixels / math.prod(_ints(node, b"strides") or [1]))]
        elif op in (b"Resize", b"Upsample"):
            at = 2 if op == b"Resize" else 1
            scales = constants.get(node.input[at]) if len(node.input) > at else None
            factors = None if scales is None else _floats(scales)
            if not factors or len(factors) < 3 or factors[1] != 1:
                return None  # sizes instead of scales, or channels scaled
            out = [(channels, pixels * math.prod(factors[2:]))]
        elif op == b"Concat":
            if _int(node, b"axis", 0) != 1 or len(args) != len(node.input):
                return None
            out = [(sum(size[a][0] for a in args), pixels)]
        elif op == b"Split" and _int(node, b"axis", 0) == 1 and len(node.input) == 1:
            out = [(channels / len(node.output), pixels)] * len(node.output)
        else:
            return None
        for name, (c, p) in zip(node.output, out, strict=True):
            size[name] = (c, p)
            live[name] = 4 * c * p
        peak = max(peak, sum(live.values()))
        for name in {*node.input, *node.output}:  # read for the last time, or never
            if last_read.get(name, i) == i and name in live and name not in kept:
                del live[name]
    return peak
