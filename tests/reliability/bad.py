"""Builders of bad packages: a valid package zip rewritten with one thing wrong."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

RDF = "rdf.yaml"


def rdf_of(package: Path) -> dict[str, Any]:
    with zipfile.ZipFile(package) as zf:
        return yaml.safe_load(zf.read(RDF))


def _rehash(node: Any, digests: dict[str, str]) -> None:
    """Set ``sha256`` beside every ``source`` naming a file in ``digests``."""
    if isinstance(node, dict):
        if isinstance(node.get("source"), str) and node["source"] in digests:
            node["sha256"] = digests[node["source"]]
        for value in node.values():
            _rehash(value, digests)
    elif isinstance(node, list):
        for value in node:
            _rehash(value, digests)


def rewrite(
    package: Path,
    out: Path,
    *,
    rdf: Callable[[dict[str, Any]], Any] | None = None,
    rdf_text: str | bytes | None = None,
    files: dict[str, bytes | None] | None = None,
    rehash: bool = True,
) -> Path:
    """A copy of ``package`` with ``rdf`` applied to its rdf.yaml (or ``rdf_text`` as the
    whole rdf.yaml), ``files`` replaced / added (None: removed); the sha256 of replaced files
    is updated in rdf.yaml unless ``rehash`` is false."""
    files = dict(files or {})
    with zipfile.ZipFile(package) as zf:
        content = {name: zf.read(name) for name in zf.namelist()}
    for name, data in files.items():
        if data is None:
            content.pop(name, None)
        else:
            content[name] = data
    if rdf_text is not None:
        content[RDF] = rdf_text.encode() if isinstance(rdf_text, str) else rdf_text
    else:
        descr = yaml.safe_load(content[RDF])
        if rdf is not None:
            rdf(descr)
        if rehash:
            digests = {n: hashlib.sha256(d).hexdigest() for n, d in files.items() if d is not None}
            _rehash(descr, digests)
        content[RDF] = yaml.safe_dump(descr, sort_keys=False).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return out


def with_members(package: Path, out: Path, members: list[zipfile.ZipInfo | tuple[str, bytes]]):
    """A copy of ``package`` with raw extra members appended (names are not sanitised)."""
    import warnings

    out.write_bytes(package.read_bytes())
    with warnings.catch_warnings(), zipfile.ZipFile(out, "a") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name" is the point of one case
        for member in members:
            if isinstance(member, zipfile.ZipInfo):
                zf.writestr(member, b"")
            else:
                info = zipfile.ZipInfo(member[0])
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, member[1])
    return out


def symlink_member(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def add_symlink(package: Path, out: Path, name: str, target: str) -> Path:
    out.write_bytes(package.read_bytes())
    info, data = symlink_member(name, target)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr(info, data)
    return out


def bomb(package: Path, out: Path, size: int) -> Path:
    """``package`` plus a member of ``size`` zero bytes, deflated (about size/1000 bytes)."""
    out.write_bytes(package.read_bytes())
    with (
        zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf,
        zf.open("bomb.npy", "w", force_zip64=True) as fh,
    ):
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            fh.write(block)
    return out


def lying_size(package: Path, out: Path, declared: int) -> Path:
    """``package`` plus a member whose local and central headers claim ``declared`` bytes
    uncompressed (a header that lies; the data is 4 bytes)."""
    import struct

    out.write_bytes(package.read_bytes())
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr(zipfile.ZipInfo("huge.npy"), b"tiny")
    raw = bytearray(out.read_bytes())
    central = raw.rfind(b"PK\x01\x02")  # the central header of the last member
    struct.pack_into("<I", raw, central + 24, min(declared, 0xFFFFFFFE))
    local = struct.unpack_from("<I", raw, central + 42)[0]
    struct.pack_into("<I", raw, local + 22, min(declared, 0xFFFFFFFE))
    out.write_bytes(bytes(raw))
    return out


def encrypted(package: Path, out: Path) -> Path:
    """``package`` with its weights marked encrypted (flag bit 0), as a password zip is."""
    out.write_bytes(package.read_bytes())
    raw = bytearray(out.read_bytes())
    with zipfile.ZipFile(out) as zf:
        info = zf.getinfo("weights.onnx")
    central = raw.find(b"PK\x01\x02")
    while central != -1:
        name_len = int.from_bytes(raw[central + 28 : central + 30], "little")
        name = bytes(raw[central + 46 : central + 46 + name_len])
        if name == b"weights.onnx":
            raw[central + 8] |= 1
        central = raw.find(b"PK\x01\x02", central + 4)
    raw[info.header_offset + 6] |= 1
    out.write_bytes(bytes(raw))
    return out


def onnx_model(*, external: str | None = None, in_channels: int = 1) -> bytes:
    """The tiny 3x3 mean filter; its kernel stored as external data at ``external``, or
    made for ``in_channels`` input channels (the graph takes any channel count)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = np.full((1, in_channels, 3, 3), 1 / 9, np.float32)
    kernel = numpy_helper.from_array(weights, "kernel")
    if external is not None:
        kernel.ClearField("raw_data")
        kernel.data_location = TensorProto.EXTERNAL
        for key, value in {"location": external, "offset": "0", "length": "36"}.items():
            entry = kernel.external_data.add()
            entry.key, entry.value = key, value
    node = helper.make_node("Conv", ["input", "kernel"], ["output"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node],
        "mean3",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", "c", "y", "x"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["b", 1, "y", "x"])],
        initializer=[kernel],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def mean_kernel_bytes() -> bytes:
    """The raw external data the mean filter's kernel needs (nine float32 1/9)."""
    import numpy as np

    return np.full(9, 1 / 9, np.float32).tobytes()


ARCH_KWARGS = {
    "conv_dims": 2,
    "num_classes": 1,
    "in_channels": 1,
    "depth": 2,
    "num_channels_init": 8,
    "residual": False,
    "final_activation": "None",
    "n2v2": False,
    "independent_channels": True,
    "use_batch_norm": True,
}


class _Exec:
    """Unpickling this runs a shell command (what a malicious checkpoint does)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, (self.command,))


def evil_pickle(marker: Path) -> bytes:
    """A torch checkpoint that creates ``marker`` when loaded without weights_only."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"conv.weight": _Exec(f"touch {marker}")}, buffer)
    return buffer.getvalue()


def with_state_dict(
    package: Path,
    out: Path,
    weights: bytes,
    *,
    architecture: dict[str, Any] | None = None,
    files: dict[str, bytes | None] | None = None,
    only: bool = False,
) -> Path:
    """``package`` with pytorch_state_dict weights (zoo's CAREamics UNet by default); with
    ``only`` the ONNX weights are removed, so these are the only ones."""
    from zoo.export.importers import ARCHS_DIR

    arch_code = (ARCHS_DIR / "careamics_unet.py").read_bytes()
    arch = architecture or {
        "source": "careamics_unet.py",
        "sha256": hashlib.sha256(arch_code).hexdigest(),
        "callable": "UNet",
        "kwargs": ARCH_KWARGS,
    }

    def add(d: dict[str, Any]) -> None:
        d["weights"]["pytorch_state_dict"] = {
            "source": "weights.pt",
            "architecture": arch,
            "pytorch_version": "2.4",
        }
        if only:
            del d["weights"]["onnx"]

    extra: dict[str, bytes | None] = {"weights.pt": weights, "careamics_unet.py": arch_code}
    if only:
        extra["weights.onnx"] = None
    return rewrite(package, out, rdf=add, files={**extra, **(files or {})})
