"""Domain-check benchmark: how often is a warning right? Measures and calibrates the check.

    python scripts/bench_domain.py [--quick] [--no-calibrate] [--write] [--json FILE]
    python scripts/bench_domain.py --loso   (every published model, leave-one-source-out;
                                             fits the verdict's learned score)
    python scripts/bench_domain.py --reading  (fits the family reading on the training
                                               split: zoo/families.json; run before --loso)

Runs the zoo's own models on real images with a clean target and sets each pair's outcome
against what ``zoo check`` says before inference (zoo_bench.domain; docs/domain-benchmark.md
describes the method). Prints the held-out numbers; ``--write`` writes
docs/domain-benchmark.md (+ SVG plots and the values it was rendered from) and the calibrated
thresholds with their provenance to zoo/calibration.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo_bench.domain.benchmark import REPO, run, summary, write, write_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two models, a few images")
    parser.add_argument("--no-calibrate", action="store_true", help="judge the shipped thresholds")
    parser.add_argument("--write", action="store_true", help="write docs/ and zoo/calibration.json")
    parser.add_argument("--json", type=Path, help="write the numbers and every pair here")
    parser.add_argument("--models", nargs="+", help="only these models (no --write)")
    parser.add_argument(
        "--loso",
        action="store_true",
        help="every published model, the learned score and the thresholds fitted "
        "leave-one-source-out: writes docs/domain-loso.md and docs/domain-loso.json, and the "
        "learned score fitted on every source to zoo/learned.json (zoo's verdict)",
    )
    parser.add_argument(
        "--reading",
        action="store_true",
        help="fit the family reading on the training split's windows: writes zoo/families.json",
    )
    args = parser.parse_args()
    if args.reading:
        from zoo_bench.domain import reading

        fitted = reading.fit_reading(reading.windows())
        reading.write(fitted)
        print({k: fitted[k] for k in ("light_below", "dark_above", "windows")})
        return 0
    if args.loso:
        from zoo_bench.domain.benchmark import run_loso

        print(run_loso())
        return 0
    if args.write and (args.quick or args.models):
        parser.error("--write needs the full benchmark (no --quick, no --models)")
    result, pairs, thresholds = run(
        quick=args.quick, calibrate_=not args.no_calibrate, models=args.models
    )
    print("\n".join(summary(result)))
    if args.json:
        write_json(args.json, result, pairs)
    if args.write:
        doc, calibration = write(result, pairs, thresholds)
        print(f"wrote {doc.relative_to(REPO)} and {calibration.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
