"""Registry storage: ``index.json`` plus content-addressed package blobs.

:class:`LocalStore` writes through fsspec (a directory today, S3-compatible storage with the
same code): blobs go to a temporary name, are verified, then renamed; the index is rewritten
atomically under a lock. :class:`HttpStore` reads a registry served over HTTP (``zoo serve``
or any static host: ``{root}/index.json`` and ``{root}/{location}``) and publishes and yanks
through the API of ``zoo serve`` (``{root}/api/v1/…``) with a bearer token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol, TypedDict, cast

from pydantic import ValidationError

from zoo.errors import AuthError, IntegrityError, RegistryError, SpecError
from zoo.hashes import sha256_bytes, sha256_file
from zoo.index import Compatibility, Index

__all__ = ["HttpStore", "LocalStore", "PublishAnswer", "Store", "YankAnswer", "open_store"]

logger = logging.getLogger(__name__)

INDEX = "index.json"
BLOBS = "models"
LOCK = ".index.lock"
COMPATIBILITY_HEADER = "X-Zoo-Compatibility"
"""Header of a publish upload carrying the compatibility report the client computed (JSON
of :class:`~zoo.index.Compatibility`, ASCII)."""


class YankAnswer(TypedDict):
    """The JSON answer of a ``zoo serve`` yank (``zoo.server.api.YankOut``)."""

    id: str
    version: str
    entry: dict[str, Any]
    """The version's index entry (:class:`~zoo.index.VersionEntry` as JSON)."""


class PublishAnswer(YankAnswer):
    """The JSON answer of a ``zoo serve`` publish (``zoo.server.api.PublishOut``)."""

    created: bool
    """False when identical bytes were published already."""


class Store(Protocol):
    """What a registry needs from its storage."""

    root: str

    def read_index(self) -> Index: ...

    def read_blob(self, location: str) -> Iterator[bytes]: ...


def _parse_index(raw: bytes, where: str) -> Index:
    try:
        return Index.model_validate_json(raw)
    except ValidationError as exc:
        raise SpecError(f"{where} is not a valid zoo index: {exc}") from exc


def blob_location(sha256: str) -> str:
    """Where a blob lives, relative to the registry root."""
    return f"{BLOBS}/{sha256}.zip"


class LocalStore:
    """A writable registry on an fsspec filesystem (a local directory by default)."""

    def __init__(self, root: str) -> None:
        import fsspec

        self.root = root
        self.fs, self.path = fsspec.core.url_to_fs(root)
        self._local = "file" in self.fs.protocol or self.fs.protocol == "file"
        self._cached: tuple[tuple[object, ...], Index] | None = None

    @property
    def local(self) -> bool:
        """Whether the registry is a folder on this machine (else remote fsspec storage)."""
        return self._local

    def _p(self, rel: str) -> str:
        return f"{self.path.rstrip('/')}/{rel}"

    def read_index(self, *, fresh: bool = False) -> Index:
        """The index, parsed again only when index.json changed (size, mtime, inode) since
        the last read — a 100k-version index takes seconds to validate. The cached object
        is shared: treat it as read-only (``fresh`` parses a private copy to change)."""
        path = self._p(INDEX)
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return Index()
        stamp = (info.get("size"), info.get("mtime"), info.get("ino"))
        if not fresh and self._cached is not None and self._cached[0] == stamp:
            return self._cached[1]
        index = _parse_index(self.fs.cat_file(path), path)
        if not fresh and stamp[1] is not None:
            self._cached = (stamp, index)
        return index

    def read_blob(self, location: str) -> Iterator[bytes]:
        with self.fs.open(self._p(location), "rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    def open_blob(self, location: str) -> IO[bytes]:
        """A seekable binary file object of the blob at ``location`` (for ranges and zips)."""
        return self.fs.open(self._p(location), "rb")  # type: ignore[no-any-return]

    def has_blob(self, sha256: str) -> bool:
        return self.fs.exists(self._p(blob_location(sha256)))

    def put_blob(self, source: Path, sha256: str) -> str:
        """Copy ``source`` in as the blob ``sha256``: temp name → verify → rename."""
        location = blob_location(sha256)
        final = self._p(location)
        if self.fs.exists(final):
            return location
        self.fs.makedirs(self._p(BLOBS), exist_ok=True)
        tmp = self._p(f"{BLOBS}/.{sha256}.{uuid.uuid4().hex}.tmp")
        try:
            self.fs.put_file(str(source), tmp)
            written = sha256_bytes(self.fs.cat_file(tmp))
            if written != sha256:
                raise IntegrityError(
                    f"blob written to {tmp} has sha256 {written}, expected {sha256}; "
                    "the storage corrupted it, nothing was published"
                )
            self.fs.mv(tmp, final)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm_file(tmp)
        return location

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Index]:
        """Lock, read the index, let the caller change it, write it back atomically."""
        with self._lock():
            self._sweep()
            index = self.read_index(fresh=True)
            yield index
            self._write_index(index)

    def _sweep(self) -> None:
        """Remove the temporary files of a writer that was killed mid-write. Temporary files
        are only written under the lock, so none of them belongs to a live writer."""
        if not self._local:
            return
        root = Path(self.path)
        for tmp in [*root.glob(f".{INDEX}.*.tmp"), *(root / BLOBS).glob(".*.tmp")]:
            logger.info("removing %s, left by an interrupted write", tmp)
            tmp.unlink(missing_ok=True)

    def _write_index(self, index: Index) -> None:
        data = index.to_json().encode()
        tmp = self._p(f".{INDEX}.{uuid.uuid4().hex}.tmp")
        try:
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, self._p(INDEX))
        finally:
            if self.fs.exists(tmp):
                self.fs.rm_file(tmp)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        if not self._local:  # object stores: one writer (the server) serialises publishes
            yield
            return
        from filelock import FileLock

        Path(self.path).mkdir(parents=True, exist_ok=True)
        with FileLock(str(Path(self.path) / LOCK), timeout=60):
            yield


class HttpStore:
    """A registry over HTTP: reads ``{root}/index.json`` and ``{root}/{location}``; publishes
    and yanks through ``zoo serve``'s API with a bearer token."""

    def __init__(self, root: str, *, timeout: float = 30.0) -> None:
        self.root = root.rstrip("/")
        self.timeout = timeout

    def read_index(self) -> Index:
        import httpx

        url = f"{self.root}/{INDEX}"
        response = httpx.get(url, timeout=self.timeout, follow_redirects=True)
        if response.status_code != 200:
            raise RegistryError(f"GET {url} answered {response.status_code}")
        return _parse_index(response.content, url)

    def read_blob(self, location: str) -> Iterator[bytes]:
        import httpx

        url = f"{self.root}/{location}"
        with httpx.stream("GET", url, timeout=self.timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise RegistryError(f"GET {url} answered {response.status_code}")
            yield from response.iter_bytes(1 << 20)

    # -- the write API of ``zoo serve`` -------------------------------------------------------
    def publish(
        self,
        zip_path: Path,
        *,
        token: str,
        model_id: str | None,
        version: str | None,
        compatibility: Compatibility | None = None,
        allow_placeholders: bool = False,
    ) -> PublishAnswer:
        """Upload a package zip; the server validates it as a local publish does, and
        stores ``compatibility`` (the report this client computed) with the version.
        ``allow_placeholders`` asks it to accept placeholder metadata."""
        import httpx

        url = f"{self.root}/api/v1/publish"
        params = {k: v for k, v in (("id", model_id), ("version", version)) if v}
        if allow_placeholders:
            params["allow_placeholders"] = "true"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"}
        if compatibility is not None:  # ASCII JSON on one line: a valid header value
            report = compatibility.model_dump(mode="json")
            headers[COMPATIBILITY_HEADER] = json.dumps(report, ensure_ascii=True)
        timeout = httpx.Timeout(self.timeout, read=max(self.timeout, 900.0))
        try:
            with zip_path.open("rb") as fh:
                response = httpx.post(
                    url, params=params, content=fh, headers=headers, timeout=timeout
                )
        except httpx.TransportError as exc:
            raise RegistryError(f"cannot reach registry server {self.root} ({exc})") from exc
        return cast(PublishAnswer, _api_result(response, "POST", url))

    def yank(self, model_id: str, version: str, reason: str, *, token: str) -> YankAnswer:
        """Yank ``model_id@version`` on the server."""
        import httpx

        url = f"{self.root}/api/v1/models/{model_id}/{version}/yank"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            response = httpx.post(
                url, json={"reason": reason}, headers=headers, timeout=self.timeout
            )
        except httpx.TransportError as exc:
            raise RegistryError(f"cannot reach registry server {self.root} ({exc})") from exc
        return cast(YankAnswer, _api_result(response, "POST", url))


def _api_result(response: Any, method: str, url: str) -> dict[str, Any]:
    """The JSON body of a successful API call (as sent: the callers say which record it
    is), or the zoo error the server's answer means."""
    try:
        body = response.json()
    except ValueError:
        body = None
    ours = isinstance(body, dict) and "error" in body and "detail" in body
    if response.status_code in (200, 201) and isinstance(body, dict):
        return body
    detail = body["detail"] if ours else response.text[:200].strip()
    status = response.status_code
    if status == 401:
        raise AuthError(
            f"{method} {url} needs a token: pass --token or set ZOO_TOKEN (the server's admin "
            "creates one with: zoo token add NAME)"
        )
    if status == 403:
        raise AuthError(f"{method} {url} refused the token ({detail}); ask for a new one")
    if not ours and status in (404, 405, 501):
        raise RegistryError(
            f"{method} {url} answered {status}: this registry does not accept uploads "
            "(a static site or a plain file server?); publish to a `zoo serve` server or "
            "into a directory"
        )
    if not ours:
        raise RegistryError(f"{method} {url} answered {status}: {detail}")
    from zoo import errors

    error = getattr(errors, str(body["error"]), None)
    if not (isinstance(error, type) and issubclass(error, errors.ZooError)):
        error = RegistryError
    raise error(f"the registry server refused it ({status}): {detail}")


def open_store(source: str) -> LocalStore | HttpStore:
    """A store for a directory / fsspec URL, or an HTTP one for http(s) URLs."""
    if source.startswith(("http://", "https://")):
        return HttpStore(source)
    return LocalStore(source)


def verify_file(path: Path, sha256: str) -> bool:
    """True when the file exists and has the expected sha256."""
    return path.is_file() and sha256_file(path) == sha256
