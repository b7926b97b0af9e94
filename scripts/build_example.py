"""Build the example package n2v-ihc-careamics and publish it into the embedded registry.

Source: the real CAREamics 0.3 N2V checkpoint and the synthetic IHC image in
../shared/data (both made with PyPI packages; the MANIFEST allows committing them). The
card is examples/n2v-ihc-careamics.card.yaml. The package lands in models/ + index.json.

    python scripts/build_example.py [--data ../shared/data] [--version 0.2.0]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from zoo.export.builder import build_package
from zoo.export.importers import import_model
from zoo.fingerprint import fingerprint
from zoo.registry import Registry
from zoo.spec import load_card

REPO = Path(__file__).resolve().parents[1]
NAME = "n2v-ihc-careamics"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--version", default="0.2.0")
    args = parser.parse_args()
    model = import_model("careamics", args.data / "careamics" / "n2v_short.ckpt")
    card = load_card(
        REPO / "examples" / f"{NAME}.card.yaml",
        defaults={"method": {"name": model.method, "framework": model.framework}},
    )
    noisy = np.load(args.data / "synthetic" / "noisy.npy")
    # the model was trained on this very image: its fingerprint is the training data's
    trained_on = fingerprint([noisy]).model_copy(
        update={"source": "the training image (synthetic/noisy.npy)"}
    )
    card = card.model_copy(update={"fingerprint": trained_on})
    tmp = Path(tempfile.mkdtemp(prefix="zoo-example-"))
    result = build_package(
        model,
        card,
        noisy,
        tmp / f"{NAME}.zip",
        name=NAME,
        description="CAREamics N2V on a synthetic Poisson-Gaussian IHC image (worked example).",
        authors=["zoo developers"],
        license="BSD-3-Clause",
        cite=[
            {
                "text": "Krull, Buchholz, Jug. Noise2Void - learning denoising from single "
                "noisy images. CVPR 2019.",
                "doi": "10.1109/CVPR.2019.00223",
            }
        ],
        version=args.version,
        progress=print,
    )
    for check in result.checks:
        print(f"{check.format}: max abs error {check.max_abs_error:.2g} vs torch")
    published = Registry(REPO).publish(result.path, model_id=NAME)
    print(f"published {published.id}@{published.version} sha256 {published.entry.sha256}")


if __name__ == "__main__":
    main()
