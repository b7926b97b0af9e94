"""Build the example package n2v-ihc-careamics and publish it into the embedded registry.

Source: the real CAREamics 0.3 N2V checkpoint and the synthetic IHC image in
../shared/data (both made with PyPI packages; the MANIFEST allows committing them). The
card is examples/n2v-ihc-careamics.card.yaml. The package lands in models/ + index.json.

    python scripts/build_example.py [--data ../shared/data] [--version 0.2.0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.registry import Registry
from zoo_bench.training.data import REPO
from zoo_bench.training.example import NAME, build_example


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--version", default="0.2.0")
    args = parser.parse_args()
    result = build_example(args.data, args.version)
    for check in result.checks:
        print(f"{check.format}: max abs error {check.max_abs_error:.2g} vs torch")
    published = Registry(REPO).publish(result.path, model_id=NAME)
    print(f"published {published.id}@{published.version} sha256 {published.entry.sha256}")


if __name__ == "__main__":
    main()
