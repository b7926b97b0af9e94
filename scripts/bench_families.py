"""The domain check across modality families: every published model against every held-out
image of SPLITS.md (and its 8-bit export), from the pixels alone and with the modality given.

Run: python scripts/bench_families.py   (writes docs/families.json and its table in
docs/domain-check.md; a few minutes on 2 cores)
"""

from zoo_bench.families import run

if __name__ == "__main__":
    print(run())
