"""Score every published model on the held-out images of ../shared/data/SPLITS.md.

    python scripts/score_heldout.py [--only ID ...]

Writes docs/models-heldout.json (per model, set and image: fitted PSNR and SSIM; the
baselines per image), which docs/models.md's held-out tables are rendered from
(scripts/train_models.py --docs-only). Baselines are cached in build/heldout-baselines.json.
"""

from __future__ import annotations

import argparse

from zoo_bench.heldout import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="model ids (default: every published model)")
    print(main(parser.parse_args().only))
