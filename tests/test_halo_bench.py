"""scripts/bench_halo.py: bioimageio.core's blocked predict on a zoo package with and without
its declared halo (benchmarks/zoo_bench/halo.py), on the example model."""

from __future__ import annotations

import math

from tests.conftest import REPO
from zoo.package import load_package
from zoo.registry import Registry
from zoo_bench import halo


def test_blocks_are_seamless_with_the_declared_halo_and_not_without(tmp_path) -> None:  # type: ignore[no-untyped-def]
    registry = Registry(REPO, cache=tmp_path / "cache")
    old = load_package(registry.fetch("n2v-ihc-careamics@0.2.0"))
    new = load_package(registry.fetch("n2v-ihc-careamics@0.2.1"))
    rows = {r.method: r for r in halo.measure("n2v-ihc-careamics", old, new)}
    without = rows["core blocked, no halo declared"]
    with_halo = rows["core blocked, halo declared"]
    assert with_halo.halo == 32 and with_halo.image == "examples/ihc-noisy.ome.tif"
    assert math.isinf(with_halo.psnr_interior) and with_halo.off_interior == 0
    assert without.off_interior > 0.1 and without.psnr_interior < 35
    # this model normalises by fixed statistics: core's padding changes nothing inside
    assert math.isinf(rows["core whole image, halo declared"].psnr_interior)
    text = halo.render(list(rows.values()), "2026-12-06", 0.1)
    assert text.count("| n2v-ihc-careamics |") == 3 and "| exact |" in text


def test_the_page_is_rendered_from_the_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "bioimageio-tiling.md"
    doc.with_suffix(".json").write_text(halo.DOC.with_suffix(".json").read_text())
    assert halo.render_doc(doc).read_text() == halo.DOC.read_text()
