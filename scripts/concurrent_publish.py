"""Concurrency: many processes publishing into one registry, and fetching into one cache
(the harness: :mod:`zoo_bench.reliability.concurrency`).

    python scripts/concurrent_publish.py [--procs 8] [--versions 50] [--fetchers 8] [--json FILE]
"""

import sys

from zoo_bench.reliability.concurrency import main

if __name__ == "__main__":
    sys.exit(main())
