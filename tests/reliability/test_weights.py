"""Bad weights: pickles that would run code, architecture code zoo does not ship, ONNX external
data outside the package, corrupt or empty files, wrong hashes, test tensors the weights do
not reproduce. None is executed or read from outside the package; each is refused."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from typing import Any

import numpy as np
import pytest

from tests.reliability import bad
from tests.reliability.catalogue import Attempt, Case, Family, World, ids, publish, refused
from zoo.errors import SpecError, UnsafeArchiveError

WEIGHTS = Family("weights")
case = WEIGHTS.case
OWN_TEST = "own test fails"


def _no_marker(attempt: Attempt, marker: os.PathLike[str]) -> Attempt:
    def check() -> None:
        assert not os.path.exists(marker), "code from the package ran"

    attempt.after = check
    return attempt


def _onnx(world: World, data: bytes, *, rehash: bool = True) -> Attempt:
    out = bad.rewrite(world.tiny, world.tmp / "bad.zip", files={"weights.onnx": data},
                      rehash=rehash)  # fmt: skip
    return publish(world, out)


def _weights_bytes(world: World) -> bytes:
    with zipfile.ZipFile(world.tiny) as zf:
        return zf.read("weights.onnx")


@case("pickle-exec", "pytorch_state_dict weights that run os.system when unpickled",
      SpecError, match="weights_only.*posix.system")  # fmt: skip
def _(world: World) -> Attempt:
    marker = world.tmp / "PWNED"
    out = bad.with_state_dict(world.tiny, world.tmp / "bad.zip", bad.evil_pickle(marker))
    return _no_marker(publish(world, out), marker)


@case("pickle-exec-only", "the same pickle as the package's only weights", SpecError,
      match="weights_only")  # fmt: skip
def _(world: World) -> Attempt:
    marker = world.tmp / "PWNED"
    out = bad.with_state_dict(world.tiny, world.tmp / "bad.zip", bad.evil_pickle(marker),
                              only=True)  # fmt: skip
    return _no_marker(publish(world, out), marker)


@case("arch-code-unknown", "state dict whose architecture is the package's own Python file",
      SpecError, match="not one zoo ships")  # fmt: skip
def _(world: World) -> Attempt:
    marker = world.tmp / "PWNED"
    code = f"open({str(marker)!r}, 'w').write('ran')\nclass Net:\n    pass\n".encode()
    arch = {"source": "net.py", "sha256": hashlib.sha256(code).hexdigest(), "callable": "Net",
            "kwargs": {}}  # fmt: skip
    out = bad.with_state_dict(world.tiny, world.tmp / "bad.zip", b"weights", architecture=arch,
                              files={"net.py": code}, only=True)  # fmt: skip
    return _no_marker(publish(world, out), marker)


@case("arch-kwargs-wrong", "state dict for zoo's UNet with kwargs {bogus: 1}", SpecError,
      match="conv_dims")  # fmt: skip
def _(world: World) -> Attempt:
    plain = bad.with_state_dict(world.tiny, world.tmp / "plain.zip", b"x")
    arch = dict(bad.rdf_of(plain)["weights"]["pytorch_state_dict"]["architecture"])
    arch["kwargs"] = {"bogus": 1}
    out = bad.with_state_dict(world.tiny, world.tmp / "bad.zip", b"x", architecture=arch,
                              only=True)  # fmt: skip
    return publish(world, out)


@case("onnx-external-cwd", "ONNX external data 'kernel.bin' found in the working directory",
      SpecError, match="External data")  # fmt: skip
def _(world: World) -> Attempt:
    (world.tmp / "kernel.bin").write_bytes(bad.mean_kernel_bytes())  # the exact bytes needed
    return _onnx(world, bad.onnx_model(external="kernel.bin"))


@case("onnx-external-dotdot", "ONNX external data ../kernel.bin", SpecError,
      match="External data")  # fmt: skip
def _(world: World) -> Attempt:
    (world.tmp.parent / "kernel.bin").write_bytes(bad.mean_kernel_bytes())
    return _onnx(world, bad.onnx_model(external=f"../{world.tmp.name}/../kernel.bin"))


@case("onnx-external-absolute", "ONNX external data /etc/passwd", SpecError,
      match="External data")  # fmt: skip
def _(world: World) -> Attempt:
    return _onnx(world, bad.onnx_model(external="/etc/passwd"))


@case("rdf-external-data-outside", "rdf.yaml onnx external_data ../kernel.bin",
      UnsafeArchiveError, match="kernel.bin")  # fmt: skip
def _(world: World) -> Attempt:
    (world.tmp / "kernel.bin").write_bytes(bad.mean_kernel_bytes())

    def external(d: dict[str, Any]) -> None:
        d["weights"]["onnx"]["external_data"] = {"source": "../kernel.bin"}

    out = bad.rewrite(world.tiny, world.tmp / "sub" / "bad.zip", rdf=external,
                      files={"weights.onnx": bad.onnx_model(external="kernel.bin")})  # fmt: skip
    return publish(world, out)


@case("onnx-truncated", "weights.onnx cut to 100 bytes (sha256 updated)", SpecError,
      match="onnx weights")  # fmt: skip
def _(world: World) -> Attempt:
    return _onnx(world, _weights_bytes(world)[:100])


@case("onnx-empty", "weights.onnx of 0 bytes (sha256 updated)", SpecError, match="onnx")
def _(world: World) -> Attempt:
    return _onnx(world, b"")


@case("onnx-garbage", "weights.onnx of 4 kB random bytes (sha256 updated)", SpecError,
      match="onnx weights")  # fmt: skip
def _(world: World) -> Attempt:
    return _onnx(world, os.urandom(4096))


@case("weights-wrong-sha256", "weights.onnx changed, rdf.yaml keeps the old sha256",
      SpecError, match="sha256|SHA256|hash")  # fmt: skip
def _(world: World) -> Attempt:
    return _onnx(world, bad.onnx_model(in_channels=1) + b"\0", rehash=False)


@case("torchscript-garbage", "torchscript weights of random bytes", SpecError,
      match="torchscript weights")  # fmt: skip
def _(world: World) -> Attempt:
    def add(d: dict[str, Any]) -> None:
        d["weights"]["torchscript"] = {"source": "w.pt", "pytorch_version": "2.4"}

    out = bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf=add,
                      files={"w.pt": os.urandom(512)})  # fmt: skip
    return publish(world, out)


@case("onnx-fails-at-run", "an ONNX graph that loads but fails on the test input",
      SpecError, match="fail on the package's test input")  # fmt: skip
def _(world: World) -> Attempt:
    return _onnx(world, bad.onnx_model(in_channels=2))


@case("test-output-mismatch", "test_output.npy random (the weights disagree)", SpecError,
      match="do not reproduce")  # fmt: skip
def _(world: World) -> Attempt:
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(1).normal(size=(1, 1, 64, 64)).astype(np.float32))
    out = bad.rewrite(world.tiny, world.tmp / "bad.zip",
                      files={"test_output.npy": buffer.getvalue()})  # fmt: skip
    return publish(world, out)


@case("test-input-pickle", "test_input.npy an object array that runs os.system", SpecError,
      match="allow_pickle")  # fmt: skip
def _(world: World) -> Attempt:
    marker = world.tmp / "PWNED"
    buffer = io.BytesIO()
    np.save(buffer, np.array([bad._Exec(f"touch {marker}")], dtype=object), allow_pickle=True)
    out = bad.rewrite(world.tiny, world.tmp / "bad.zip",
                      files={"test_input.npy": buffer.getvalue()})  # fmt: skip
    return _no_marker(publish(world, out), marker)


@case("only-unsupported-format", "keras_hdf5 weights only", SpecError,
      match="no weight format")  # fmt: skip
def _(world: World) -> Attempt:
    def keras(d: dict[str, Any]) -> None:
        d["weights"] = {"keras_hdf5": {"source": "w.h5", "tensorflow_version": "2.15"}}

    out = bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf=keras,
                      files={"w.h5": b"\x89HDF\r\n\x1a\n", "weights.onnx": None})  # fmt: skip
    return publish(world, out)


@pytest.mark.parametrize("case", ids(WEIGHTS))
def test_catalogue(case: Case, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(world.tmp)  # where a relative external data path would be looked for
    refused(world, case, case.build(world))
