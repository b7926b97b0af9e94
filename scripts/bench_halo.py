"""bioimage.io tools that tile zoo's packages: bioimageio.core's blocked predict with and
without the halo each package declares (benchmarks/zoo_bench/halo.py).

    python scripts/bench_halo.py [--write]   # docs/bioimageio-tiling.json and .md
    python scripts/bench_halo.py --render    # the .md again from the .json
"""

from __future__ import annotations

import argparse
import datetime
import time

from zoo_bench import halo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the run and its page")
    parser.add_argument("--render", action="store_true", help="render the page from the run")
    args = parser.parse_args()
    if args.render:
        print(halo.render_doc())
        return
    start = time.perf_counter()
    rows = halo.run()
    minutes = (time.perf_counter() - start) / 60
    date = datetime.date.today().isoformat()
    print(halo.render(rows, date, minutes))
    if args.write:
        print(halo.write(rows, date, minutes))


if __name__ == "__main__":
    main()
