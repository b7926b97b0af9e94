"""The example package ``n2v-ihc-careamics``: the real CAREamics 0.3 N2V checkpoint and the
synthetic IHC image it was trained on (both in ../shared/data, made with PyPI packages; the
MANIFEST allows committing them), packaged with examples/n2v-ihc-careamics.card.yaml."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from zoo_bench.training.data import REPO

NAME = "n2v-ihc-careamics"
N2V_CITE = {
    "text": "Krull, Buchholz, Jug. Noise2Void - learning denoising from single "
    "noisy images. CVPR 2019.",
    "doi": "10.1109/CVPR.2019.00223",
}


def build_example(data: Path, version: str) -> Any:
    """Build the example package from the checkpoint and image in ``data`` into a temporary
    folder, with the card in examples/; returns zoo.export.builder's result."""
    from zoo.cardfile import load_card
    from zoo.export.builder import build_package
    from zoo.export.importers import import_model
    from zoo.fingerprint import fingerprint

    model = import_model("careamics", data / "careamics" / "n2v_short.ckpt")
    card = load_card(
        REPO / "examples" / f"{NAME}.card.yaml",
        defaults={"method": {"name": model.method, "framework": model.framework}},
    )
    noisy = np.load(data / "synthetic" / "noisy.npy")
    # the model was trained on this very image: its fingerprint is the training data's
    trained_on = fingerprint([noisy]).model_copy(
        update={"source": "the training image (synthetic/noisy.npy)"}
    )
    card = card.model_copy(update={"fingerprint": trained_on})
    tmp = Path(tempfile.mkdtemp(prefix="zoo-example-"))
    return build_package(
        model,
        card,
        noisy,
        tmp / f"{NAME}.zip",
        name=NAME,
        description="CAREamics N2V on a synthetic Poisson-Gaussian IHC image (worked example).",
        authors=["zoo developers"],
        license="BSD-3-Clause",
        cite=[N2V_CITE],
        version=version,
        progress=print,
    )
