"""Training zoo's own denoisers: N2V, N2V2, StructN2V and CARE on the packager's UNet.

A thin layer: :mod:`~zoo.train.config` (the settings), :mod:`~zoo.train.masking` (the
blind spots), :mod:`~zoo.train.data` (normalisation, validation split, patches),
:mod:`~zoo.train.loop` (the loop, best checkpoint, resumable checkpoints),
:mod:`~zoo.train.result` (the trained model, saving and loading) and
:mod:`~zoo.train.evaluate` (held-out metrics and baselines).
Needs torch (the ``export`` extra); nothing here is imported by the runtime.
"""

from zoo.train.loop import METHODS, TrainConfig, TrainResult, load_trained, train

__all__ = ["METHODS", "TrainConfig", "TrainResult", "load_trained", "train"]
