"""The ``zoo`` command line. Each module registers its commands on one typer app.

Exit codes: 0 success; 1 the thing checked is invalid (``validate``); 2 a zoo error (bad
input, missing file, …) with its message on standard error; ``check`` adds 3 (caution) and
4 (mismatch), and ``run`` exits 4 when it refuses a mismatch. Heavy libraries are imported
inside the commands so ``zoo --help`` stays fast. For the same reason the command modules
do without ``from __future__ import annotations``: typer would evaluate each string annotation
again, several times per command, whenever it builds the command tree (`zoo --help`).
"""

from __future__ import annotations

import sys

from zoo.cli import package, registry, runner, serve, train  # noqa: F401  (register commands)
from zoo.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
