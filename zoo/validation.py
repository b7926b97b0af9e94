"""Validate a model package: bioimage.io validity plus the zoo card, every problem with its field.

The bioimage.io part is judged by ``bioimageio.spec`` (format, file hashes); the card by
:class:`zoo.spec.ZooCard` and by its consistency with the tensors it describes (channels,
dimensionality). A plain bioimage.io package without a card is valid; the report says the
card is missing, because zoo's domain check will then have less to go on.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from zoo.package import CARD_KEY, bioimageio_problems, card_problems, load_descr
from zoo.spec import ZooCard

__all__ = ["Problem", "ValidationReport", "validate_package"]

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")


@dataclass(frozen=True)
class Problem:
    """One reason a package is invalid."""

    part: Literal["bioimageio", "card"]
    """Which judge found it."""
    loc: str
    """Field path in rdf.yaml, e.g. ``config.zoo.domain.modality``."""
    message: str
    """What is wrong."""

    def __str__(self) -> str:
        return f"[{self.part}] {self.loc}: {self.message}"


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on one package."""

    path: str
    bioimageio_valid: bool
    card: Literal["valid", "missing", "invalid"]
    problems: tuple[Problem, ...]
    name: str | None = None

    @property
    def ok(self) -> bool:
        """Valid bioimage.io package, and its card (if any) is valid."""
        return self.bioimageio_valid and self.card != "invalid"

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["ok"] = self.ok
        return json.dumps(data, indent=2)


def validate_package(source: str | os.PathLike[str]) -> ValidationReport:
    """Validate a package (zip, folder or rdf.yaml); never raises for an invalid package.

    Raises :class:`~zoo.errors.PackageError` only when ``source`` is missing or unreadable.
    """
    from bioimageio.spec import InvalidDescr
    from bioimageio.spec.model.v0_5 import ModelDescr

    path = Path(source)
    descr = load_descr(path)
    problems: list[Problem] = []
    if isinstance(descr, InvalidDescr):
        problems += [Problem("bioimageio", loc, msg) for loc, msg in bioimageio_problems(descr)]
        raw_card = _raw_config(path).get(CARD_KEY)
        name = None
    elif not isinstance(descr, ModelDescr):
        problems.append(Problem("bioimageio", "type", f"expected a model, got {descr.type!r}"))
        raw_card, name = None, str(descr.name)
    else:
        raw_card = (descr.config.model_extra or {}).get(CARD_KEY)
        name = str(descr.name)
    bioimageio_valid = not problems
    if raw_card is None:
        card_status: Literal["valid", "missing", "invalid"] = "missing"
    else:
        card_errs = [Problem("card", loc, msg) for loc, msg in card_problems(raw_card)]
        if not card_errs and isinstance(descr, ModelDescr):
            card_errs = _consistency(descr, ZooCard.model_validate(raw_card))
        problems += card_errs
        card_status = "invalid" if card_errs else "valid"
    return ValidationReport(str(path), bioimageio_valid, card_status, tuple(problems), name)


def _consistency(descr: Any, card: ZooCard) -> list[Problem]:
    """Card fields that contradict the tensors the rdf describes."""
    problems = []
    axes = descr.inputs[0].axes
    space = [a for a in axes if a.type == "space"]
    channel = [a for a in axes if a.type == "channel"]
    dims = card.domain.dimensionality
    if len(space) != dims:
        ids = "".join(str(a.id) for a in space)
        problems.append(
            Problem(
                "card",
                f"config.{CARD_KEY}.domain.dimensionality",
                f"card says {dims}D but the input tensor has {len(space)} space axes ({ids})",
            )
        )
    n_channels = len(channel[0].channel_names) if channel else 1
    if n_channels != card.domain.channels:
        problems.append(
            Problem(
                "card",
                f"config.{CARD_KEY}.domain.channels",
                f"card says {card.domain.channels} channel(s) but the input tensor has "
                f"{n_channels}",
            )
        )
    return problems


def _raw_config(path: Path) -> dict[str, Any]:
    """The ``config`` mapping of an rdf.yaml read as plain YAML (for invalid packages)."""
    try:
        text = _read_rdf_text(path)
        data = yaml.safe_load(text) if text else None
    except (OSError, zipfile.BadZipFile, yaml.YAMLError):
        return {}
    config = data.get("config") if isinstance(data, dict) else None
    return config if isinstance(config, dict) else {}


def _read_rdf_text(path: Path) -> str | None:
    if path.is_dir():
        for name in RDF_NAMES:
            if (path / name).is_file():
                return (path / name).read_text()
        return None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for name in RDF_NAMES:
                if name in zf.namelist():
                    return zf.read(name).decode()
        return None
    return path.read_text()
