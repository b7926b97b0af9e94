"""Generate the JSON Schemas in schemas/ from zoo's pydantic models.

    python scripts/gen_schemas.py          # write schemas/
    python scripts/gen_schemas.py --check  # exit 1 if schemas/ is stale

tests/test_schemas.py runs the check, so a model change without regenerated schemas fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.schemas import stale_schemas, write_schemas

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if schemas/ is stale")
    args = parser.parse_args()
    if not args.check:
        for path in write_schemas(SCHEMAS):
            print(f"wrote {path}")
        return 0
    stale = stale_schemas(SCHEMAS)
    if stale:
        print(f"stale: {', '.join(stale)}; run: python scripts/gen_schemas.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
