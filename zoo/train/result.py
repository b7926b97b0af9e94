"""A trained model: :class:`TrainResult` (best weights, normalisation, history), how it is
saved (``weights.pt`` + ``training.json``) and read back, and how it denoises."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ImportFailedError, require
from zoo.train.config import TrainConfig

__all__ = [
    "ARCHITECTURE",
    "META_FILE",
    "WEIGHTS_FILE",
    "TrainResult",
    "load_trained",
    "percentile_map",
]

ARCHITECTURE = "careamics-unet"
WEIGHTS_FILE = "weights.pt"
META_FILE = "training.json"


@dataclass
class TrainResult:
    """A trained model: the best weights, how to rebuild it, and how training went."""

    config: TrainConfig
    state_dict: dict[str, Any]
    """Best weights (torch tensors), keys of the CAREamics UNet."""
    mean: float
    """Input (and target) normalisation: mean of the training images."""
    std: float
    """… and their standard deviation."""
    history: list[dict[str, float]] = field(default_factory=list)
    """One entry per evaluation: step, train_loss (mean since the last), val_loss."""
    best_step: int = 0
    best_val_loss: float = float("inf")
    seconds: float = 0.0
    """Wall-clock training time."""
    n_images: int = 0
    framework: str = ""

    def module(self) -> Any:
        """A fresh UNet with the best weights, in eval mode."""
        from zoo.export.importers import load_architecture

        _path, cls = load_architecture(ARCHITECTURE)
        module = cls(**self.config.arch_kwargs())
        module.load_state_dict(self.state_dict, strict=True)
        return module.eval()

    def imported_model(self, source: str = "") -> Any:
        """The model as :class:`~zoo.export.builder.ImportedModel`, ready for build_package."""
        from zoo.export.builder import ImportedModel
        from zoo.export.importers import load_architecture, mean_std_processing

        path, _cls = load_architecture(ARCHITECTURE)
        pre, post = mean_std_processing([self.mean], [self.std])
        percentile = self.config.normalisation == "percentile"
        if percentile:
            pre, post = self.config.preprocessing(), []
        return ImportedModel(
            module=self.module(),
            architecture=path,
            callable="UNet",
            kwargs=self.config.arch_kwargs(),
            method=self.config.method,
            framework=self.framework,
            preprocessing=pre,
            postprocessing=post,
            spatial_axes="yx",
            channels=1,
            size_step=2**self.config.depth,
            source=source or f"zoo train {self.config.method} (seed {self.config.seed})",
            output_units="input" if percentile else None,
        )

    def denoise(self, image: np.ndarray) -> np.ndarray:
        """The trained model on a whole 2D image, normalised as its package will do it; the
        result in the image's grey values."""
        from zoo.train.evaluate import predict

        step = 2**self.config.depth
        if self.config.normalisation == "dataset":
            return predict(self.module(), image, mean=self.mean, std=self.std, step=step)
        pre = percentile_map(image, self.config)
        out = predict(self.module(), pre(image[None, None])[0, 0], mean=0.0, std=1.0, step=step)
        return pre.inverse()(out[None, None])[0, 0]

    def save(self, folder: str | Path) -> Path:
        """Write ``weights.pt`` (a plain state dict) and ``training.json`` into ``folder``.

        ``training.json`` holds what ``zoo package --from state-dict`` needs (architecture,
        kwargs, method, mean, std) plus the config and history.
        """
        torch = require("torch", "export")
        from zoo.files import atomic_path

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / WEIGHTS_FILE) as tmp:
            torch.save(self.state_dict, tmp)
        meta = {
            "architecture": ARCHITECTURE,
            "kwargs": self.config.arch_kwargs(),
            "method": self.config.method,
            "mean": [self.mean],
            "std": [self.std],
            "normalisation": self.config.normalisation,
            "framework": self.framework,
            "config": asdict(self.config),
            "best_step": self.best_step,
            "best_val_loss": self.best_val_loss,
            "seconds": self.seconds,
            "n_images": self.n_images,
            "history": self.history,
        }
        with atomic_path(folder / META_FILE) as tmp:
            tmp.write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    def package_command(self, folder: str | Path) -> str:
        """The ``zoo package`` command line that packages a saved result."""
        folder = Path(folder)
        kwargs = json.dumps(self.config.arch_kwargs(), separators=(",", ":"))
        if self.config.normalisation == "percentile":
            lo, hi = self.config.percentiles
            norm = f"--percentiles {lo!r} {hi!r}"
        else:
            norm = f"--mean {self.mean!r} --std {self.std!r}"
        return (
            f"zoo package --from state-dict {folder / WEIGHTS_FILE} --arch {ARCHITECTURE} "
            f"--arch-kwargs '{kwargs}' --method {self.config.method} "
            f"{norm} --card CARD.yaml --image EXAMPLE.tif -o model.zip"
        )


def load_trained(folder: str | Path) -> TrainResult:
    """Read back what :meth:`TrainResult.save` wrote (weights loaded with weights_only)."""
    torch = require("torch", "export")
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text())
        known = {f.name for f in fields(TrainConfig)}
        settings = {k: v for k, v in meta["config"].items() if k in known}
        if "percentiles" in settings:
            settings["percentiles"] = tuple(settings["percentiles"])
        config = TrainConfig(**settings)
        state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ImportFailedError(
            f"{folder} is not a zoo training output ({META_FILE} + {WEIGHTS_FILE}): {exc}"
        ) from exc
    return TrainResult(
        config=config,
        state_dict=dict(state),
        mean=float(meta["mean"][0]),
        std=float(meta["std"][0]),
        history=list(meta.get("history", [])),
        best_step=int(meta.get("best_step", 0)),
        best_val_loss=float(meta.get("best_val_loss", float("inf"))),
        seconds=float(meta.get("seconds", 0.0)),
        n_images=int(meta.get("n_images", 0)),
        framework=str(meta.get("framework", "")),
    )


def percentile_map(image: np.ndarray, config: TrainConfig) -> Any:
    """``image``'s per-image normalisation (a :class:`~zoo.processing.BoundProcessing` on
    (1, 1, y, x) arrays), exactly as its package's preprocessing will compute it."""
    from zoo.processing import bind_processing, parse_processing

    steps = parse_processing("pre", config.preprocessing())
    return bind_processing(steps, "bcyx", np.asarray(image)[None, None])
