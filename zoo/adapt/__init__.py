"""``zoo adapt``: fit a zoo model to the user's own noisy images, without any clean target.

The parent package's network (its ``pytorch_state_dict`` weights in zoo's copy of the
architecture) is fine-tuned on the user's images with a self-supervised loss, then exported
and verified like any package (:func:`zoo.export.builder.build_package`), its card recording
the lineage (:class:`zoo.spec.Lineage`): parent id, version and sha256, the adaptation, and
the images by sha256, shape and fingerprint, never by path.

1. Each image goes through the parent's own preprocessing (statistics from the whole image,
   as ``zoo run`` computes them); the network's output is in the same normalised units.
2. The bottom ``val_fraction`` of every image's rows is held out; training patches come
   from the rest.
3. Loss: blind-spot masking (Noise2Void; N2V2's median replacement by default, StructN2V's
   for a StructN2V parent), the MSE at the masked pixels against their noisy values. It
   suits CARE parents too: a CARE network sees the pixel it denoises, so it cannot be
   trained on the noisy image itself without a blind spot (docs/adapt.md has the numbers).
4. Stopping rule: every ``val_every`` steps the network, run as ``zoo run`` runs it, is
   scored on the held-out rows by the trial's estimate of its error against the noise-free
   image (SURE, :mod:`zoo.trial`); the weights with the lowest estimate are kept, the
   parent's own (step 0) included, so the result is never estimated worse than the parent.
5. Budget: ``steps``, or ``minutes`` of wall-clock time (default
   :func:`default_minutes`: 10 minutes for 512², growing with the square root of the
   pixels to at most 40 minutes, which a 2048² image gets); the step count a time budget
   gives is recorded, and ``steps=N`` with the same seed reproduces the weights.

Nothing is written until the package is complete: an interrupt (Ctrl-C) or a kill during
the fine-tuning or the export leaves no file behind.
"""

from __future__ import annotations

from zoo.adapt.card import adapted_card, package_adapted
from zoo.adapt.config import (
    MAX_MINUTES,
    MINUTES_512,
    AdaptConfig,
    Adapted,
    default_id,
    default_minutes,
    image_sha256,
    planes_of,
)
from zoo.adapt.loop import adapt
from zoo.adapt.network import Network

__all__ = [
    "MAX_MINUTES",
    "MINUTES_512",
    "AdaptConfig",
    "Adapted",
    "Network",
    "adapt",
    "adapted_card",
    "default_id",
    "default_minutes",
    "image_sha256",
    "package_adapted",
    "planes_of",
]
