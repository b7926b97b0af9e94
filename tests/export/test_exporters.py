"""ONNX and TorchScript exports are verified against the torch module before being written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.errors import ExportError
from zoo.export.onnx import export_onnx
from zoo.export.torchscript import export_torchscript


class SmallUNet(torch.nn.Module):
    """One down/up level with batch norm: enough to catch eval-mode and dynamic-axis bugs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.up = torch.nn.Upsample(scale_factor=2, mode="nearest")
        self.out = torch.nn.Conv2d(16, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.bn(self.conv(x)))
        b = self.up(torch.nn.functional.max_pool2d(a, 2))
        return self.out(torch.cat([a, b], 1)) + x


class ShapeSpecialised(torch.nn.Module):
    """Python control flow on the input shape: a trace bakes in one branch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.shape[-1] >= 64 else x * 3


@pytest.fixture
def unet() -> SmallUNet:
    torch.manual_seed(0)
    module = SmallUNet()
    module.bn.running_mean.normal_()
    module.bn.running_var.uniform_(0.5, 2.0)
    return module.train()  # the exporters must switch it to eval themselves


def _x(*shape: int) -> np.ndarray:
    return np.random.default_rng(1).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("export", [export_onnx, export_torchscript])
def test_export_matches_torch_on_other_shapes(export, unet: SmallUNet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.bin"
    check = export(unet, _x(1, 1, 64, 64), path, check_inputs=[_x(2, 1, 32, 48)])
    assert path.is_file()
    assert check.max_abs_error <= 1e-5
    assert check.shapes == ((1, 1, 64, 64), (2, 1, 32, 48))
    assert not unet.training


def test_onnx_axes_are_dynamic(unet: SmallUNet, tmp_path: Path) -> None:
    import onnxruntime as ort

    export_onnx(unet, _x(1, 1, 64, 64), tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": _x(3, 1, 40, 24)})[0].shape == (3, 1, 40, 24)


@pytest.mark.parametrize("export", [export_onnx, export_torchscript])
def test_shape_specialised_trace_is_refused_and_nothing_written(export, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.bin"
    with pytest.raises(ExportError, match="does not reproduce the torch module"):
        export(ShapeSpecialised(), _x(1, 1, 64, 64), path, check_inputs=[_x(1, 1, 32, 32)])
    assert list(tmp_path.iterdir()) == []
