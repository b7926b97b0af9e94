"""The csbdeep / n2v Keras UNet (CARE, N2V, N2V2), as one torch-only file.

A port of the network that csbdeep 0.8's ``custom_unet`` (CARE) and n2v 0.3's ``build_unet``
and ``build_single_unet_per_channel`` (N2V) build in Keras, so that their trained weights give
the same output. This file imports nothing but torch and the standard library: it is copied
verbatim into bioimage.io packages as the architecture source.

One UNet, in Keras's layer names (``L = n_conv_per_depth``; every conv is "same"-padded and
followed by [batch norm and] ReLU)::

    down_level_{n}_no_{i}   n = 0 .. n_depth-1, i < L   n_first * 2**n filters
    max_{n}                 max pool by ``pool`` (N2V2: max-blur pool); the skip is taken before
    middle_{i}              i < L - 1                   n_first * 2**n_depth filters
    middle_{L}              (there is no middle_{L-1})  n_first * 2**max(0, n_depth-1) filters
    up_level_{n}_no_{i}     n = n_depth-1 .. 0, i < L-1  after concatenating [upsampled, skip]
                            csbdeep: n_first * 2**n filters; n2v: n_first filters
                            (n_first * 2**n with skip_skipone and n > 0)
    up_level_{n}_no_{L}                                 n_first * 2**max(0, n-1) filters
    final                   1x1 conv, linear; [+ input if residual]; then last_activation
    scale                   probabilistic only: 1x1 conv, softplus, + eps_scale

Details that matter for reproducing Keras numerically:

* the UNet's own last conv (``up_level_0_no_{L}``) ends in ReLU whatever ``last_activation``
  is: that one acts only after the 1x1 conv and the residual addition;
* Keras's ``BatchNormalization`` uses epsilon 1e-3 (torch's default is 1e-5);
* upsampling is nearest-neighbour (``UpSampling2D``), and the concatenation puts the
  upsampled features first, the skip connection second;
* csbdeep adds the whole input when ``residual`` (it requires n_channel_in == n_channel_out);
* ``single_net_per_channel`` (n2v) runs one UNet per input channel, each seeing that channel
  and giving one output channel; the outputs are concatenated in channel order;
* a probabilistic net outputs, per UNet, its means followed by its scales;
* N2V2's max-blur pool (2D only) is a 2x2 max pool with stride 1 and TensorFlow's "SAME"
  padding, then a per-channel 3x3 binomial blur with stride 2 and "SAME" zero padding.

Spatial sizes must be multiples of ``pool ** n_depth`` (csbdeep and n2v pad images to that
before predicting).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

__all__ = [
    "KERAS_BN_EPSILON",
    "LAST_ACTIVATIONS",
    "UNET_BLOCKS",
    "CSBDeepUNet",
    "ConvBlock",
    "MaxBlurPool2d",
    "UNet",
]

KERAS_BN_EPSILON = 1e-3
"""Keras's ``BatchNormalization`` default epsilon."""

LAST_ACTIVATIONS = ("linear", "relu")
"""Values csbdeep and n2v accept for ``unet_last_activation``."""

UNET_BLOCKS = ("csbdeep", "n2v")
"""Which ``unet_block`` the graph follows: csbdeep's (``csbdeep.internals.blocks``) or n2v's
(``n2v.nets.unet_blocks``, n2v >= 0.3); they differ in the inner up-convolutions' widths."""


class ConvBlock(nn.Module):
    """csbdeep's ``conv_block2``/``conv_block3``: a "same" conv, [batch norm], ReLU."""

    def __init__(
        self, n_dim: int, in_channels: int, out_channels: int, kern_size: int, batch_norm: bool
    ) -> None:
        super().__init__()
        conv = getattr(nn, f"Conv{n_dim}d")
        self.conv = conv(in_channels, out_channels, kern_size, padding=kern_size // 2)
        self.norm = (
            getattr(nn, f"BatchNorm{n_dim}d")(out_channels, eps=KERAS_BN_EPSILON)
            if batch_norm
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv -> [batch norm] -> ReLU."""
        return functional.relu(self.norm(self.conv(x)))


def binomial_blur_kernel(channels: int) -> torch.Tensor:
    """n2v's blur: ``[1, 2, 1]`` outer ``[1, 2, 1]`` / 16 per channel, shaped ``(C, 1, 3, 3)``."""
    row = torch.tensor([1.0, 2.0, 1.0])
    kernel = row[:, None] * row[None, :] / 16.0
    return kernel.expand(channels, 1, 3, 3).clone()


class MaxBlurPool2d(nn.Module):
    """n2v's ``MaxBlurPool2D`` for an even-sized input (N2V2's anti-aliased pooling).

    TensorFlow's "SAME" padding puts the odd pixel of padding after the data: the 2x2 max pool
    (stride 1) pads one row and column after with -inf, the 3x3 blur (stride 2) one with zeros.
    The blur kernel is a buffer in the state dict, as Keras stores it as a weight.
    """

    blur_kernel: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("blur_kernel", binomial_blur_kernel(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halve both spatial sizes of ``x``."""
        x = functional.max_pool2d(functional.pad(x, (0, 1, 0, 1), value=float("-inf")), 2, 1)
        kernel = self.blur_kernel.to(dtype=x.dtype)
        return functional.conv2d(
            functional.pad(x, (0, 1, 0, 1)), kernel, stride=2, groups=kernel.shape[0]
        )


class UNet(nn.Module):
    """One csbdeep/n2v UNet and its 1x1 head(s); ``layers`` is keyed by Keras layer name."""

    def __init__(
        self,
        n_dim: int,
        n_channel_in: int,
        n_channel_out: int,
        n_depth: int,
        kern_size: int,
        n_first: int,
        n_conv_per_depth: int,
        pool: int,
        residual: bool,
        last_activation: str,
        batch_norm: bool,
        probabilistic: bool,
        eps_scale: float,
        unet_block: str,
        blurpool: bool,
        skip_skipone: bool,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.last_relu = last_activation == "relu"
        self.eps_scale = eps_scale
        self.skip_levels = [n for n in range(n_depth) if n > 0 or not skip_skipone]
        # after the down path, a level's last conv is numbered n_conv_per_depth, not one less
        numbers = [*range(n_conv_per_depth - 1), n_conv_per_depth]
        self.down_names = [
            [f"down_level_{n}_no_{i}" for i in range(n_conv_per_depth)] for n in range(n_depth)
        ]
        self.middle_names = [f"middle_{i}" for i in numbers]
        self.up_names = {
            n: [f"up_level_{n}_no_{i}" for i in numbers] for n in reversed(range(n_depth))
        }
        self.layers = nn.ModuleDict()

        def add(name: str, in_channels: int, out_channels: int) -> int:
            self.layers[name] = ConvBlock(n_dim, in_channels, out_channels, kern_size, batch_norm)
            return out_channels

        channels, skips = n_channel_in, []
        for n, names in enumerate(self.down_names):
            for name in names:
                channels = add(name, channels, n_first * 2**n)
            skips.append(channels)
            self.layers[f"max_{n}"] = (
                MaxBlurPool2d(channels) if blurpool else getattr(nn, f"MaxPool{n_dim}d")(pool)
            )
        for name in self.middle_names[:-1]:
            channels = add(name, channels, n_first * 2**n_depth)
        channels = add(self.middle_names[-1], channels, n_first * 2 ** max(0, n_depth - 1))
        for n, names in self.up_names.items():
            if n in self.skip_levels:
                channels += skips[n]
            wide = unet_block == "csbdeep" or (skip_skipone and n > 0)
            inner = n_first * 2**n if wide else n_first
            for name in names[:-1]:
                channels = add(name, channels, inner)
            channels = add(names[-1], channels, n_first * 2 ** max(0, n - 1))
        self.upsample = nn.Upsample(scale_factor=pool, mode="nearest")
        conv = getattr(nn, f"Conv{n_dim}d")
        self.final = conv(channels, n_channel_out, 1)
        self.scale = conv(channels, n_channel_out, 1) if probabilistic else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The UNet block: down, middle, then up with skip connections."""
        skips = []
        for n, names in enumerate(self.down_names):
            for name in names:
                x = self.layers[name](x)
            skips.append(x)
            x = self.layers[f"max_{n}"](x)
        for name in self.middle_names:
            x = self.layers[name](x)
        for n, names in self.up_names.items():
            x = self.upsample(x)
            if n in self.skip_levels:
                x = torch.cat([x, skips[n]], dim=1)
            for name in names:
                x = self.layers[name](x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``final(features) [+ x]``, last activation, then [softplus scales + eps]."""
        features = self.features(x)
        y = self.final(features)
        if self.residual:
            y = y + x
        if self.last_relu:
            y = functional.relu(y)
        if self.scale is None:
            return y
        return torch.cat([y, functional.softplus(self.scale(features)) + self.eps_scale], dim=1)


class CSBDeepUNet(nn.Module):
    """The csbdeep (CARE) / n2v (N2V, N2V2) UNet; input and output ``(B, C, [Z,] Y, X)``.

    Keyword arguments mirror the csbdeep/n2v config (``unet_n_depth`` -> ``n_depth``, ...);
    ``unet_block`` picks csbdeep's or n2v's layer widths (see :data:`UNET_BLOCKS`). The output
    has ``n_channel_out`` channels (twice as many when ``probabilistic``); with
    ``single_net_per_channel`` it has one per input channel and ``n_channel_out`` must equal
    ``n_channel_in``.
    """

    def __init__(
        self,
        n_dim: int = 2,
        n_channel_in: int = 1,
        n_channel_out: int = 1,
        n_depth: int = 2,
        kern_size: int = 3,
        n_first: int = 32,
        n_conv_per_depth: int = 2,
        pool: int = 2,
        residual: bool = False,
        last_activation: str = "linear",
        batch_norm: bool = False,
        probabilistic: bool = False,
        eps_scale: float = 1e-3,
        single_net_per_channel: bool = False,
        unet_block: str = "csbdeep",
        blurpool: bool = False,
        skip_skipone: bool = False,
    ) -> None:
        super().__init__()
        settings: dict[str, Any] = {
            "n_dim": n_dim,
            "n_channel_in": n_channel_in,
            "n_channel_out": n_channel_out,
            "n_depth": n_depth,
            "kern_size": kern_size,
            "n_first": n_first,
            "n_conv_per_depth": n_conv_per_depth,
            "pool": pool,
            "residual": residual,
            "last_activation": last_activation,
            "batch_norm": batch_norm,
            "probabilistic": probabilistic,
            "eps_scale": eps_scale,
            "unet_block": unet_block,
            "blurpool": blurpool,
            "skip_skipone": skip_skipone,
        }
        _check(settings, single_net_per_channel)
        self.single_net_per_channel = single_net_per_channel
        n_nets = n_channel_in if single_net_per_channel else 1
        if single_net_per_channel:
            settings.update(n_channel_in=1, n_channel_out=1)
        self.nets = nn.ModuleList(UNet(**settings) for _ in range(n_nets))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the UNet (or one UNet per channel, concatenating their outputs)."""
        if not self.single_net_per_channel:
            return self.nets[0](x)
        return torch.cat([net(x[:, c : c + 1]) for c, net in enumerate(self.nets)], dim=1)


def _check(s: dict[str, Any], single_net_per_channel: bool) -> None:
    """Refuse settings ``s`` that csbdeep/n2v cannot build, with a ValueError naming them."""
    same_channels = s["n_channel_in"] == s["n_channel_out"]
    rules = [
        ("n_dim must be 2 or 3", s["n_dim"] in (2, 3)),
        ("kern_size must be odd", s["kern_size"] % 2 == 1),
        (
            "n_depth and n_conv_per_depth must be >= 1",
            min(s["n_depth"], s["n_conv_per_depth"]) >= 1,
        ),
        (
            f"last_activation must be one of {LAST_ACTIVATIONS}",
            s["last_activation"] in LAST_ACTIVATIONS,
        ),
        (f"unet_block must be one of {UNET_BLOCKS}", s["unet_block"] in UNET_BLOCKS),
        (
            "blurpool and skip_skipone need unet_block='n2v'",
            s["unet_block"] == "n2v" or not (s["blurpool"] or s["skip_skipone"]),
        ),
        (
            "blurpool needs n_dim=2 and pool=2",
            not s["blurpool"] or (s["n_dim"], s["pool"]) == (2, 2),
        ),
        ("residual needs n_channel_out == n_channel_in", same_channels or not s["residual"]),
        (
            "single_net_per_channel needs n_channel_out == n_channel_in",
            same_channels or not single_net_per_channel,
        ),
    ]
    broken = [text for text, ok in rules if not ok]
    if broken:
        raise ValueError(f"CSBDeepUNet({s}): {'; '.join(broken)}")
