"""What a package may contain and point at: checked before bioimageio.spec reads it.

A package zip is refused (:class:`~zoo.errors.UnsafeArchiveError`) when a member could land
outside the package if extracted (``../``, absolute or drive paths, backslashes), is a
symlink or a device, appears twice, or would inflate to far more than it occupies (a
compression bomb); a package folder, when a file links outside the folder. The description
itself may refer only to files inside the package: a URL, an absolute path or a ``../``
reference would make zoo read (and publish) something that is not part of the package, or
make a request to wherever the URL points; :class:`PackageFiles` answers "is this reference
a file of the package?" for the first, offline pass of :func:`zoo.package.load_descr`. An
rdf.yaml whose aliases expand to millions of values (a "billion laughs") is refused before
any YAML is constructed.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

from zoo.errors import PackageError, UnsafeArchiveError, ZooError

__all__ = ["MAX_MEMBERS", "MAX_RATIO", "MAX_UNPACKED", "PackageFiles", "check_yaml", "check_zip"]

MAX_MEMBERS = 10_000
"""Most members a package zip may have."""
MAX_UNPACKED = 4 << 30
"""Most bytes all members of a package zip may inflate to together (4 GiB)."""
MAX_RATIO = 200
"""Most a member over 1 MiB may inflate relative to its compressed size; real weights,
tensors and images compress 1-10×, zeros ~1000×."""
MAX_YAML_BYTES = 16 << 20
"""Largest rdf.yaml (or card) zoo parses."""
MAX_YAML_NODES = 1_000_000
"""Most values a YAML document may expand to once its aliases are followed: ten lines of
nested aliases expand to a billion (a "billion laughs"), which would hang the validator."""
RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")


def _unsafe_name(name: str) -> str | None:
    """Why ``name`` could escape the folder it is extracted into, or None."""
    if not name or "\0" in name:
        return "an empty name or a NUL byte"
    if "\\" in name:
        return "a backslash (a Windows path separator)"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "a '..' component"
    return None


def check_zip(path: Path) -> list[str]:
    """The file members of the package zip at ``path``, once every member is found safe.

    Raises :class:`UnsafeArchiveError` naming the first unsafe member, and
    :class:`PackageError` for encrypted members (zoo reads no password zips) and for data
    before or after the zip (a zip inside a multipart form would otherwise be published,
    wrapper and all).
    """
    with zipfile.ZipFile(path) as zf:
        infos, comment = zf.infolist(), zf.comment
    with path.open("rb") as fh:  # zipfile reads past data around the archive; zoo does not
        head = fh.read(4)
        fh.seek(max(0, path.stat().st_size - 22 - len(comment)))
        tail = fh.read(4)
    if head not in (b"PK\x03\x04", b"PK\x05\x06") or tail != b"PK\x05\x06":
        raise PackageError(
            f"{path.name} holds other data before its first member or after its end (a zip "
            "wrapped in a multipart form, or glued to another file?); a package is the plain "
            "zip: publish or upload that file itself"
        )
    if len(infos) > MAX_MEMBERS:
        raise UnsafeArchiveError(
            f"{path.name} has {len(infos)} members; a package has at most {MAX_MEMBERS}"
        )
    twice = [name for name, n in Counter(i.filename for i in infos).items() if n > 1]
    if twice:
        raise UnsafeArchiveError(
            f"{path.name} holds more than one member named {twice[0]!r}; which one a tool "
            "reads would depend on the tool. Re-zip the package folder."
        )
    total = 0
    for info in infos:
        why = _unsafe_name(info.filename)
        if why:
            raise UnsafeArchiveError(
                f"{path.name} has a member named {info.filename!r} with {why}: extracted, it "
                "would land outside the package folder. Members must be relative paths inside it."
            )
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            what = "a symbolic link" if kind == stat.S_IFLNK else "not a regular file"
            raise UnsafeArchiveError(
                f"{path.name} member {info.filename!r} is {what}; a package holds only "
                "regular files"
            )
        if info.flag_bits & 0x1:
            raise PackageError(
                f"{path.name} member {info.filename!r} is encrypted; zoo reads no password "
                "zips: re-zip the package without a password"
            )
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1 << 20:
            raise UnsafeArchiveError(
                f"{path.name} member {info.filename!r} would inflate from "
                f"{info.compress_size} to {info.file_size} bytes (compression ratio over "
                f"{MAX_RATIO}): refused as a compression bomb"
            )
        total += info.file_size
    if total > MAX_UNPACKED:
        raise UnsafeArchiveError(
            f"{path.name} would inflate to {total} bytes, more than the {MAX_UNPACKED} a "
            "package may hold"
        )
    return [i.filename for i in infos if not i.is_dir()]


def check_yaml(data: bytes | str, name: str, *, error: type[ZooError] = PackageError) -> None:
    """Raise ``error`` when the YAML document ``data`` is too large, or expands
    to more than :data:`MAX_YAML_NODES` values through its aliases (syntax errors are left
    to the reader, which reports them with their line)."""
    import yaml

    if len(data) > MAX_YAML_BYTES:
        raise error(f"{name} has over {MAX_YAML_BYTES} bytes; zoo reads YAML up to that size")
    try:
        root = yaml.compose(data, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError, ValueError):
        return
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:  # memoised: an aliased node is counted per use
        if id(node) not in sizes:
            children = node.value if isinstance(node, yaml.CollectionNode) else []
            flat = [n for c in children for n in (c if isinstance(c, tuple) else (c,))]
            sizes[id(node)] = min(1 + sum(size(c) for c in flat), MAX_YAML_NODES + 1)
        return sizes[id(node)]

    if root is not None and size(root) > MAX_YAML_NODES:
        raise error(
            f"{name} expands to more than {MAX_YAML_NODES} values through its YAML aliases "
            "(*name): refused as an alias bomb; write the values out instead"
        )


class PackageFiles:
    """Which file references name a file of the package at ``path``: a zip (checked with
    :func:`check_zip` first), a folder, or an rdf.yaml whose folder is the package.

    In a folder, a file that is a symlink to something outside the folder is not the
    package's; such references are collected in :attr:`links_outside`.
    """

    def __init__(self, path: Path) -> None:
        self.links_outside: dict[str, Path] = {}
        self._names: set[str] | None = None
        if path.is_file() and zipfile.is_zipfile(path):
            self._names = set(check_zip(path))
            with zipfile.ZipFile(path) as zf:
                for name in self._names:
                    if name in RDF_NAMES or name.endswith(".bioimageio.yaml"):
                        with zf.open(name) as fh:
                            check_yaml(fh.read(MAX_YAML_BYTES + 1), f"{path.name}/{name}")
        self._root = (path if path.is_dir() else path.parent).resolve()
        yamls = [path] if path.is_file() and self._names is None else []
        yamls += [path / name for name in RDF_NAMES if path.is_dir() and (path / name).is_file()]
        for file in yamls:
            with file.open("rb") as fh:
                check_yaml(fh.read(MAX_YAML_BYTES + 1), file.name)

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str) or _unsafe_name(ref) or ":" in ref:
            return False
        if self._names is not None:
            return ref in self._names
        target = self._root / ref
        if not target.is_file():
            return False
        if not target.resolve().is_relative_to(self._root):
            self.links_outside[ref] = target.resolve()
            return False
        return True
