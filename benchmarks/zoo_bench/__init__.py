"""zoo's benchmarks, harnesses and training recipes: importable by scripts/ and tests/, never
shipped in zoo's wheel (a distribution of its own, ``benchmarks/pyproject.toml``)."""
