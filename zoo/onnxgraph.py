"""Exact clean-up of an ONNX graph: nodes that only pass their input on are bypassed.

torch's dynamo-based ONNX exporter writes ``torch.chunk(x, 1)`` (CAREamics's UNet chunks
its feature maps by channel group, one group when channels are not independent) as a
``Split`` with a single output. That is an identity, but ONNX Runtime executes it: a copy
of each skip connection's feature map, with layout conversions around it: 5-23 % of the
CAREamics UNet's time on a whole 2048² image, about 2 % on the runner's 728² tiles
(docs/performance.md). Bypassing such nodes changes no output bit.

Only the fields the rewrite reads are declared here (a subset of onnx.proto, same field
numbers); protobuf keeps every other field as an unknown field and writes it back as it
was, so neither the ``onnx`` package nor a copy of its schema is needed at run time.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

__all__ = ["bypass_identities"]

logger = logging.getLogger(__name__)

_PACKAGE = "zoo_onnx_subset"
_BYTES, _MESSAGE = 12, 11  # FieldDescriptorProto types (bytes: no UTF-8 check on names)
_OPTIONAL, _REPEATED = 1, 3
_SUBSET = {  # message: (field, number, type, label, message type)
    "Model": [("graph", 7, _MESSAGE, _OPTIONAL, "Graph")],
    "Graph": [
        ("node", 1, _MESSAGE, _REPEATED, "Node"),
        ("output", 12, _MESSAGE, _REPEATED, "ValueInfo"),
        ("value_info", 13, _MESSAGE, _REPEATED, "ValueInfo"),
    ],
    "ValueInfo": [("name", 1, _BYTES, _OPTIONAL, None)],
    "Node": [
        ("input", 1, _BYTES, _REPEATED, None),
        ("output", 2, _BYTES, _REPEATED, None),
        ("op_type", 4, _BYTES, _OPTIONAL, None),
        ("attribute", 5, _MESSAGE, _REPEATED, "Attribute"),
        ("domain", 7, _BYTES, _OPTIONAL, None),
    ],
    "Attribute": [
        ("g", 6, _MESSAGE, _OPTIONAL, "Graph"),
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
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Model"))


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
    from google.protobuf.message import DecodeError

    model = _model_class()()
    try:
        model.ParseFromString(model_bytes)
    except DecodeError:  # not an ONNX model: ONNX Runtime says what is wrong with it
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
