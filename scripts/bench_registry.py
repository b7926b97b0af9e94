"""Registry speed at scale: a 100k-version index, search, fetch by id and start-up
(the benchmark itself: zoo_bench.registry).

    python scripts/bench_registry.py [--models 10000] [--versions 10] [--repeat 3]
        [--startup-repeat 5] [--write docs/performance.md]
"""

from zoo_bench.registry import main

if __name__ == "__main__":
    main()
