"""schemas/ is generated from the models and must not go stale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from zoo.schemas import all_schemas, stale_schemas, write_schemas

REPO = Path(__file__).resolve().parents[1]


def test_schemas_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_schemas.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_check_detects_a_stale_schema(tmp_path: Path) -> None:
    assert stale_schemas(tmp_path) == sorted(all_schemas())
    assert sorted(p.name for p in write_schemas(tmp_path)) == sorted(all_schemas())
    assert stale_schemas(tmp_path) == []
    (tmp_path / "card.schema.json").write_text("{}\n")
    assert stale_schemas(tmp_path) == ["card.schema.json"]


def test_card_schema_forbids_unknown_keys() -> None:
    schema = all_schemas()["card.schema.json"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"domain", "noise", "method", "training_data", "validation"}
    on_disk = json.loads((REPO / "schemas" / "card.schema.json").read_text())
    assert on_disk == json.loads(json.dumps(schema))
