"""Shared fixtures: where the real data lives (../shared/data), never downloaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ZOO_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data of ../shared/data (its MANIFEST.md says what each file is)."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.fail(f"real test data expected at {SHARED_DATA} (set ZOO_SHARED_DATA)")
    return SHARED_DATA


EXAMPLE_ID = "n2v-ihc-careamics"


@pytest.fixture(scope="session")
def example_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package of the embedded registry, fetched into a private cache."""
    from zoo.registry import Registry

    cache = tmp_path_factory.mktemp("example-cache")
    return Registry(REPO, cache=cache).fetch(EXAMPLE_ID)


def core_one_pass(descr: Any, image: np.ndarray) -> np.ndarray:
    """bioimageio.core's prediction of ``image`` (batch and channel first) in one pass of the
    network over the whole image, as zoo's runner gives it: without the padding by the
    declared halo that core's ``predict`` adds at the image's border (in its pad mode)."""
    from bioimageio.core import Sample, Tensor, create_prediction_pipeline

    tensor = Tensor.from_numpy(image, dims=("batch", "channel", "y", "x"))
    sample = Sample(members={descr.inputs[0].id: tensor}, stat={}, id="one-pass")
    out = create_prediction_pipeline(descr).predict_sample_without_blocking(
        sample, skip_input_padding=True, skip_output_cropping=True
    )
    return out.members[descr.outputs[0].id].data.to_numpy()
