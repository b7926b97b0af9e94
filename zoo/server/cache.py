"""What ``zoo serve`` derives from the registry's index, kept until the index changes."""

from __future__ import annotations

import gzip

from zoo import errors
from zoo.index import Index, VersionEntry
from zoo.registry import Registry

__all__ = ["IndexCache"]


class IndexCache:
    """The index as JSON bytes (plain and gzipped) and its entries by sha256, per index.

    A local registry parses index.json again only when the file changed on disk (a publish
    or yank rewrites it) and hands out the same :class:`~zoo.index.Index` object until
    then; everything here is keyed on that object, so it is rebuilt on the first request
    after a change. The JSON is encoded when first asked for, the gzip compressed when
    first asked for (``mtime=0``: the same index gives the same bytes). Each result is kept
    with its source as one pair, replaced in one assignment, so a reader in another thread
    never pairs a new index with stale bytes.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._entries: tuple[Index, dict[str, VersionEntry]] | None = None
        self._json: tuple[Index, bytes] | None = None
        self._gzip: tuple[bytes, bytes] | None = None

    def index(self) -> Index:
        """The registry's newest index (shared: treat it as read-only)."""
        return self.registry.index()

    def json(self, *, gzipped: bool = False) -> bytes:
        """The index as served at ``/index.json``; gzip-compressed when ``gzipped``."""
        index = self.registry.index()
        encoded = self._json
        if encoded is None or encoded[0] is not index:
            encoded = self._json = (index, index.to_json().encode())
        if not gzipped:
            return encoded[1]
        packed = self._gzip
        if packed is None or packed[0] is not encoded[1]:
            packed = self._gzip = (encoded[1], gzip.compress(encoded[1], mtime=0))
        return packed[1]

    def entry(self, sha256: str) -> VersionEntry:
        """The version entry of the package with this sha256 (any model, yanked too).

        Raises :class:`~zoo.errors.ModelNotFoundError` when no version has it.
        """
        index = self.registry.index()
        entries = self._entries
        if entries is None or entries[0] is not index:
            by_sha = {e.sha256: e for m in index.models.values() for e in m.versions.values()}
            entries = self._entries = (index, by_sha)
        found = entries[1].get(sha256)
        if found is None:
            raise errors.ModelNotFoundError(f"no package with sha256 {sha256} in this registry")
        return found
