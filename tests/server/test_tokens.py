"""Tokens: stored hashed, shown once, revocable, managed by `zoo token`."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoo.cli import app as cli
from zoo.errors import RegistryError, SpecError
from zoo.server.tokens import TokenStore, default_tokens_path


def test_token_store_keeps_only_hashes(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "reg" / ".tokens.json")
    token, record = store.add("alice")
    text = store.path.read_text()
    assert token not in text and record.sha256 in text
    assert record.sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.verify(token) == record
    assert store.verify(token + "x") is None and store.verify("") is None
    other, _ = store.add("ci-publisher")
    assert other != token and [r.name for r in store.records()] == ["alice", "ci-publisher"]
    with pytest.raises(RegistryError, match="exists already"):
        store.add("alice")
    with pytest.raises(SpecError, match="invalid token name"):
        store.add("no spaces please")
    store.revoke("alice")
    assert store.verify(token) is None and store.verify(other) is not None
    with pytest.raises(RegistryError, match=r"no token named 'alice' \(tokens: ci-publisher\)"):
        store.revoke("alice")


def test_corrupt_token_file_is_an_error_not_an_open_door(tmp_path: Path) -> None:
    path = tmp_path / ".tokens.json"
    path.write_text("{not json")
    with pytest.raises(RegistryError, match="corrupt"):
        TokenStore(path).verify("zoo_anything")
    with pytest.raises(RegistryError, match="corrupt"):
        TokenStore(path).add("alice")
    assert path.read_text() == "{not json"


def test_tokens_of_remote_storage_need_an_explicit_file() -> None:
    assert default_tokens_path("/srv/zoo") == Path("/srv/zoo/.tokens.json")
    with pytest.raises(RegistryError, match="--tokens FILE"):
        default_tokens_path("s3://bucket/zoo")


def test_token_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    reg = ["--registry", str(tmp_path / "reg")]
    added = runner.invoke(cli, ["token", "add", "alice", *reg])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("zoo_") and "shown only now" in added.stderr
    listed = runner.invoke(cli, ["token", "list", *reg])
    assert "alice" in listed.output and token not in listed.output
    rows = json.loads(runner.invoke(cli, ["token", "list", "--json", *reg]).output)
    assert [r["name"] for r in rows] == ["alice"] and "sha256" in rows[0]
    assert runner.invoke(cli, ["token", "add", "alice", *reg]).exit_code == 2
    revoked = runner.invoke(cli, ["token", "revoke", "alice", *reg])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    gone = runner.invoke(cli, ["token", "revoke", "alice", *reg])
    assert gone.exit_code == 2 and "no token named 'alice'" in gone.output
    explicit = tmp_path / "elsewhere.json"
    assert runner.invoke(cli, ["token", "add", "bob", "--tokens", str(explicit)]).exit_code == 0
    assert [r.name for r in TokenStore(explicit).records()] == ["bob"]
