"""Function-preserving widening of a zoo UNet (Net2Net's idea, Chen et al. 2016, with zero
weights instead of copies): a recipe whose ``init`` has fewer filters than its own starts
from the narrow network's weights inside the wider one.

Every old channel keeps its weights and reads only old channels; every new channel starts
from the wider network's own random initialisation (seeded), and no old channel reads it yet
(zero weights). So the wider network computes exactly what the narrow one did, and training
grows the new channels from there.
"""

from __future__ import annotations

from typing import Any

DECODER_CONCAT = "decoder.decoder_blocks."
"""Prefix of the decoder blocks whose first convolution reads ``[upsampled, skip]`` (one
input channel, so one group: the upsampled features first, then the skip connection)."""


def widen(narrow: dict[str, Any], wide: dict[str, Any]) -> dict[str, Any]:
    """``wide`` (a freshly initialised state dict of the wider UNet) with ``narrow``'s weights
    in place, as the module docstring says; same keys, ``wide``'s shapes."""
    out = {}
    for key, fresh in wide.items():
        old = narrow[key]
        if fresh.ndim == 0 or old.shape == fresh.shape:
            out[key] = old.clone()
            continue
        new = fresh.clone()
        if new.ndim == 1:  # biases and (unused) batch-norm buffers: old first, new after
            new[: old.shape[0]] = old
            if key.endswith("running_var"):
                new[old.shape[0] :] = 1
            out[key] = new
            continue
        rows, cols = old.shape[:2]
        new[:rows] = 0  # the old output channels read no new input channel
        for o, n in _input_blocks(key, cols, new.shape[1]):
            new[:rows, n] = old[:, o]
        out[key] = new
    return out


def _input_blocks(key: str, narrow: int, wide: int) -> list[tuple[slice, slice]]:
    """Where a convolution's old input channels sit among its new ones."""
    if key.startswith(DECODER_CONCAT) and key.endswith(".conv1.weight"):
        half, wide_half = narrow // 2, wide // 2
        upsampled = (slice(0, half), slice(0, half))
        return [upsampled, (slice(half, narrow), slice(wide_half, wide_half + half))]
    return [(slice(0, narrow), slice(0, narrow))]


def widened(narrow: dict[str, Any], arch_kwargs: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """``narrow`` widened into a fresh careamics UNet of ``arch_kwargs`` (its new channels
    initialised under torch seed ``seed``); ``narrow`` itself when the widths already agree."""
    import torch

    from zoo.export.importers import load_architecture

    _path, cls = load_architecture("careamics-unet")
    with torch.random.fork_rng():  # the caller's random state is left as it was
        torch.manual_seed(seed)
        wide = cls(**arch_kwargs).state_dict()
    if all(narrow[k].shape == v.shape for k, v in wide.items()):
        return narrow
    return widen(narrow, wide)
