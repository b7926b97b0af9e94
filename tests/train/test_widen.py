"""Widening a trained UNet (zoo_bench.training.widen): the wider network starts as the narrow
one exactly, and its new channels can learn."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from zoo.export.importers import load_architecture  # noqa: E402
from zoo_bench.training.widen import widened  # noqa: E402


def _unet(filters: int, depth: int = 3) -> torch.nn.Module:
    _path, cls = load_architecture("careamics-unet")
    return cls(conv_dims=2, num_classes=1, in_channels=1, depth=depth, num_channels_init=filters)


@pytest.mark.parametrize("depth", [2, 3])
def test_the_wider_network_computes_what_the_narrow_one_did(depth: int) -> None:
    torch.manual_seed(1)
    narrow = _unet(8, depth).eval()
    kwargs = {"conv_dims": 2, "num_classes": 1, "in_channels": 1, "depth": depth,
              "num_channels_init": 12}  # fmt: skip
    wide = _unet(12, depth).eval()
    wide.load_state_dict(widened(narrow.state_dict(), kwargs))
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(wide(x), narrow(x), atol=1e-6)
    # a network widened from random weights is not the narrow one: the comparison can fail
    assert not torch.allclose(_unet(12, depth).eval()(x), narrow(x), atol=1e-3)
    # the new channels learn: the zero weights that read them get a gradient
    loss = (wide(x) - x).pow(2).mean()
    loss.backward()
    final = wide.final_conv.weight
    assert final.grad is not None and float(final.grad[:, 8:].abs().sum()) > 0
    assert float(final.detach()[:, 8:].abs().sum()) == 0


def test_equal_widths_are_left_as_they_are() -> None:
    narrow = _unet(8).state_dict()
    kwargs = {"conv_dims": 2, "num_classes": 1, "in_channels": 1, "depth": 3,
              "num_channels_init": 8}  # fmt: skip
    assert widened(narrow, kwargs) is narrow
