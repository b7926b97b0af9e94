"""Bearer tokens of a registry server, stored hashed in a JSON file.

Only the sha256 of a token is stored (tokens are 256 random bits, so a plain hash is as
good as a slow one); the token itself is shown once, by ``zoo token add``. The file is
changed under a file lock and rewritten atomically, and read again on every check, so a
revoked token stops working without restarting the server.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from zoo.errors import RegistryError, SpecError
from zoo.files import atomic_path
from zoo.hashes import sha256_bytes
from zoo.index import now

__all__ = ["TOKENS_FILE", "TokenRecord", "TokenStore", "default_tokens_path"]

TOKENS_FILE = ".tokens.json"
"""The token file's name inside a registry folder."""
TOKEN_PREFIX = "zoo_"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"


class TokenRecord(BaseModel):
    """One token: who it is for, the sha256 of the token, when it was made."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str
    """Who or what holds it, e.g. "alice" or "ci-publisher"."""
    sha256: str
    """sha256 (hex) of the token; the token itself is never stored."""
    created: datetime
    """When it was made (UTC)."""


class _TokenFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: str = "1"
    tokens: list[TokenRecord] = []


def default_tokens_path(registry: str) -> Path:
    """``<registry>/.tokens.json`` for a local registry folder; other storage needs --tokens."""
    if "://" in registry and not registry.startswith("file://"):
        raise RegistryError(
            f"registry {registry} is not a local folder: give the token file with --tokens FILE"
        )
    return Path(registry.removeprefix("file://")) / TOKENS_FILE


class TokenStore:
    """The tokens in one JSON file (created by the first :meth:`add`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _read(self) -> _TokenFile:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return _TokenFile()
        try:
            return _TokenFile.model_validate_json(raw)
        except ValidationError as exc:
            raise RegistryError(f"token file {self.path} is corrupt: {exc}") from exc

    @contextmanager
    def _change(self) -> Iterator[_TokenFile]:
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=30):
            data = self._read()
            yield data
            with atomic_path(self.path) as tmp:
                tmp.write_text(data.model_dump_json(indent=2) + "\n")
            self.path.chmod(0o600)  # hashes only, still nobody else's business

    def add(self, name: str) -> tuple[str, TokenRecord]:
        """Make a token for ``name``; return it (shown once, never stored) and its record."""
        if not re.fullmatch(NAME_PATTERN, name):
            raise SpecError(
                f"invalid token name {name[:80]!r}: expected letters, digits and . _ @ -, "
                "at most 64 characters, e.g. alice or ci-publisher"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(name=name, sha256=sha256_bytes(token.encode()), created=now())
        with self._change() as data:
            if any(r.name == name for r in data.tokens):
                raise RegistryError(
                    f"a token named {name!r} exists already; revoke it first "
                    f"(zoo token revoke {name}) or choose another name"
                )
            data.tokens.append(record)
        return token, record

    def records(self) -> list[TokenRecord]:
        """Every token record (hashes only), oldest first."""
        return sorted(self._read().tokens, key=lambda r: r.created)

    def revoke(self, name: str) -> TokenRecord:
        """Remove the token named ``name``; it stops working at once."""
        with self._change() as data:
            found = [r for r in data.tokens if r.name == name]
            if not found:
                known = ", ".join(r.name for r in data.tokens) or "none"
                raise RegistryError(f"no token named {name!r} (tokens: {known})")
            data.tokens = [r for r in data.tokens if r.name != name]
        return found[0]

    def verify(self, token: str) -> TokenRecord | None:
        """The record of ``token``, or None when it is unknown (compared in constant time)."""
        digest = sha256_bytes(token.encode())
        match = None
        for record in self._read().tokens:
            if hmac.compare_digest(record.sha256, digest):
                match = record
        return match
