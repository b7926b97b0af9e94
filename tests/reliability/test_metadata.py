"""Bad metadata: rdf.yaml and the denoiser card malformed, of the wrong types, incomplete, with
unknown keys, with YAML that would run code or expand without end."""

from __future__ import annotations

import zipfile
from typing import Any

import pytest
import yaml

from tests.reliability import bad
from tests.reliability.catalogue import Attempt, Case, Family, World, ids, publish, refused
from zoo.errors import PackageError, SpecError

METADATA = Family("metadata")
case = METADATA.case


def _rdf_text(text: str | bytes):  # type: ignore[no-untyped-def]
    return lambda world: publish(
        world, bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf_text=text)
    )


def _card(edit):  # type: ignore[no-untyped-def]
    """Publish the package with ``edit`` applied to its card (config.zoo)."""

    def build(world: World) -> Attempt:
        def change(d: dict[str, Any]) -> None:
            edit(d["config"]["zoo"])

        return publish(world, bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf=change))

    return build


def _card_file(content: bytes):  # type: ignore[no-untyped-def]
    """Publish the package without a card, attaching ``content`` as --card FILE."""

    def build(world: World) -> Attempt:
        from zoo.cardfile import load_card

        def drop(d: dict[str, Any]) -> None:
            del d["config"]["zoo"]

        package = bad.rewrite(world.tiny, world.tmp / "nocard.zip", rdf=drop)
        card = world.tmp / "card.yaml"
        card.write_bytes(content)
        argv = world.zoo("publish", str(package), "--id", "candidate", "--card", str(card))
        return Attempt(
            lambda: world.reg().publish(package, model_id="candidate", card=load_card(card)),
            argv,
            [package, card],
        )

    return build


def _laughs(levels: int = 9) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


case("rdf-malformed-yaml", "rdf.yaml 'name: [unclosed'", PackageError, match="ParserError")(
    _rdf_text("name: [unclosed\n")
)
case("rdf-not-a-mapping", "rdf.yaml is a YAML list", PackageError, match="mapping")(
    _rdf_text("- a\n- b\n")
)
case("rdf-invalid-utf8", "rdf.yaml bytes ff fe fa (not UTF-8)", PackageError, match="decode")(
    _rdf_text(b"\xff\xfe\xfa name: x\n")
)


@case("rdf-python-tag", "rdf.yaml with !!python/object/apply:os.system", PackageError,
      match="python/object")  # fmt: skip
def _(world: World) -> Attempt:
    marker = world.tmp / "PWNED"

    def tag(d: dict[str, Any]) -> None:
        d["name"] = "PLACEHOLDER"

    out = bad.rewrite(world.tiny, world.tmp / "ok.zip", rdf=tag)
    text = bad.rdf_of(out)
    rdf = yaml.safe_dump(text, sort_keys=False).replace(
        "PLACEHOLDER", f"!!python/object/apply:os.system ['touch {marker}']"
    )
    attempt = _rdf_text(rdf)(world)

    def not_run() -> None:
        assert not marker.exists(), "YAML ran code"

    attempt.after = not_run
    return attempt


@case("rdf-alias-bomb", "rdf.yaml of 11 lines whose aliases expand to 9⁹ values",
      PackageError, match="alias bomb")  # fmt: skip
def _(world: World) -> Attempt:
    with zipfile.ZipFile(world.tiny) as zf:
        rdf = zf.read("rdf.yaml").decode()
    return _rdf_text(_laughs() + rdf.split("---\n", 1)[1] + "\nconfig_extra: *l9\n")(world)


@case("rdf-missing-inputs", "rdf.yaml without inputs", SpecError, match="inputs")
def _(world: World) -> Attempt:
    return publish(world, bad.rewrite(world.tiny, world.tmp / "bad.zip",
                                      rdf=lambda d: d.pop("inputs")))  # fmt: skip


@case("rdf-wrong-type", "rdf.yaml inputs: 'x' (a string)", SpecError, match="inputs")
def _(world: World) -> Attempt:
    return publish(world, bad.rewrite(world.tiny, world.tmp / "bad.zip",
                                      rdf=lambda d: d.update(inputs="x")))  # fmt: skip


@case("rdf-wrong-sha256", "rdf.yaml records another sha256 for the test input", SpecError,
      match="sha256|SHA256|hash")  # fmt: skip
def _(world: World) -> Attempt:
    def wrong(d: dict[str, Any]) -> None:
        d["inputs"][0]["test_tensor"]["sha256"] = "0" * 64

    return publish(world, bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf=wrong))


@case("card-missing", "a package without config.zoo", SpecError, match="no zoo card")
def _(world: World) -> Attempt:
    def drop(d: dict[str, Any]) -> None:
        del d["config"]["zoo"]

    return publish(world, bad.rewrite(world.tiny, world.tmp / "bad.zip", rdf=drop))


case("card-missing-field", "card without noise", SpecError, match=r"config\.zoo\.noise")(
    _card(lambda c: c.pop("noise"))
)
case("card-wrong-type", "card dimensionality: 'two'", SpecError, match="dimensionality")(
    _card(lambda c: c["domain"].update(dimensionality="two"))
)
case("card-unknown-key", "card domain.modalty (a typo)", SpecError, match="modalty")(
    _card(lambda c: c["domain"].update(modalty="confocal"))
)
case("card-bad-vocabulary", "card modality: x-ray", SpecError, match="modality")(
    _card(lambda c: c["domain"].update(modality="x-ray"))
)
case("card-nan", "card pixel_size.x: .nan", SpecError, match="pixel_size")(
    _card(lambda c: c["domain"]["pixel_size"].update(x=float("nan")))
)
case("card-negative", "card pixel_size.x: -0.1", SpecError, match="pixel_size")(
    _card(lambda c: c["domain"]["pixel_size"].update(x=-0.1))
)
case("card-contradicts-model", "card says 3D, the model's input is 2D (yx)", SpecError,
     match="dimensionality")(_card(lambda c: c["domain"].update(dimensionality=3)))  # fmt: skip
case("card-file-invalid-utf8", "--card file of bytes ff fe", SpecError, match="decode")(
    _card_file(b"\xff\xfe")
)
case("card-file-not-mapping", "--card file holding a YAML list", SpecError, match="mapping")(
    _card_file(b"- domain\n- noise\n")
)
case("card-file-alias-bomb", "--card file whose aliases expand to 9⁹ values", SpecError,
     match="alias bomb")(_card_file(_laughs().encode() + b"domain: *l9\n"))  # fmt: skip


@pytest.mark.parametrize("case", ids(METADATA))
def test_catalogue(case: Case, world: World) -> None:
    refused(world, case, case.build(world))


def test_an_override_that_is_not_yaml_is_a_spec_error() -> None:
    from zoo.cardfile import load_card

    with pytest.raises(SpecError, match="not valid YAML"):
        load_card(None, overrides=["domain.modality=[unclosed"])
