"""Generate the JSON Schemas in schemas/ from zoo's pydantic models.

    python scripts/gen_schemas.py          # write schemas/
    python scripts/gen_schemas.py --check  # exit 1 if schemas/ is stale

tests/test_schemas.py runs the check, so a model change without regenerated schemas fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zoo.schemas import all_schemas

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if schemas/ is stale")
    args = parser.parse_args()
    stale = []
    for name, schema in all_schemas().items():
        path = SCHEMAS / name
        text = render(schema)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            SCHEMAS.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run: python scripts/gen_schemas.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
