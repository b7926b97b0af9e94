"""A package's metadata, checked before any export: bioimage.io's rules for the name, the
licence, the version and the authors, the card against the imported model, and the
placeholders zoo fills in for what the author did not give.

bioimage.io validates these only when the whole description is built, after the exports;
checking them first refuses a bad name in a second, with the rule, and writes nothing.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zoo.errors import SpecError
from zoo.placeholders import placeholder_advice
from zoo.spec import ZooCard

__all__ = ["NAME_CHARS", "PackageMetadata", "check_card_fits", "package_metadata"]

logger = logging.getLogger(__name__)

NAME_CHARS = string.ascii_letters + string.digits + "_+- ()"
"""bioimage.io's characters for a model name (spec 0.5 ``ModelDescr.name``)."""
NAME_LENGTH = (5, 128)
"""bioimage.io's shortest and longest model name."""
MAX_DESCRIPTION = 1024
"""bioimage.io's longest description."""
PLACEHOLDER_LICENSE = "CC-BY-4.0"
"""The licence written when the author gives none (bioimage.io requires one)."""


@dataclass(frozen=True)
class PackageMetadata:
    """The package fields of a build, with the placeholders zoo filled in."""

    name: str
    description: str
    authors: tuple[str, ...]
    license: str
    version: str
    placeholders: tuple[str, ...]
    """Names of the fields holding zoo's placeholders (authors, license, description)."""


def package_metadata(
    *,
    name: str,
    method: str,
    description: str | None,
    authors: Sequence[str] | None,
    license: str | None,
    version: str,
) -> PackageMetadata:
    """Check the package fields against bioimage.io's rules (:class:`SpecError` naming the
    rule) and fill the missing ones with placeholders, logging a warning that says how to
    set them."""
    _check_name(name)
    _check_version(version)
    placeholders = [
        field
        for field, value in (
            ("authors", authors),
            ("license", license),
            ("description", description),
        )
        if not value
    ]
    meta = PackageMetadata(
        name=name,
        description=description or f"{method} denoiser packaged by zoo",
        authors=tuple(authors or ["unknown"]),
        license=license or PLACEHOLDER_LICENSE,
        version=version,
        placeholders=tuple(placeholders),
    )
    _check_authors(meta.authors)
    _check_license(meta.license)
    if len(meta.description) > MAX_DESCRIPTION:
        raise SpecError(
            f"description has {len(meta.description)} characters; bioimage.io allows at most "
            f"{MAX_DESCRIPTION}: shorten it (the README holds the details)"
        )
    if placeholders:
        logger.warning(
            "placeholder metadata (a registry refuses it unless --allow-placeholders):\n%s",
            placeholder_advice(placeholders),
        )
    return meta


def _check_name(name: str) -> None:
    bad = sorted({c for c in name if c not in NAME_CHARS})
    lo, hi = NAME_LENGTH
    if lo <= len(name) <= hi and not bad:
        return
    found = f"characters {''.join(bad)!r}" if bad else f"{len(name)} characters"
    raise SpecError(
        f"model name {name!r} breaks bioimage.io's name rule ({lo} to {hi} characters: letters, "
        f"digits, spaces and _+-()); found {found}. Pass --name with such a name (the name "
        "defaults to the output file's stem)"
    )


def _check_version(version: str) -> None:
    from zoo.index import parse_version

    parse_version(version)


def _check_authors(authors: Sequence[str]) -> None:
    bad = [a for a in authors if not a.strip() or "/" in a]
    if bad:
        raise SpecError(
            f"author names {bad} are not allowed by bioimage.io (empty, or containing '/'): "
            "pass --author with a person's or group's name"
        )


def _check_license(license: str) -> None:
    from bioimageio.spec._internal.license_id import DeprecatedLicenseId, LicenseId
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(LicenseId | DeprecatedLicenseId).validate_python(license)
    except ValidationError as exc:
        raise SpecError(
            f"licence {license!r} is not an SPDX licence id bioimage.io knows; expected e.g. "
            "CC-BY-4.0, MIT or BSD-3-Clause (https://spdx.org/licenses/): fix --license"
        ) from exc


def check_card_fits(card: ZooCard, *, spatial_axes: str, channels: int) -> None:
    """Refuse a card whose dimensionality or channels contradict the imported model."""
    problems: list[Any] = []
    if card.domain.dimensionality != len(spatial_axes):
        problems.append(
            f"domain.dimensionality is {card.domain.dimensionality} but the model works on "
            f"{len(spatial_axes)}D ({spatial_axes}) input"
        )
    if card.domain.channels != channels:
        problems.append(f"domain.channels is {card.domain.channels} but the model takes {channels}")
    if problems:
        raise SpecError(
            "the card contradicts the weights: " + "; ".join(problems) + ". Fix the card "
            "(or --set domain.dimensionality=…/domain.channels=…)"
        )
