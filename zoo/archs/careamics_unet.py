"""The CAREamics UNet (``careamics.models.unet.UNet``, CAREamics 0.3), as one torch-only file.

A faithful port: same constructor keyword arguments, same forward pass, and the same
state-dict keys, so that a CAREamics checkpoint (after stripping Lightning's ``model.``
prefix) or the ``weights.pth`` of a CAREamics bioimage.io export loads with ``strict=True``.
This file imports nothing but torch and the standard library: it is copied verbatim into
bioimage.io packages as the architecture source.

Layout (``depth`` levels, ``g`` groups = ``in_channels`` if ``independent_channels`` else 1)::

    encoder.encoder_blocks   [ConvBlock, pool, ConvBlock, pool, ...]   (blocks at 0, 2, 4, ...)
    decoder.bottleneck       ConvBlock with a doubled intermediate width
    decoder.decoder_blocks   [Upsample, ConvBlock, Upsample, ConvBlock, ...]   (1, 3, 5, ...)
    final_conv               1x1 convolution to ``num_classes`` (grouped)

Details that matter for reproducing CAREamics numerically:

* a ConvBlock is conv -> batch norm -> ReLU, twice; its two batch norms exist (and are in
  the state dict) even when ``use_batch_norm`` is False, they are then simply not applied;
* upsampling is ``nn.Upsample(scale_factor=2)``, bilinear (trilinear in 3D), with
  ``align_corners`` left at its default (False);
* after each upsampling the decoder concatenates ``[upsampled, skip]`` group by group
  (interleaved when the channels are independent), upsampled features first;
* N2V2 replaces max pooling by a max-blur pool (max pool with stride 1, then a normalised
  3x3(x3) binomial blur with stride 2) and drops the top-level skip connection;
* ``residual`` adds the input to the output of ``final_conv``, before the final activation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

__all__ = ["ConvBlock", "MaxBlurPool", "UNet", "UNetDecoder", "UNetEncoder"]

ACTIVATIONS = ("None", "Sigmoid", "Softmax", "Tanh", "ReLU", "LeakyReLU", "ELU")
"""Names accepted for ``final_activation`` (CAREamics' ``SupportedActivation`` values)."""


def final_activation_module(name: str) -> nn.Module:
    """The torch module for a CAREamics final-activation name ("None" is the identity)."""
    if name == "None":
        return nn.Identity()
    if name == "Softmax":
        return nn.Softmax(dim=1)
    if name in ACTIVATIONS:
        return getattr(nn, name)()
    raise ValueError(f"final_activation {name!r} is not supported; expected one of {ACTIVATIONS}")


class ConvBlock(nn.Module):
    """Two 3x3(x3) convolutions, each followed by optional batch norm and an activation."""

    def __init__(
        self,
        conv_dim: int,
        in_channels: int,
        out_channels: int,
        intermediate_channel_multiplier: int = 1,
        groups: int = 1,
        dropout_perc: float = 0.0,
        use_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        conv = getattr(nn, f"Conv{conv_dim}d")
        norm = getattr(nn, f"BatchNorm{conv_dim}d")
        mid = out_channels * intermediate_channel_multiplier
        self.use_batch_norm = use_batch_norm
        self.conv1 = conv(in_channels, mid, kernel_size=3, padding=1, groups=groups)
        self.conv2 = conv(mid, out_channels, kernel_size=3, padding=1, groups=groups)
        self.batch_norm1 = norm(mid)
        self.batch_norm2 = norm(out_channels)
        self.dropout = (
            getattr(nn, f"Dropout{conv_dim}d")(dropout_perc) if dropout_perc > 0 else None
        )
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 -> [bn1] -> ReLU -> conv2 -> [bn2] -> ReLU -> [dropout]."""
        x = self.conv1(x)
        if self.use_batch_norm:
            x = self.batch_norm1(x)
        x = self.activation(x)
        x = self.conv2(x)
        if self.use_batch_norm:
            x = self.batch_norm2(x)
        x = self.activation(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return x


def binomial_kernel(size: int, dim: int) -> torch.Tensor:
    """A normalised ``size``-wide binomial (Pascal-triangle) kernel in ``dim`` dimensions."""
    row = [1.0]
    for _ in range(size - 1):
        row = [a + b for a, b in zip([0.0, *row], [*row, 0.0], strict=True)]
    kernel = torch.tensor(row)
    for _ in range(dim - 1):
        kernel = kernel[..., None] * torch.tensor(row)
    return kernel / kernel.sum()


class MaxBlurPool(nn.Module):
    """N2V2's anti-aliased pooling: max pool (stride 1), then a binomial blur with stride 2.

    The blur is one 3x3(x3) kernel per channel (a grouped convolution), as CAREamics computes
    it; the kernel is built for ``channels`` up front so that exports see a constant weight.
    """

    kernel: torch.Tensor

    def __init__(
        self, dim: int, channels: int, kernel_size: int = 3, max_pool_size: int = 2
    ) -> None:
        super().__init__()
        self.dim = dim
        self.max_pool_size = max_pool_size
        kernel = binomial_kernel(kernel_size, dim)[None, None].repeat(channels, 1, *[1] * dim)
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Downsample ``x`` by 2 along every spatial axis."""
        kernel = self.kernel.to(dtype=x.dtype)
        padding = kernel.shape[-1] // 2
        groups = kernel.shape[0]
        if self.dim == 2:
            x = functional.max_pool2d(x, kernel_size=self.max_pool_size, stride=1)
            return functional.conv2d(x, kernel, padding=padding, stride=2, groups=groups)
        x = functional.max_pool3d(x, kernel_size=self.max_pool_size, stride=1)
        return functional.conv3d(x, kernel, padding=padding, stride=2, groups=groups)


class UNetEncoder(nn.Module):
    """Contracting path: ``depth`` conv blocks, each followed by a pooling layer."""

    def __init__(
        self,
        conv_dim: int,
        in_channels: int = 1,
        depth: int = 3,
        num_channels_init: int = 64,
        use_batch_norm: bool = True,
        dropout: float = 0.0,
        pool_kernel: int = 2,
        n2v2: bool = False,
        groups: int = 1,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for n in range(depth):
            out_channels = num_channels_init * 2**n * groups
            block_in = in_channels if n == 0 else out_channels // 2
            block = ConvBlock(
                conv_dim,
                block_in,
                out_channels,
                groups=groups,
                dropout_perc=dropout,
                use_batch_norm=use_batch_norm,
            )
            pooling = (
                MaxBlurPool(conv_dim, out_channels, max_pool_size=pool_kernel)
                if n2v2
                else getattr(nn, f"MaxPool{conv_dim}d")(kernel_size=pool_kernel)
            )
            blocks += [block, pooling]
        self.encoder_blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return ``[pooled bottom features, skip 1 (top), ..., skip depth (deepest)]``."""
        skips = []
        for module in self.encoder_blocks:
            x = module(x)
            if isinstance(module, ConvBlock):
                skips.append(x)
        return [x, *skips]


def interleave(a: torch.Tensor, b: torch.Tensor, groups: int) -> torch.Tensor:
    """Concatenate ``a`` and ``b`` on channels group by group: ``[a1, b1, a2, b2, ...]``."""
    a_groups = a.chunk(groups, dim=1)
    b_groups = b.chunk(groups, dim=1)
    return torch.cat([t for pair in zip(a_groups, b_groups, strict=True) for t in pair], dim=1)


class UNetDecoder(nn.Module):
    """Bottleneck, then ``depth`` (upsample, concatenate skip, conv block) levels."""

    def __init__(
        self,
        conv_dim: int,
        depth: int = 3,
        num_channels_init: int = 64,
        use_batch_norm: bool = True,
        dropout: float = 0.0,
        n2v2: bool = False,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.n2v2 = n2v2
        self.groups = groups
        bottom = num_channels_init * groups * 2 ** (depth - 1)
        self.bottleneck = ConvBlock(
            conv_dim,
            bottom,
            bottom,
            intermediate_channel_multiplier=2,
            groups=groups,
            dropout_perc=dropout,
            use_batch_norm=use_batch_norm,
        )
        upsampling = nn.Upsample(scale_factor=2, mode="bilinear" if conv_dim == 2 else "trilinear")
        blocks: list[nn.Module] = []
        for n in range(depth):
            top = n == depth - 1
            width = num_channels_init * 2 ** (depth - n - 1) * groups
            block = ConvBlock(
                conv_dim,
                width if (n2v2 and top) else 2 * width,
                width if top else width // 2,
                intermediate_channel_multiplier=1 if top else 2,
                groups=groups,
                dropout_perc=dropout,
                use_batch_norm=use_batch_norm,
            )
            blocks += [upsampling, block]
        self.decoder_blocks = nn.ModuleList(blocks)

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """Decode the encoder's ``[bottom, skip 1, ..., skip depth]`` features."""
        x = self.bottleneck(features[0])
        skips = features[:0:-1]  # deepest first
        for i, module in enumerate(self.decoder_blocks):
            x = module(x)
            level = i // 2
            if isinstance(module, nn.Upsample) and not (self.n2v2 and level == len(skips) - 1):
                x = interleave(x, skips[level], self.groups)
        return x


class UNet(nn.Module):
    """The CAREamics UNet; keyword arguments as ``careamics.models.unet.UNet``.

    Unknown keyword arguments are accepted and ignored, as CAREamics does (its model
    configuration, passed as ``UNet(**config)``, carries an ``architecture`` entry).
    """

    def __init__(
        self,
        conv_dims: int,
        num_classes: int = 1,
        in_channels: int = 1,
        depth: int = 3,
        num_channels_init: int = 64,
        use_batch_norm: bool = True,
        dropout: float = 0.0,
        pool_kernel: int = 2,
        residual: bool = False,
        final_activation: str = "None",
        n2v2: bool = False,
        independent_channels: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        groups = in_channels if independent_channels else 1
        self.encoder = UNetEncoder(
            conv_dims,
            in_channels=in_channels,
            depth=depth,
            num_channels_init=num_channels_init,
            use_batch_norm=use_batch_norm,
            dropout=dropout,
            pool_kernel=pool_kernel,
            n2v2=n2v2,
            groups=groups,
        )
        self.decoder = UNetDecoder(
            conv_dims,
            depth=depth,
            num_channels_init=num_channels_init,
            use_batch_norm=use_batch_norm,
            dropout=dropout,
            n2v2=n2v2,
            groups=groups,
        )
        self.final_conv = getattr(nn, f"Conv{conv_dims}d")(
            num_channels_init * groups, num_classes, kernel_size=1, groups=groups
        )
        self.residual = residual
        # CAREamics passes a str-valued enum or its value; both name the activation
        self.final_activation = final_activation_module(
            getattr(final_activation, "value", final_activation)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_channels, [Z,] Y, X)`` to ``(B, num_classes, [Z,] Y, X)``.

        Spatial sizes must be multiples of ``2 ** depth``.
        """
        y = self.final_conv(self.decoder(*self.encoder(x)))
        if self.residual:
            y = y + x
        return self.final_activation(y)
