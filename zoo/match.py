"""Rank a registry's models for one image: the domain check of every model, best first.

Each model id's newest unyanked version is fetched (verified, cached) and checked against
the image; nothing is run. Models of the image's modality family come first (light
microscopy, electron microscopy, transmitted light: from the image's modality when known, its
contrast polarity otherwise, :mod:`zoo.families`), then by verdict (match, caution, mismatch)
and score; each comes with the reasons: the checks that did not pass. A model that cannot be
loaded is listed last with its error instead of stopping the ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoo.checks import image_polarity, model_families, plane_statistics
from zoo.domain import check_image
from zoo.errors import ImageError, ZooError
from zoo.families import Family, Polarity, family_of, polarity_family
from zoo.imageio import Image
from zoo.registry import Registry

__all__ = ["Match", "image_families", "rank_models"]

_RANK = {"match": 0, "caution": 1, "mismatch": 2, "error": 3}


@dataclass(frozen=True)
class Match:
    """One model's verdict on the image."""

    id: str
    version: str
    verdict: str
    """match, caution, mismatch — or error when the package could not be loaded."""
    score: float
    reasons: list[str] = field(default_factory=list)
    """One line per check that warned or failed: name, measured, expected."""
    summary: dict[str, Any] = field(default_factory=dict)
    """Modality, method, noise type and structures from the index; the modality family."""
    other_family: bool = False
    """The model's training data is of another modality family than the image."""
    learned: float | None = None
    """The report's learned score (:mod:`zoo.learned`), when computed."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "verdict": self.verdict,
            "score": round(self.score, 4) if self.score != float("inf") else None,
            "learned": self.learned,
            "reasons": self.reasons,
            **self.summary,
        }


def rank_models(
    image: Image, registry: Registry, *, modality: str | None = None, top: int | None = None
) -> list[Match]:
    """Every model of ``registry`` checked against ``image``, best first."""
    # Measured once for all models: the polarity (needed only without a modality) and the
    # statistics.
    polarity = None if (modality or image.modality) else image_polarity(image)
    try:
        stats = plane_statistics(image)
    except ImageError:
        stats = None  # each model's check says why
    mine = image_families(image, modality, polarity=polarity)
    results = []
    for model_id, model in sorted(registry.index().models.items()):
        version = model.newest()
        if version is None:
            continue  # every version yanked
        s = model.versions[version].summary
        summary = {
            "modality": s.modality,
            "method": s.method,
            "noise_type": s.noise_type,
            "structures": list(s.structures),
        }
        try:
            package = registry.load(f"{model_id}@{version}")
        except ZooError as exc:
            results.append(Match(model_id, version, "error", float("inf"), [str(exc)], summary))
            continue
        report = check_image(package, image, modality=modality, statistics=stats, polarity=polarity)
        reasons = [
            f"{c.name} {c.status}: measured {_short(c.measured)}, expected {_short(c.expected)}"
            for c in report.checks
            if c.status in ("warn", "fail")
        ]
        theirs = model_families(package)
        summary["family"] = " or ".join(sorted(theirs)) or None
        other = bool(mine and theirs and theirs.isdisjoint(mine))
        results.append(
            Match(
                model_id,
                version,
                report.verdict,
                report.score,
                reasons,
                summary,
                other,
                report.learned,
            )
        )
    results.sort(key=_rank_key)
    return results[:top] if top else results


def _rank_key(m: Match) -> tuple[Any, ...]:
    """Models of the image's family first, then by verdict, then by learned score (the
    models without one last), then by the checks' distance."""
    learned = float("inf") if m.learned is None else m.learned
    return (m.other_family, _RANK[m.verdict], learned, m.score, m.id)


def image_families(
    image: Image, modality: str | None = None, *, polarity: Polarity | None = None
) -> tuple[Family, ...]:
    """The families ``image`` can belong to: its modality's (``modality``, else its
    metadata's) when known, else those its contrast polarity (``polarity`` when already
    measured) allows; () when unknown."""
    known = family_of(modality or image.modality)
    if known is not None:
        return (known,)
    measured = image_polarity(image) if polarity is None else polarity
    if measured is None:
        return ()
    return polarity_family(measured.value, small=measured.small, dark=measured.dark,
                           clipped=measured.clipped)  # fmt: skip


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join("…" if v is None else _short(v) for v in value) + "]"
    return str(value)
