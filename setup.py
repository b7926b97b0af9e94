"""Build hook: the embedded registry travels with the wheel.

The repository's ``index.json`` and ``models/`` (the embedded default registry) stay at the
root of the checkout, where ``scripts/build_example.py`` publishes into them; a built wheel
carries a copy as ``zoo/_registry/`` (``zoo.config.EMBEDDED_REGISTRY`` prefers it), so that
``pip install .`` gives the same registry as an editable checkout. The sdist carries them
through ``MANIFEST.in``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGED = ("zoo", "_registry")
"""Where the copy goes inside the built package (zoo/_registry/)."""


class BuildWithRegistry(build_py):
    """``build_py`` that also copies ``index.json`` and ``models/*.zip`` into the build."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's registry in place
        index = ROOT / "index.json"
        if not index.is_file():
            raise SystemExit(f"no embedded registry to package: {index} is missing")
        target = Path(self.build_lib).joinpath(*PACKAGED)
        (target / "models").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(index, target / "index.json")
        for blob in sorted((ROOT / "models").glob("*.zip")):
            shutil.copyfile(blob, target / "models" / blob.name)


setup(cmdclass={"build_py": BuildWithRegistry})
