"""The embedded models give the same outputs, bit for bit, as when the reference was recorded.

Every version of every embedded model runs ``zoo run``'s own path (check, trusted weights,
tiled denoising, provenance) on a seeded synthetic image, with each weight format it has,
once with the automatic tiling and once with small square windows. The test compares the
sha256 of the output pixels, of the check report's JSON and of the provenance's key paths
with tests/data/outputs-unchanged.json, which was recorded before zoo's restructuring
(issue 26): a refactor must not change a single bit. The reports and provenance keys were
recorded again when the learned score came to decide the verdict (a new check and the
report's ``learned`` key), and are whenever scripts/bench_domain.py --loso refits that score
(zoo/learned.json; a newly published model changes the fit); every output's pixels stayed
the same. ONNX Runtime's CPU
kernels depend on the processor's instruction set; a machine of another kind records its
own reference with ``ZOO_RECORD_OUTPUTS=1`` (and says so in the commit).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO

REFERENCE = Path(__file__).parent / "data" / "outputs-unchanged.json"
RECORD = os.environ.get("ZOO_RECORD_OUTPUTS") == "1"


def _image(path: Path) -> Path:
    """A 2-D uint16 image: smooth blobs with Poisson noise, seeded."""
    rng = np.random.default_rng(26)
    yy, xx = np.mgrid[0:200, 0:168].astype(np.float32)
    signal = np.full(yy.shape, 300.0, np.float32)
    for cy, cx, r in rng.uniform([0, 0, 6], [200, 168, 20], size=(12, 3)):
        signal += 900.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
    data = rng.poisson(signal).astype(np.uint16)
    import tifffile

    tifffile.imwrite(path, data)
    return path


def _key_paths(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        paths = []
        for key, item in value.items():
            paths += [f"{prefix}/{key}", *_key_paths(item, f"{prefix}/{key}")]
        return paths
    return []


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cases() -> list[tuple[str, str]]:
    index = json.loads((REPO / "index.json").read_text())
    return [
        (model_id, version)
        for model_id, entry in index["models"].items()
        for version in entry["versions"]
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("model_id", "version"), _cases())
def test_outputs_unchanged(model_id: str, version: str, tmp_path: Path) -> None:
    import tifffile

    from zoo.inference import FORMATS
    from zoo.runner import open_model, run

    model = open_model(f"{model_id}@{version}", registry=str(REPO), cache=tmp_path / "cache")
    image = _image(tmp_path / "in.tif")
    weights = model.package.descr.weights
    got: dict[str, dict[str, str]] = {}
    for fmt in [f for f in FORMATS if getattr(weights, f) is not None]:
        for tile in (None, 96):
            out = tmp_path / f"{fmt}-{tile}.ome.tif"
            result = run(model, image, out, force=True, weight_format=fmt, tile=tile)
            pixels = np.ascontiguousarray(tifffile.imread(out))
            provenance = json.loads(result.sidecar.read_text())
            got[f"{fmt} tile={tile}"] = {
                "pixels": _sha(pixels.tobytes()) + f" {pixels.dtype} {pixels.shape}",
                "report": _sha(result.report.to_json().encode()),
                "provenance_keys": _sha("\n".join(_key_paths(provenance)).encode()),
            }
    key = f"{model_id}@{version}"
    reference = json.loads(REFERENCE.read_text()) if REFERENCE.is_file() else {}
    if RECORD:
        reference[key] = got
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_text(json.dumps(reference, indent=1, sort_keys=True) + "\n")
    assert key in reference, f"no reference for {key}: record it with ZOO_RECORD_OUTPUTS=1"
    assert got == reference[key]
