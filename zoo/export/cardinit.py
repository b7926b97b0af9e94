"""``zoo card init`` for trained weights: a card template from a CAREamics checkpoint or a
csbdeep/n2v Keras model folder, filled with what the weights say (method, framework,
dimensionality, channels, patch size and training settings), ``TODO`` for the rest.

(A bioimage.io package's template is :func:`zoo.package.card_template`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ImportFailedError

__all__ = ["WEIGHTS_KINDS", "weights_card_template", "weights_kind"]

WEIGHTS_KINDS = ("careamics", "keras")
"""Sources of trained weights ``zoo card init`` reads besides packages."""

TODO = "TODO"


def weights_kind(path: Path) -> str | None:
    """``careamics`` for a ``.ckpt`` file, ``keras`` for a folder with config.json (and no
    rdf.yaml), None for anything else (a package)."""
    if path.is_file() and path.suffix == ".ckpt":
        return "careamics"
    if path.is_dir() and (path / "config.json").is_file() and not (path / "rdf.yaml").exists():
        return "keras"
    return None


def weights_card_template(path: Path, kind: str) -> str:
    """The card YAML template for the weights at ``path`` (``kind``: :data:`WEIGHTS_KINDS`)."""
    from zoo.cardfile import card_template_text

    if kind == "careamics":
        facts = _careamics_facts(path)
    elif kind == "keras":
        facts = _keras_facts(path)
    else:
        raise ImportFailedError(f"unknown weights kind {kind!r}: expected one of {WEIGHTS_KINDS}")
    card = {
        "domain": {
            "modality": TODO,
            "dimensionality": facts["dimensionality"],
            "channels": facts["channels"],
            "dtype": TODO,
            "structures": [TODO],
        },
        "noise": {"type": TODO},
        "method": {
            "name": facts["method"],
            "framework": facts["framework"],
            "hyperparameters": facts["hyperparameters"],
        },
        "training_data": {"description": TODO, "license": TODO},
        "validation": {"intended_use": TODO},
    }
    intro = [
        f"# zoo card for {path} (read from the {kind} weights) — fill every TODO, then:",
        f"#   zoo package --from {kind} {path} --card THIS_FILE --image EXAMPLE -o MODEL.zip",
    ]
    return card_template_text(card, intro)


def _careamics_facts(path: Path) -> dict[str, Any]:
    """What a CAREamics checkpoint says about its model and training."""
    from zoo.export.careamics import load_careamics_checkpoint
    from zoo.export.importers import require_export

    require_export("careamics")
    imp = load_careamics_checkpoint(path)
    algorithm, data = imp.config["algorithm_config"], imp.config["data_config"]
    kwargs = imp.arch_kwargs
    masking = algorithm.get("n2v_config") or {}
    found = {
        "patch_size": (data.get("patching") or {}).get("patch_size", data.get("patch_size")),
        "batch_size": data.get("batch_size"),
        "depth": kwargs.get("depth"),
        "num_channels_init": kwargs.get("num_channels_init"),
        "use_batch_norm": kwargs.get("use_batch_norm"),
        "masked_pixel_percentage": masking.get("masked_pixel_percentage"),
        "roi_size": masking.get("roi_size"),
        "loss": algorithm.get("loss"),
    }
    return {
        "dimensionality": int(kwargs.get("conv_dims", 2)),
        "channels": int(kwargs.get("in_channels", 1)),
        "method": imp.method,
        "framework": "careamics",
        "hyperparameters": {k: v for k, v in found.items() if v is not None},
    }


def _keras_facts(path: Path) -> dict[str, Any]:
    """What a csbdeep/n2v config.json says (the weights are not read: no torch needed)."""
    from zoo.export.keras import _method, _read_config

    config = _read_config(path / "config.json")
    framework = "n2v" if any(key.startswith("n2v_") for key in config) else "csbdeep"
    keys = (
        "unet_n_depth",
        "unet_kern_size",
        "unet_n_first",
        "unet_residual",
        "probabilistic",
        "batch_norm",
        "train_loss",
        "train_epochs",
        "train_steps_per_epoch",
        "train_learning_rate",
        "train_batch_size",
        "train_patch_shape",
        "n2v_patch_shape",
        "n2v_perc_pix",
        "n2v_manipulator",
    )
    return {
        "dimensionality": int(config.get("n_dim", 2)),
        "channels": int(config.get("n_channel_in", 1)),
        "method": _method(config, framework),
        "framework": framework,
        "hyperparameters": {k: config[k] for k in keys if config.get(k) is not None},
    }
