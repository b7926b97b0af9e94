"""Publish a new patch version of every live model of the embedded registry whose package
declares no halo: the same files and weights, with the halo zoo's own tiles use declared on
the output's axes (and the input's minimum size raised to leave room for it).

Without a declared halo, a bioimage.io tool that tiles (bioimageio.core's blocked predict, for
one) cuts the image into blocks with no overlap and the result shows the blocks'
seams; with it, the blocks agree with one whole-image pass away from the image's border.
The older version stays published (pinned references keep working); the newer one is what
an unpinned reference gets.

    python scripts/declare_halo.py [--dry-run]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from packaging.version import Version

from zoo.package import Package, load_package, save_package
from zoo.registry import Registry
from zoo.tiling import _step_of, declared_halo, fitting_halo
from zoo_bench.training.data import REPO

NOTE = """

## Changes

- {version}: declares the {halo} px halo its tiles need on the output's axes (the input's
  minimum size is {size_min} px: the halo on both sides and two size steps), so that
  bioimage.io tools that tile the image (bioimageio.core's blocked predict, deepImageJ) give
  the whole-image result instead of seams between blocks. Weights, processing and card are
  those of {previous}.
"""


def with_halo(package: Package, version: str, previous: str, tmp: Path) -> Path:
    """``package`` as ``version`` with its halo declared, saved under ``tmp``."""
    from bioimageio.spec.model import v0_5 as bmz

    descr = package.descr
    step = _step_of(package)
    halo = fitting_halo(step, min(_test_shape(descr)[2:]))
    size_min = 2 * halo + 2 * step
    inputs = [
        descr.inputs[0].model_copy(
            update={
                "axes": [
                    a.model_copy(
                        update={"size": bmz.ParameterizedSize(min=size_min, step=a.size.step)}
                    )
                    if a.type == "space"
                    else a
                    for a in descr.inputs[0].axes
                ]
            }
        )
    ]
    outputs = [
        descr.outputs[0].model_copy(
            update={
                "axes": [
                    bmz.SpaceOutputAxisWithHalo(id=a.id, size=a.size, halo=halo)
                    if a.type == "space"
                    else a
                    for a in descr.outputs[0].axes
                ]
            }
        )
    ]
    readme = tmp / "README.md"
    text = descr.documentation.get_reader().read().decode()
    readme.write_text(
        text.rstrip("\n")
        + NOTE.format(version=version, halo=halo, size_min=size_min, previous=previous)
    )
    new = descr.model_copy(
        update={
            "inputs": inputs,
            "outputs": outputs,
            "version": bmz.Version(version),
            "documentation": bmz.FileDescr(source=readme),
        }
    )
    return save_package(new, tmp / "package.zip")  # validated when it is loaded again


def _test_shape(descr) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    """The shape of the package's test input."""
    import io

    data = descr.inputs[0].test_tensor.get_reader().read()
    return tuple(np.load(io.BytesIO(data)).shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="say what would be published")
    args = parser.parse_args()
    registry = Registry(REPO)
    for model_id, entry in sorted(registry.store.read_index().models.items()):
        version = entry.newest()
        if version is None:
            continue  # every version yanked
        package = load_package(REPO / entry.versions[version].location)
        if declared_halo(package):
            continue
        v = Version(version)
        new_version = f"{v.major}.{v.minor}.{v.micro + 1}"
        print(f"{model_id}@{version} -> {new_version}", flush=True)
        if args.dry_run:
            continue
        with tempfile.TemporaryDirectory(prefix="zoo-halo-") as tmp:
            path = with_halo(package, new_version, f"{model_id}@{version}", Path(tmp))
            result = registry.publish(path, model_id=model_id)
        print(f"  published {result.id}@{result.version} sha256 {result.entry.sha256[:12]}")


if __name__ == "__main__":
    main()
