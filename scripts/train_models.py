"""Train, validate, package and publish zoo's own denoisers into the embedded registry.

    python scripts/train_models.py [--only ID ...] [--reuse] [--no-publish] [--docs-only]
    python scripts/train_models.py --leave-out SOURCE [--train-only] [--steps N]

Every model of zoo_bench.training (its recipe and card: zoo_bench/training/models/ID.yaml) is
trained from the real images in ../shared/data (read there, never copied into the
repository; see its MANIFEST.md), validated on held-out images of its own domain against the
noisy input, the best-sigma Gaussian filter and BM3D, packaged with a full card (fingerprint
of the training images included) and a synthetic example, and published into models/ +
index.json. docs/models.md is regenerated from the cards of the embedded registry and from
docs/models-runs.json (the numbers of the reproduction runs and of the experiments not
published, updated from build/repro and build/train whenever they hold a run).

Training output (weights.pt + training.json per model) goes to build/train/ID; ``--reuse``
packages an existing one instead of training again. Training is seeded: a rerun on the same
torch build and thread count gives the same weights.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from zoo_bench.training.doc import write_docs
from zoo_bench.training.package import WORK, run
from zoo_bench.training.specs import (
    EXPERIMENTS,
    LEAVE_OUT,
    MODELS,
    leave_one_out,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="model ids to build (default: all)")
    parser.add_argument("--reuse", action="store_true", help="reuse build/train/ID if present")
    parser.add_argument("--no-publish", action="store_true")
    parser.add_argument("--docs-only", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="train and save, nothing else")
    parser.add_argument("--steps", type=int, help="override the steps (smoke test; no publish)")
    parser.add_argument("--work", type=Path, help="training output folder (default build/train)")
    parser.add_argument(
        "--leave-out",
        choices=LEAVE_OUT,
        help="train the fluorescence generalist without this source and score it on that "
        "source's held-out images (no publish; output in build/train/ID-without-SOURCE)",
    )
    args = parser.parse_args()
    if args.leave_out:
        args.only, args.no_publish = [leave_one_out(args.leave_out).id], True
    work = args.work.resolve() if args.work else WORK  # e.g. a reproduction beside the published
    if not args.docs_only:
        chosen = [s for s in MODELS if not args.only or s.id in args.only]
        chosen += [s for s in EXPERIMENTS if args.only and s.id in args.only]
        for spec in chosen:
            if args.steps:
                spec.config = dataclasses.replace(spec.config, steps=args.steps, val_every=5)
                args.no_publish = True
            out = run(
                spec,
                reuse=args.reuse,
                publish=not args.no_publish,
                train_only=args.train_only,
                work=work,
            )
            print(f"   {out['id']}: {out['size_mb']:.1f} MB, {out['seconds']:.0f} s")
    print(write_docs(work))


if __name__ == "__main__":
    main()
