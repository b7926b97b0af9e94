"""The card as a file: read a card from YAML (with ``KEY=VALUE`` overrides), and the
commented template ``zoo card init`` writes. The card itself is :mod:`zoo.spec`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from zoo.errors import SpecError
from zoo.spec import MethodName, Modality, NoiseType, ZooCard

__all__ = ["card_template_text", "load_card"]


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise SpecError(f"cannot set {dotted!r}: {key!r} is not a mapping")
    node[last] = value


def load_card(
    path: str | os.PathLike[str] | None,
    *,
    overrides: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> ZooCard:
    """Read a card from YAML, apply ``KEY=VALUE`` overrides (dotted keys, YAML values).

    The file holds the card itself, or the card wrapped as in rdf.yaml (``config: zoo: …``,
    as docs/card.md shows it).

    ``defaults`` fill whole top-level sections the file leaves out (e.g. ``method`` from an
    importer). Raises :class:`SpecError` naming every invalid field.
    """
    data: dict[str, Any] = {}
    if path is not None:
        from zoo.archive import MAX_YAML_BYTES, check_yaml

        try:
            with Path(path).open("rb") as fh:
                content = fh.read(MAX_YAML_BYTES + 1)
            check_yaml(content, f"card {path}", error=SpecError)
            loaded = yaml.safe_load(content.decode())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SpecError(f"cannot read card {path}: {exc}") from exc
        if not isinstance(loaded, dict | None):
            raise SpecError(f"card {path} must be a YAML mapping, got {type(loaded).__name__}")
        data = _unwrap(loaded or {}, path)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SpecError(f"override {item!r} must look like domain.modality=confocal")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise SpecError(f"override {item!r}: the value is not valid YAML ({exc})") from exc
        _set_dotted(data, key.strip(), value)
    for key, value in (defaults or {}).items():
        data.setdefault(key, value)
    try:
        return ZooCard.model_validate(data)
    except ValidationError as exc:
        lines = "\n".join(
            f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        if path is None:
            raise SpecError(
                "no card given: pass --card CARD.yaml (docs/card.md; `zoo card init WEIGHTS` "
                "writes a template from a checkpoint, a Keras folder or a package) or set "
                f"each required field with --set; missing or invalid:\n{lines}"
            ) from exc
        raise SpecError(f"invalid card {path}:\n{lines}") from exc


def _unwrap(data: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """A card as docs/card.md shows it inside rdf.yaml (``config: zoo: …``) → the card."""
    if "config" not in data:
        return data
    config = data["config"]
    if set(data) == {"config"} and isinstance(config, dict) and set(config) == {"zoo"}:
        inner = config["zoo"]
        if isinstance(inner, dict):
            return inner
    raise SpecError(
        f"card {path} has a 'config' key beside or around the card; expected the card itself "
        "(domain, noise, method, training_data, validation at the top) or it wrapped as in "
        "rdf.yaml, 'config:' then 'zoo:' and nothing else: remove the other keys"
    )


def card_template_text(
    card: Mapping[str, Any], intro: Sequence[str], notes: Sequence[str] = ()
) -> str:
    """A card template as YAML under a comment header: ``intro`` (what it is for and the
    command that uses it), the controlled vocabularies, where every field is documented,
    then ``notes``."""
    header = [
        *intro,
        f"# modality: {', '.join(m.value for m in Modality)}",
        f"# noise.type: {', '.join(n.value for n in NoiseType)}",
        f"# method.name: {', '.join(m.value for m in MethodName)}",
        "# dtype: uint8, uint16, float32, … (the raw images the model was trained on)",
        "# optional: domain.pixel_size {x, y, unit}, domain.microscope, noise.gain, …",
        "#   (docs/card.md lists every field)",
        *notes,
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump(dict(card), sort_keys=False)
