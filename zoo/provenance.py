"""The provenance of a ``zoo run`` output: which model, which input, how it ran, the check.

:class:`Provenance` is what the JSON sidecar (``OUTPUT.json``) holds and what the output's
own metadata carries under ``zoo`` (the OME-TIFF description, the OME-Zarr attributes).
:meth:`Provenance.to_dict` gives that JSON's data, key for key in the order written;
:meth:`Provenance.from_file` reads a sidecar back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_serializer

from zoo.domain import DomainReport

__all__ = [
    "ConsistencyRecord",
    "DaskRecord",
    "InputRecord",
    "ModelRecord",
    "OutputRecord",
    "PlaneConsistency",
    "Provenance",
    "TilingRecord",
    "TrialRecord",
    "WeightsTestRecord",
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRecord(_Record):
    """The model that ran."""

    id: str
    """Registry id, or the package's name for a package path."""
    version: str
    """Registry version, or the package's own version."""
    sha256: str
    """sha256 of the package zip ("" for a package folder)."""
    source: str
    """The registry (directory or URL) or the package path it came from."""


class InputRecord(_Record):
    """The input image, as read."""

    path: str
    sha256: str
    """sha256 of the file (of a folder's files and names for an OME-Zarr)."""
    shape: list[int]
    axes: str
    dtype: str
    channel: int | None = None
    """The one channel kept (``--channel``), numbered from 0; absent when none was picked."""


class OutputRecord(_Record):
    """The denoised image written."""

    axes: str
    shape: list[int]
    dtype: str = "float32"
    """float32, or the input's dtype (``--dtype input``: rounded and clipped)."""


class WeightsTestRecord(_Record):
    """Whether one weight format reproduced the package's test output before the run."""

    format: str
    status: Literal["passed", "failed", "skipped"]
    message: str
    mismatched_ppm: float | None = None
    max_abs_error: float | None = None


class TilingRecord(_Record):
    """How the image was cut into windows (:class:`~zoo.tiling.Tiling`)."""

    tile: int
    halo: int
    area: bool


class PlaneConsistency(_Record):
    """The consistency of one plane (:class:`~zoo.consistency.Consistency`)."""

    score: float
    noise_sigma: float
    map_p95: float


class ConsistencyRecord(_Record):
    """The consistency map written beside the output (``--consistency``)."""

    path: str
    planes: list[PlaneConsistency]


class DaskRecord(_Record):
    """Where the Dask blocks ran (``--dask``)."""

    scheduler: str


class TrialRecord(_Record):
    """The no-reference trial before the run (``--trial``; :class:`~zoo.trial.Trial`)."""

    estimator: str
    model_mse: float
    gaussian_mse: float
    gaussian_sigma: float
    noise_variance: float
    model_wins: bool
    """True when the model's estimated error is below the best Gaussian filter's."""
    gain_db: float | None
    pixels: int
    windows: int
    seconds: float


class Provenance(_Record):
    """What produced a ``zoo run`` output; the JSON sidecar and the output's metadata."""

    zoo_version: str
    created: str
    """When the run started (ISO 8601, UTC, to the second)."""
    model: ModelRecord
    input: InputRecord
    backend: str
    """The weight format that ran (onnx, torchscript, pytorch_state_dict)."""
    graph_nodes_bypassed: list[str]
    """Exact rewrites of the ONNX graph the session ran (:mod:`zoo.onnxgraph`)."""
    weights_tests: list[WeightsTestRecord]
    device: str
    tiling: TilingRecord
    forced: bool
    """True when a mismatch was run anyway (``--force``)."""
    check: DomainReport
    """The domain check of the input (written as :meth:`~zoo.domain.DomainReport.to_dict`)."""
    output: OutputRecord
    consistency: ConsistencyRecord | None = None
    dask: DaskRecord | None = None
    trial: TrialRecord | None = None

    @field_serializer("check")
    def _check_as_written(self, report: DomainReport) -> dict[str, Any]:
        return report.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """The sidecar's JSON data: every field in order, the optional ones when set."""
        data = self.model_dump()
        for key in ("consistency", "dask", "trial"):
            if data[key] is None:
                del data[key]
        if data["input"]["channel"] is None:
            del data["input"]["channel"]
        return data

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Provenance:
        """Read a provenance sidecar (``OUTPUT.json``) back."""
        return cls.model_validate_json(Path(path).read_bytes())
