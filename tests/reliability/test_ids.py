"""Bad model ids and versions, on every command that takes one: traversal, absurd length,
invalid characters, text that looks like terminal markup, versions that are not semver."""

from __future__ import annotations

import pytest

from tests.reliability import bad
from tests.reliability.catalogue import Attempt, Case, Family, World, ids, publish, refused
from zoo.errors import ModelNotFoundError, RegistryError, SpecError

IDS = Family("ids")
case = IDS.case

BAD_ID = "invalid model id"
BAD_VERSION = "invalid version"


def _publish_as(model_id: str):  # type: ignore[no-untyped-def]
    return lambda world: publish(world, world.tiny, model_id=model_id)


def _publish_version(version: str):  # type: ignore[no-untyped-def]
    return lambda world: publish(world, world.tiny, version=version)


def _fetch(ref: str):  # type: ignore[no-untyped-def]
    return lambda world: Attempt(lambda: world.reg().fetch(ref), world.zoo("fetch", ref))


case("id-traversal", "--id ../../etc", SpecError, match=BAD_ID)(_publish_as("../../etc"))
case("id-too-long", "--id of 100,000 characters", SpecError, match="at most 64")(
    _publish_as("a" * 100_000)
)
case("id-invalid-chars", "--id 'N2V model!'", SpecError, match=BAD_ID)(_publish_as("N2V model!"))
case("id-unicode-hyphen", "--id with U+2010 for a hyphen", SpecError, match=BAD_ID)(
    _publish_as("n2v\u2010fluo")
)
case("id-nul-byte", "--id with a NUL byte", SpecError, match=BAD_ID)(_publish_as("n2v\0x"))
case("id-empty", "--id ''", SpecError, match=BAD_ID)(_publish_as(""))
case(
    "id-rich-markup",
    "fetch '[/x]' (terminal markup in the echoed id)",
    SpecError,
    match=r"\[/x\]",
)(_fetch("[/x]"))
case("fetch-traversal", "fetch ../../etc/passwd", SpecError, match=BAD_ID)(
    _fetch("../../etc/passwd")
)
case("fetch-double-at", "fetch tiny-mean@0.1.0@0.2.0", SpecError, match=BAD_VERSION)(
    _fetch("tiny-mean@0.1.0@0.2.0")
)
case("fetch-unknown-id", "fetch no-such-model", ModelNotFoundError, match="no model")(
    _fetch("no-such-model")
)
case("fetch-unknown-version", "fetch tiny-mean@9.9.9", ModelNotFoundError, match="has no version")(
    _fetch("tiny-mean@9.9.9")
)
case("version-not-semver", "--version 1.0", SpecError, match=BAD_VERSION)(_publish_version("1.0"))
case("version-empty", "--version ''", SpecError, match=BAD_VERSION)(_publish_version(""))
case("version-leading-zero", "--version 01.0.0", SpecError, match=BAD_VERSION)(
    _publish_version("01.0.0")
)
case("version-traversal", "--version ../1.0.0", SpecError, match=BAD_VERSION)(
    _publish_version("../1.0.0")
)
case("version-too-long", "--version 1.0.0-aaaa… (100,000 characters)", SpecError,
     match=BAD_VERSION)(_publish_version("1.0.0-" + "a" * 100_000))  # fmt: skip
case("version-build-metadata", "--version 1.0.0+build.7", SpecError, match=BAD_VERSION)(
    _publish_version("1.0.0+build.7")
)


@case("package-version-not-semver", "rdf.yaml version: '1.0' and no --version", SpecError,
      match=BAD_VERSION)  # fmt: skip
def _(world: World) -> Attempt:
    def version(d: dict) -> None:
        d["version"] = "1.0"

    return publish(world, bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf=version))


@case("version-immutable", "republish tiny-mean@0.1.0 with other bytes", RegistryError,
      match="versions are immutable")  # fmt: skip
def _(world: World) -> Attempt:
    def describe(d: dict) -> None:
        d["description"] = "other bytes, same version"

    out = bad.rewrite(world.tiny, world.tmp / "other.zip", rdf=describe)
    return publish(world, out, model_id="tiny-mean")


@case("yank-not-semver", "yank tiny-mean@latest", SpecError, match=BAD_VERSION)
def _(world: World) -> Attempt:
    ref = "tiny-mean@latest"
    return Attempt(lambda: world.reg().yank(ref, "bad"), world.zoo("yank", ref, "--reason", "b"))


@case("yank-no-version", "yank tiny-mean (no version)", SpecError, match="exact version")
def _(world: World) -> Attempt:
    ref = "tiny-mean"
    return Attempt(lambda: world.reg().yank(ref, "bad"), world.zoo("yank", ref, "--reason", "b"))


@case("yank-blank-reason", "yank tiny-mean@0.1.0 --reason ' '", SpecError, match="reason")
def _(world: World) -> Attempt:
    ref = "tiny-mean@0.1.0"
    return Attempt(lambda: world.reg().yank(ref, " "), world.zoo("yank", ref, "--reason", " "))


@case("versions-traversal", "versions ../tiny-mean", SpecError, match=BAD_ID)
def _(world: World) -> Attempt:
    return Attempt(lambda: world.reg().versions("../x"), world.zoo("versions", "../x"))


@pytest.mark.parametrize("case", ids(IDS))
def test_catalogue(case: Case, world: World) -> None:
    refused(world, case, case.build(world))
