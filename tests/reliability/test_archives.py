"""Bad archives: members escaping the package, links, duplicates, bombs, broken zips, and
descriptions that point at files outside the package. Each is refused before anything is
read from outside the package or written anywhere."""

from __future__ import annotations

import os
import socket
import zipfile
from pathlib import Path

import pytest

from tests.reliability import bad
from tests.reliability.catalogue import Attempt, Case, Family, World, ids, publish, refused
from zoo.errors import PackageError, UnsafeArchiveError

ARCHIVES = Family("archives")
case = ARCHIVES.case


def _member(name: str, data: bytes = b"gotcha"):  # type: ignore[no-untyped-def]
    def build(world: World) -> Attempt:
        out = bad.with_members(world.tiny, world.tmp / "bad.zip", [(name, data)])
        return publish(world, out)

    return build


case("zip-dotdot", "zip member ../evil.txt", UnsafeArchiveError, match=r"\.\./evil\.txt")(
    _member("../evil.txt")
)
case(
    "zip-nested-dotdot",
    "zip member docs/../../evil.txt",
    UnsafeArchiveError,
    match=r"docs/\.\./\.\./evil\.txt",
)(_member("docs/../../evil.txt"))
case("zip-absolute", "zip member /tmp/evil.txt", UnsafeArchiveError, match="/tmp/evil.txt")(
    _member("/tmp/evil.txt")
)
case(
    "zip-backslash",
    r"zip member ..\evil.txt (Windows separator)",
    UnsafeArchiveError,
    match=r"evil\.txt",
)(_member("..\\evil.txt"))
case("zip-drive", "zip member C:/evil.txt (drive letter)", UnsafeArchiveError, match="C:")(
    _member("C:/evil.txt")
)


@case("zip-symlink", "zip member that is a symlink to /etc/passwd", UnsafeArchiveError,
      match="link")  # fmt: skip
def _(world: World) -> Attempt:
    return publish(world, bad.add_symlink(world.tiny, world.tmp / "bad.zip", "cover2.png",
                                          "/etc/passwd"))  # fmt: skip


@case("zip-duplicate", "two zip members named weights.onnx", UnsafeArchiveError,
      match="weights.onnx")  # fmt: skip
def _(world: World) -> Attempt:
    out = bad.with_members(world.tiny, world.tmp / "bad.zip", [("weights.onnx", b"\0" * 207)])
    return publish(world, out)


@case("zip-bomb", "a member of 64 MiB of zeros deflated to 64 kB (ratio 1000)",
      UnsafeArchiveError, match="compress")  # fmt: skip
def _(world: World) -> Attempt:
    return publish(world, bad.bomb(world.tiny, world.tmp / "bad.zip", 64 << 20))


@case("zip-lying-size", "a member whose headers claim 4 GiB for 4 bytes", UnsafeArchiveError,
      match="huge.npy")  # fmt: skip
def _(world: World) -> Attempt:
    return publish(world, bad.lying_size(world.tiny, world.tmp / "bad.zip", 0xFFFFFFFE))


@case("zip-many-members", "10,001 members", UnsafeArchiveError, match="10001 members")
def _(world: World) -> Attempt:
    out = bad.with_members(world.tiny, world.tmp / "bad.zip", [])
    with zipfile.ZipFile(out, "a") as zf:
        for i in range(10_001 - 6):
            zf.writestr(f"junk/{i}", b"")
    return publish(world, out)


@case("zip-encrypted", "weights member marked encrypted (password zip)", PackageError,
      match="encrypted")  # fmt: skip
def _(world: World) -> Attempt:
    return publish(world, bad.encrypted(world.tiny, world.tmp / "bad.zip"))


@case("zip-prefixed", "an HTML page glued before the zip (a polyglot file)", PackageError,
      match="before its first member")  # fmt: skip
def _(world: World) -> Attempt:
    out = world.tmp / "bad.zip"
    out.write_bytes(b"<html><script>alert(1)</script></html>\n" + world.tiny.read_bytes())
    return publish(world, out)


@case("zip-trailing-data", "bytes appended after the end of the zip", PackageError,
      match="after its end")  # fmt: skip
def _(world: World) -> Attempt:
    out = world.tmp / "bad.zip"
    out.write_bytes(world.tiny.read_bytes() + b"\r\n--boundary--\r\n")
    return publish(world, out)


@case("zip-truncated", "the package zip cut in half", PackageError, match="cannot read")
def _(world: World) -> Attempt:
    out = world.tmp / "bad.zip"
    data = world.tiny.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return publish(world, out)


@case("zip-not-a-zip", "random bytes named .zip", PackageError, match="cannot read")
def _(world: World) -> Attempt:
    out = world.tmp / "bad.zip"
    out.write_bytes(os.urandom(4096))
    return publish(world, out)


@case("zip-empty-file", "an empty file named .zip", PackageError, match="cannot read")
def _(world: World) -> Attempt:
    out = world.tmp / "bad.zip"
    out.write_bytes(b"")
    return publish(world, out)


@case("zip-no-rdf", "a zip without rdf.yaml", PackageError, match="cannot read")
def _(world: World) -> Attempt:
    return publish(world, _no_rdf(world))


def _no_rdf(world: World) -> Path:
    out = world.tmp / "bad.zip"
    with zipfile.ZipFile(world.tiny) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            if name != "rdf.yaml":
                dst.writestr(name, src.read(name))
    return out


@case("rdf-absolute-reference", "rdf.yaml documentation: /etc/hostname (a file outside)",
      UnsafeArchiveError, match="/etc/hostname")  # fmt: skip
def _(world: World) -> Attempt:
    outside = "/etc/hostname" if Path("/etc/hostname").is_file() else "/etc/passwd"

    def point(d: dict) -> None:
        d["documentation"] = {"source": outside}

    return publish(world, bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf=point))


@case("rdf-dotdot-reference", "rdf.yaml test tensor ../../outside.npy", UnsafeArchiveError,
      match=r"\.\./\.\./outside\.npy")  # fmt: skip
def _(world: World) -> Attempt:
    (world.tmp / "outside.npy").write_bytes(b"secret")

    def point(d: dict) -> None:
        d["inputs"][0]["test_tensor"] = {"source": "../../outside.npy"}

    return publish(world, bad.rewrite(world.tiny, world.tmp / "sub" / "bad.zip", rdf=point))


@case("rdf-url-reference", "rdf.yaml weights source http://127.0.0.1:PORT/w.onnx (SSRF)",
      UnsafeArchiveError, match="http://127.0.0.1")  # fmt: skip
def _(world: World) -> Attempt:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]

    def point(d: dict) -> None:
        d["weights"]["onnx"]["source"] = f"http://127.0.0.1:{port}/w.onnx"

    def no_connection() -> None:
        try:
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody connected
        finally:
            listener.close()

    attempt = publish(world, bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf=point))
    attempt.after = no_connection
    return attempt


@case("folder-symlink-outside", "package folder whose weights.onnx links outside it",
      UnsafeArchiveError, match="weights.onnx")  # fmt: skip
def _(world: World) -> Attempt:
    outside = world.tmp / "elsewhere.onnx"
    (world.folder / "weights.onnx").rename(outside)
    (world.folder / "weights.onnx").symlink_to(outside)
    return publish(world, world.folder)


@pytest.mark.parametrize("case", ids(ARCHIVES))
def test_catalogue(case: Case, world: World) -> None:
    refused(world, case, case.build(world))


def test_loading_a_package_makes_no_request_to_the_urls_it_cites(world: World) -> None:
    """Citations and the git repo are URLs bioimageio.spec would request while validating
    (a request to wherever a package points, from a registry server too); zoo makes none."""
    from zoo.package import load_package

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def cite(d: dict) -> None:
        d["cite"] = [{"text": "A paper", "url": f"{url}/paper"}]
        d["git_repo"] = f"{url}/repo"

    package = load_package(bad.rewrite(world.tiny, world.tmp / "cites.zip", rdf=cite))
    assert str(package.descr.cite[0].url).startswith(url)
    try:
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
