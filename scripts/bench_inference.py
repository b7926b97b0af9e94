"""Inference throughput and memory: zoo against bioimageio.core and raw ONNX Runtime
(the benchmark itself: zoo_bench.inference).

    python scripts/bench_inference.py [--package ID_OR_PATH ...] [--sizes 512 2048 8192]
        [--repeat 3] [--whole-max 2048] [--methods ...] [--baseline-src DIR]
        [--write docs/performance.md] [--section NAME]

Before and after a change in one run: ``git worktree add /tmp/zoo-before COMMIT``, then
``--baseline-src /tmp/zoo-before`` runs the zoo methods with that checkout's zoo too.
"""

from zoo_bench.inference import main

if __name__ == "__main__":
    main()
