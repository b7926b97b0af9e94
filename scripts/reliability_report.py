"""Write docs/reliability.md from fresh runs: the catalogue of bad inputs with the outcome of
each case, and the figures of fault injection, concurrency and a soak of ``zoo serve`` (the
report: :mod:`zoo_bench.reliability.report`).

    python scripts/reliability_report.py [--quick] [--out FILE]
"""

import sys

from zoo_bench.reliability.report import main

if __name__ == "__main__":
    sys.exit(main())
