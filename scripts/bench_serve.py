"""Server throughput: GET/s and latency of a real ``zoo serve`` under concurrent clients
(the benchmark itself: zoo_bench.serve_load).

    python scripts/bench_serve.py [--models 250] [--versions 4] [--clients 8] [--workers 1]
        [--requests 20000] [--alone 3000] [--seconds 60] [--mix KIND=W,…] [--package ZIP]
        [--write docs/performance.md]
"""

import sys

from zoo_bench.serve_load import main

if __name__ == "__main__":
    sys.exit(main())
