"""schemas/ is generated from the models and must not go stale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from zoo.schemas import all_schemas

REPO = Path(__file__).resolve().parents[1]


def test_schemas_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_schemas.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_check_detects_a_stale_schema(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import gen_schemas
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(gen_schemas, "SCHEMAS", tmp_path)
    monkeypatch.setattr(sys, "argv", ["gen_schemas.py"])
    assert gen_schemas.main() == 0
    (tmp_path / "card.schema.json").write_text("{}\n")
    monkeypatch.setattr(sys, "argv", ["gen_schemas.py", "--check"])
    assert gen_schemas.main() == 1


def test_card_schema_forbids_unknown_keys() -> None:
    schema = all_schemas()["card.schema.json"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"domain", "noise", "method", "training_data", "validation"}
    on_disk = json.loads((REPO / "schemas" / "card.schema.json").read_text())
    assert on_disk == json.loads(json.dumps(schema))
