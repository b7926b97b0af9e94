"""Soak: a bounded mixed load against a real ``zoo serve`` on loopback; zero errors, flat
memory (the harness: :mod:`zoo_bench.reliability.soak`).

    python scripts/soak_serve.py [--seconds 60] [--clients 4] [--json FILE]
"""

import sys

from zoo_bench.reliability.soak import main

if __name__ == "__main__":
    sys.exit(main())
