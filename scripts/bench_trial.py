"""The no-reference trial against the truth on SPLITS.md's held-out pairs (docs/trial.json).

Run: python scripts/bench_trial.py   (about 10 minutes on 2 cores; needs ../shared/data and
the baselines cache of scripts/score_heldout.py, built on first use)
"""

from zoo_bench.trial import main

if __name__ == "__main__":
    print(main())
