"""Package downloads: content-addressed, so the sha256 is the ETag; single byte ranges.

A package is immutable, so the response carries a strong ETag (the sha256), the sha256 as
``X-Checksum-Sha256`` (hex) and ``Repr-Digest`` (RFC 9530), and may be cached for a year.
``If-None-Match`` answers 304; one ``Range: bytes=…`` answers 206 (several ranges, or a
malformed header, get the whole file, as RFC 9110 allows); a range past the end answers 416.
A package of at most :attr:`BlobCache.max_item` bytes is kept in memory once read (an LRU
bounded in bytes; safe because a blob never changes under its sha256) and answered in one
write; a larger one is streamed from the store (a folder or any fsspec storage) in 1 MiB
chunks.
"""

from __future__ import annotations

import base64
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from zoo.index import VersionEntry

__all__ = ["BlobCache", "blob_response", "parse_range"]

CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    """The requested range starts past the end of the file."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for one byte range; None for the whole file.

    Raises :class:`RangeNotSatisfiable` when the range lies outside the file.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match or match.groups() == ("", ""):
        return None  # malformed or several ranges: send everything
    first, last = match.groups()
    if first == "":  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # invalid: ignore it
    if start >= size:
        raise RangeNotSatisfiable
    return start, end


class BlobCache:
    """Package bytes by sha256, least recently used dropped first, ``max_bytes`` in all.

    Only blobs of at most ``max_item`` bytes are kept; a blob never changes under its
    sha256, so a kept one is never stale.
    """

    def __init__(self, max_bytes: int = 256 << 20, max_item: int = 32 << 20) -> None:
        self.max_bytes, self.max_item = max_bytes, min(max_item, max_bytes)
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # handlers run in worker threads on remote storage

    def get(self, store: Any, entry: VersionEntry) -> bytes | None:
        """The blob's bytes (read and kept on a miss), or None when it is too large to keep."""
        if entry.size > self.max_item:
            return None
        with self._lock:
            data = self._items.get(entry.sha256)
            if data is not None:
                self._items.move_to_end(entry.sha256)
                return data
        with store.open_blob(entry.location) as fh:
            data = fh.read()
        if len(data) != entry.size:  # the index and the store disagree: do not keep it
            return None
        with self._lock:
            if entry.sha256 not in self._items:
                self._items[entry.sha256] = data
                self._size += len(data)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)
        return data

    def __len__(self) -> int:
        return len(self._items)


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",")}


def _iter(store: Any, location: str, start: int, length: int) -> Iterator[bytes]:
    with store.open_blob(location) as fh:
        fh.seek(start)
        left = length
        while left > 0:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def blob_response(
    request: Request,
    store: Any,
    entry: VersionEntry,
    *,
    filename: str | None = None,
    cache: BlobCache | None = None,
) -> Response:
    """The response to GET or HEAD of a package zip, honouring If-None-Match and Range; from
    ``cache`` when it holds (or can keep) the blob, else streamed from the store."""
    etag = f'"{entry.sha256}"'
    digest = base64.b64encode(bytes.fromhex(entry.sha256)).decode()
    headers = {
        "ETag": etag,
        "X-Checksum-Sha256": entry.sha256,
        "Repr-Digest": f"sha-256=:{digest}:",
        "Accept-Ranges": "bytes",
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    match = request.headers.get("if-none-match")
    if match and (match.strip() == "*" or etag in _etags(match)):
        return Response(status_code=304, headers=headers)
    size, status = entry.size, 200
    start, end = 0, size - 1
    if_range = request.headers.get("if-range")
    if if_range is None or if_range.strip() == etag:
        try:
            wanted = parse_range(request.headers.get("range"), size)
        except RangeNotSatisfiable:
            headers["Content-Range"] = f"bytes */{size}"
            return Response(status_code=416, headers=headers)
        if wanted is not None:
            (start, end), status = wanted, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type="application/zip")
    data = cache.get(store, entry) if cache is not None else None
    if data is not None:
        body = data if (start, length) == (0, len(data)) else data[start : start + length]
        return Response(body, status_code=status, headers=headers, media_type="application/zip")
    return StreamingResponse(
        _iter(store, entry.location, start, length),
        status_code=status,
        headers=headers,
        media_type="application/zip",
    )
