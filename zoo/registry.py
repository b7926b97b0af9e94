"""Publish, fetch, search and yank model packages in a registry (a directory or an HTTP URL).

Publishing validates first and writes nothing when the package is refused: a valid
bioimage.io description, a complete zoo card, and the package's own test (every weight
format zoo can run must reproduce the test output, and at least one must run). Fetching
verifies sha256 before a package enters the cache and again when it is loaded from it, and
works offline from the cache. A registry served by ``zoo serve`` is published to and yanked
on over HTTP with a bearer token; the server validates exactly as a local publish does.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.config import cache_dir, registry_source, registry_token
from zoo.errors import AuthError, IntegrityError, ModelNotFoundError, RegistryError, SpecError
from zoo.files import atomic_path, private_tempdir
from zoo.hashes import sha256_file
from zoo.index import (
    Compatibility,
    Index,
    ModelEntry,
    VersionEntry,
    now,
    parse_ref,
    parse_version,
    summarize,
)
from zoo.index import validate_id as _validate_id
from zoo.package import Package, load_package, save_package, with_card
from zoo.placeholders import keep_placeholders
from zoo.spec import ZooCard
from zoo.store import HttpStore, LocalStore, open_store

if TYPE_CHECKING:
    from zoo.inference import FormatTest

__all__ = ["PublishResult", "Registry", "SearchHit", "YankedVersionWarning", "fetch"]

logger = logging.getLogger(__name__)


class YankedVersionWarning(UserWarning):
    """A pinned version that was yanked is being fetched."""


@dataclass(frozen=True)
class PublishResult:
    """What a publish did."""

    id: str
    version: str
    entry: VersionEntry
    created: bool
    """False when an identical package was already published (a no-op)."""


@dataclass(frozen=True)
class SearchHit:
    """One model in search results: its newest matching version."""

    id: str
    version: str
    entry: VersionEntry


@dataclass(frozen=True)
class _SearchRow:
    """A model's newest version (as its hit) with the lower-cased fields search compares."""

    hit: SearchHit
    pixel_size_um: float | None
    text: str
    modality: str
    noise: str
    method: str
    structures: tuple[str, ...]


def slugify(name: str) -> str:
    """A model id made from a package name: lowercase, hyphens."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")


def missing_card_fields() -> list[str]:
    """Dotted names of the card fields a publish requires (the card's required fields)."""
    schema = ZooCard.model_json_schema()
    defs = schema["$defs"]
    fields = []
    for section in schema["required"]:
        ref = schema["properties"][section]["$ref"].split("/")[-1]
        fields += [f"{section}.{f}" for f in defs[ref].get("required", [])]
    return fields


def check_publishable(package: Package, *, allow_placeholders: bool = False) -> list[FormatTest]:
    """Raise :class:`SpecError` unless the package has a card that agrees with its tensors
    (dimensionality, channels), holds no placeholder metadata (unless
    ``allow_placeholders``) and passes its own test; the test's results."""
    from zoo.inference import self_test

    if package.card is None:
        fields = ", ".join(missing_card_fields())
        raise SpecError(
            f"{package.source} has no zoo card (config.zoo); a registry needs at least: "
            f"{fields}. Write a template with: zoo card init {package.source}"
        )
    if not allow_placeholders:
        from zoo.placeholders import refuse_placeholders

        authors = [a.name for a in package.descr.authors]
        refuse_placeholders(package.card, package.descr.description, authors, package.source)
    from zoo.validation import _consistency

    clashes = _consistency(package.descr, package.card)
    if clashes:
        raise SpecError(
            "the card contradicts the model it describes; refusing to publish:\n"
            + "\n".join(f"  {p.loc}: {p.message}" for p in clashes)
        )
    results = self_test(package)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise SpecError(
            "the package's own test fails; refusing to publish:\n"
            + "\n".join(f"  {r.format}: {r.message}" for r in failed)
        )
    if not any(r.status == "passed" for r in results):
        reasons = "; ".join(f"{r.format}: {r.message}" for r in results)
        raise SpecError(f"no weight format of the package could be tested ({reasons})")
    return results


class Registry:
    """A model registry: ``source`` is a directory (or fsspec URL) or an http(s) base URL.

    ``source`` defaults to ``ZOO_REGISTRY``, else the embedded registry; ``cache`` to
    ``ZOO_CACHE``, else the platform's user cache folder; ``token`` (for publishing to and
    yanking on a ``zoo serve`` server) to ``ZOO_TOKEN``.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | None = None,
        *,
        cache: Path | None = None,
        token: str | None = None,
    ):
        self.source = registry_source(None if source is None else str(source))
        self.store = open_store(self.source)
        self.cache = cache_dir(cache)
        self._token = token
        self._search_rows: dict[bool, tuple[Index, list[_SearchRow]]] = {}

    # -- index ---------------------------------------------------------------------------
    def _index_cache(self) -> Path:
        from zoo.hashes import sha256_bytes

        return self.cache / "indexes" / f"{sha256_bytes(self.source.encode())[:16]}.json"

    def index(self) -> Index:
        """The registry's index; the cached copy when the registry cannot be reached."""
        import httpx

        try:
            index = self.store.read_index()
        except (httpx.TransportError, OSError) as exc:
            cached = self._index_cache()
            if not cached.is_file():
                raise RegistryError(
                    f"cannot reach registry {self.source} ({exc}) and no cached index exists"
                ) from exc
            logger.warning("registry %s unreachable; using cached index", self.source)
            return Index.model_validate_json(cached.read_bytes())
        if isinstance(self.store, HttpStore):
            with atomic_path(self._index_cache()) as tmp:
                tmp.write_text(index.to_json())
        return index

    def resolve(self, ref: str) -> tuple[str, str, VersionEntry]:
        """``ID[@VERSION]`` → (id, version, entry); newest unyanked version by default."""
        model_id, version = parse_ref(ref)
        model = self.index().models.get(model_id)
        if model is None or not model.versions:
            raise self._not_found(model_id)
        if version is None:
            version = model.newest()
            if version is None:
                raise ModelNotFoundError(
                    f"every version of {model_id!r} is yanked; pin one with {model_id}@VERSION"
                )
        elif version not in model.versions:
            known = ", ".join(sorted(model.versions, key=parse_version))
            raise ModelNotFoundError(f"{model_id} has no version {version} (has: {known})")
        entry = model.versions[version]
        if entry.yanked:
            warnings.warn(
                f"{model_id}@{version} was yanked: {entry.yank_reason}",
                YankedVersionWarning,
                stacklevel=2,
            )
        return model_id, version, entry

    def _not_found(self, model_id: str) -> ModelNotFoundError:
        """No model ``model_id``: the error names the closest ids (a typo) or ``zoo search``."""
        import difflib

        known = [i for i, m in self.index().models.items() if m.versions]
        close = difflib.get_close_matches(model_id, known, n=3, cutoff=0.6)
        hint = (
            f"did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else "`zoo search` lists its models"
        )
        return ModelNotFoundError(f"no model {model_id!r} in registry {self.source}; {hint}")

    def versions(self, model_id: str) -> list[tuple[str, VersionEntry]]:
        """Every version of ``model_id``, oldest first."""
        _validate_id(model_id)
        model = self.index().models.get(model_id)
        if model is None:
            raise self._not_found(model_id)
        return sorted(model.versions.items(), key=lambda kv: parse_version(kv[0]))

    # -- fetch ---------------------------------------------------------------------------
    def fetch(self, ref: str) -> Path:
        """The local path of the verified package zip for ``ID[@VERSION]`` (cached)."""
        model_id, version, entry = self.resolve(ref)
        target = self.cache / "blobs" / f"{entry.sha256}.zip"
        if target.is_file():
            if sha256_file(target) == entry.sha256:
                return target
            logger.warning("cached %s is corrupt; fetching it again", target)
            target.unlink()
        with atomic_path(target) as tmp:
            with tmp.open("wb") as fh:
                for chunk in self.store.read_blob(entry.location):
                    fh.write(chunk)
                    if fh.tell() > entry.size:  # a blob that never ends fills no disk
                        raise IntegrityError(
                            f"download of {model_id}@{version} sent more than the {entry.size} "
                            "bytes its index entry records; it was discarded, the cache is "
                            "unchanged"
                        )
            actual = sha256_file(tmp)
            if actual != entry.sha256:
                raise IntegrityError(
                    f"download of {model_id}@{version} has sha256 {actual}, expected "
                    f"{entry.sha256}; it was discarded, the cache is unchanged"
                )
        return target

    def load(self, ref: str) -> Package:
        """Fetch and load a package, verifying the cached zip once more."""
        _model_id, _version, entry = self.resolve(ref)
        path = self.fetch(ref)
        if sha256_file(path) != entry.sha256:
            raise IntegrityError(f"cached package {path} changed after it was verified")
        return load_package(path)

    # -- search --------------------------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        *,
        modality: str | None = None,
        noise: str | None = None,
        method: str | None = None,
        structure: str | None = None,
        pixel_size_min: float | None = None,
        pixel_size_max: float | None = None,
        include_yanked: bool = False,
    ) -> list[SearchHit]:
        """Models whose newest (unyanked) version matches every given filter, by id."""
        text, modality, noise, method, structure = (
            None if v is None else v.lower() for v in (text, modality, noise, method, structure)
        )
        hits = []
        for row in self._rows_for_search(include_yanked):
            pixel = row.pixel_size_um
            if (
                (text is None or text in row.text)
                and (modality is None or row.modality == modality)
                and (noise is None or row.noise == noise)
                and (method is None or row.method == method)
                and (structure is None or any(structure in x for x in row.structures))
                and (pixel_size_min is None or (pixel is not None and pixel >= pixel_size_min))
                and (pixel_size_max is None or (pixel is not None and pixel <= pixel_size_max))
            ):
                hits.append(row.hit)  # frozen: the same hit object may be handed out again
        return hits

    def _rows_for_search(self, include_yanked: bool) -> list[_SearchRow]:
        """Each model's newest version, by id, its fields lower-cased: made once per index
        (a registry folder hands out the same parsed index until index.json changes), so a
        search over 100k versions loops over plain strings instead of comparing versions."""
        index = self.index()
        cached = self._search_rows.get(include_yanked)
        if cached is not None and cached[0] is index:
            return cached[1]
        rows = []
        for model_id, model in sorted(index.models.items()):
            version = model.newest(include_yanked=include_yanked)
            if version is None:
                continue
            entry = model.versions[version]
            s = entry.summary
            text = " ".join([model_id, s.name, s.description, *s.structures, *s.tags])
            rows.append(
                _SearchRow(
                    hit=SearchHit(model_id, version, entry),
                    pixel_size_um=s.pixel_size_um,
                    text=text.lower(),
                    modality=(s.modality or "").lower(),
                    noise=(s.noise_type or "").lower(),
                    method=(s.method or "").lower(),
                    structures=tuple(x.lower() for x in s.structures),
                )
            )
        self._search_rows[include_yanked] = (index, rows)
        return rows

    # -- write ---------------------------------------------------------------------------
    def _writable(self) -> LocalStore:
        if not isinstance(self.store, LocalStore):
            raise RegistryError(
                f"registry {self.source} is read-only here; publish over HTTP with a token "
                "(zoo serve) or into a directory"
            )
        return self.store

    def _remote_token(self) -> str:
        token = registry_token(self._token)
        if not token:
            raise AuthError(
                f"writing to registry server {self.source} needs a token: pass --token or set "
                "ZOO_TOKEN (the server's admin creates one with: zoo token add NAME)"
            )
        return token

    def publish(
        self,
        path: str | os.PathLike[str],
        *,
        model_id: str | None = None,
        card: ZooCard | None = None,
        version: str | None = None,
        compatibility: Compatibility | None = None,
        check_compatibility: bool = True,
        allow_placeholders: bool = False,
    ) -> PublishResult:
        """Validate and publish a package; nothing is written when it is refused.

        ``card`` attaches a card to a package that has none (or replaces it); ``model_id``
        defaults to the slug of the package name, ``version`` to the package's version.
        The version's compatibility report is ``compatibility`` (what an HTTP client
        computed before its upload), else computed here unless ``check_compatibility`` is
        false (:mod:`zoo.compatibility`). Placeholder metadata is refused unless
        ``allow_placeholders`` (a server is asked to allow it too).
        """
        if isinstance(self.store, HttpStore):
            return self._publish_remote(
                self.store, path, model_id, card, version, allow_placeholders
            )
        store = self._writable()
        package = load_package(path)
        with private_tempdir("publish") as tmp_name:
            zip_path = Path(path)
            if card is not None or not zipfile_path(zip_path):
                card = keep_placeholders(card, package.card)
                descr = package.descr if card is None else with_card(package.descr, card)
                zip_path = save_package(descr, Path(tmp_name) / "package.zip")
                package = load_package(zip_path)
            tests = check_publishable(package, allow_placeholders=allow_placeholders)
            mid = _validate_id(slugify(package.name) if model_id is None else model_id)
            ver = str(package.descr.version or "") if version is None else version
            parse_version(ver)
            sha = sha256_file(zip_path)
            # a version already in the index ends below as a no-op or a refusal (versions are
            # never removed), so its report would be thrown away: computed for new ones only
            known = store.read_index().models.get(mid, ModelEntry()).versions.get(ver)
            if compatibility is None and check_compatibility and known is None:
                from zoo.compatibility import compatibility_report

                compatibility = compatibility_report(package, zip_path, tests=tests)
            with store.transaction() as index:
                existing = index.models.get(mid, ModelEntry()).versions.get(ver)
                if existing is not None:
                    if existing.sha256 == sha:
                        return PublishResult(mid, ver, existing, created=False)
                    raise RegistryError(
                        f"{mid}@{ver} is already published with other bytes "
                        f"(sha256 {existing.sha256[:12]}…); versions are immutable: "
                        "publish a new version"
                    )
                location = store.put_blob(zip_path, sha)
                entry = VersionEntry(
                    sha256=sha,
                    size=zip_path.stat().st_size,
                    location=location,
                    created=now(),
                    summary=summarize(package.descr, package.card),
                    compatibility=compatibility,
                )
                index.models.setdefault(mid, ModelEntry()).versions[ver] = entry
        logger.info("published %s@%s (%s)", mid, ver, sha[:12])
        return PublishResult(mid, ver, entry, created=True)

    def _publish_remote(
        self,
        store: HttpStore,
        path: str | os.PathLike[str],
        model_id: str | None,
        card: ZooCard | None,
        version: str | None,
        allow_placeholders: bool = False,
    ) -> PublishResult:
        """Upload the package zip (a folder or a new card is zipped here first); the server
        validates it and publishes or refuses it as :meth:`publish` does locally."""
        token = self._remote_token()
        if model_id is not None:
            _validate_id(model_id)
        if version is not None:
            parse_version(version)
        with private_tempdir("publish") as tmp_name:
            zip_path = Path(path)
            if card is not None or not zipfile_path(zip_path):
                package = load_package(path)
                card = keep_placeholders(card, package.card)
                descr = package.descr if card is None else with_card(package.descr, card)
                zip_path = save_package(descr, Path(tmp_name) / "package.zip")
            from zoo.compatibility import compatibility_report

            report = compatibility_report(load_package(zip_path), zip_path)
            data = store.publish(
                zip_path,
                token=token,
                model_id=model_id,
                version=version,
                compatibility=report,
                allow_placeholders=allow_placeholders,
            )
        entry = VersionEntry.model_validate(data["entry"])
        logger.info("published %s@%s to %s", data["id"], data["version"], self.source)
        return PublishResult(data["id"], data["version"], entry, created=bool(data["created"]))

    def yank(self, ref: str, reason: str) -> VersionEntry:
        """Mark ``ID@VERSION`` as yanked; it stays fetchable when pinned."""
        model_id, version = parse_ref(ref)
        if version is None:
            raise SpecError(f"yank needs an exact version: {model_id}@VERSION")
        if not reason.strip():
            raise SpecError("yank needs a reason (--reason …)")
        if isinstance(self.store, HttpStore):
            data = self.store.yank(model_id, version, reason, token=self._remote_token())
            return VersionEntry.model_validate(data["entry"])
        store = self._writable()
        with store.transaction() as index:
            entry = index.models.get(model_id, ModelEntry()).versions.get(version)
            if entry is None:
                raise ModelNotFoundError(f"no {model_id}@{version} in registry {self.source}")
            entry.yanked, entry.yank_reason = True, reason
        return entry

    def iter_entries(self) -> Iterator[tuple[str, str, VersionEntry]]:
        """Every (id, version, entry) of the registry."""
        for model_id, model in sorted(self.index().models.items()):
            for version, entry in model.versions.items():
                yield model_id, version, entry


def fetch(
    ref: str, *, registry: str | os.PathLike[str] | None = None, cache: Path | None = None
) -> Path:
    """The local path of the verified package zip for ``ID[@VERSION]`` (see
    :meth:`Registry.fetch`); ``registry`` and ``cache`` are those of :class:`Registry`."""
    return Registry(registry, cache=cache).fetch(ref)


def zipfile_path(path: Path) -> bool:
    """True for a zip file (a folder or an rdf.yaml is re-zipped before publishing)."""
    import zipfile

    return path.is_file() and zipfile.is_zipfile(path)
