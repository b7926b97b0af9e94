"""``zoo adapt`` on SPLITS.md's held-out fluorescence pairs (docs/adapt.json; resumable).

Run: python scripts/bench_adapt.py [SET ...]   (10-20 minutes a pair on 2 cores)
"""

import sys

from zoo_bench.adapt import SETS, run

if __name__ == "__main__":
    print(run(tuple(sys.argv[1:]) or SETS))
