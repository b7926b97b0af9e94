"""Fault injection: publishers killed with SIGKILL at random moments, the registry checked
after every kill (the harness: :mod:`zoo_bench.reliability.fault`).

    python scripts/fault_publish.py [--kills 200] [--pad-mb 1] [--seed 0] [--json FILE]
"""

import sys

from zoo_bench.reliability.fault import main

if __name__ == "__main__":
    sys.exit(main())
