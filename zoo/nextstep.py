"""What to do when no model fits an image: adapt the closest one, or use a classic filter.

``zoo match``, ``zoo check`` and ``zoo run`` end with this when the verdict is ``mismatch``:
the ``zoo adapt`` command for the closest model with its default time budget, and the
Gaussian filter to try, its sigma chosen without a target (the lowest J-invariant loss,
Noise2Self, on the image's central 256² pixels: a fraction of a second). Its estimated gain
over the raw image is given only when the trial ran (``--trial``): the plain check stays
cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from zoo.domain import DomainReport
    from zoo.imageio import Image
    from zoo.trial import Trial

__all__ = ["MAX_MINUTES", "MINUTES_512", "NextStep", "default_minutes", "next_step", "refusal_hint"]

_CROP = 256

MINUTES_512 = 10.0
"""Default budget for one 512 × 512 image on 2 cores."""
MAX_MINUTES = 40.0
"""The default budget's ceiling (a 2048² image, or several 1024² ones)."""


def default_minutes(pixels: int) -> float:
    """The default budget in minutes for images of ``pixels`` pixels in all: 10 for 512²,
    × √(pixels / 512²), at most :data:`MAX_MINUTES` (2048² and beyond get 40)."""
    return float(min(MAX_MINUTES, MINUTES_512 * np.sqrt(max(pixels, 1) / 512**2)))


@dataclass(frozen=True)
class NextStep:
    """The way forward for an image no model fits."""

    model: str
    """The closest model, ``id@version``."""
    image: str
    """The image file, as the user named it."""
    minutes: float
    """``zoo adapt``'s default budget for this image (2 cores)."""
    sigma: float
    """The Gaussian filter's sigma (pixels), chosen without a target."""
    gain_db: float | None = None
    """The filter's estimated gain over the raw image (dB), from the trial; None without it."""
    channel: int | None = None
    """The one channel of the image the user picked (``--channel``)."""

    @property
    def adapt_command(self) -> str:
        pick = "" if self.channel is None else f" --channel {self.channel}"
        return f"zoo adapt {self.model} {self.image}{pick} -o {Path(self.image).stem}.adapted.zip"

    def lines(self) -> list[str]:
        """For a person, one suggestion a line."""
        gain = (
            "" if self.gain_db is None else f", estimated {self.gain_db:+.1f} dB over the raw image"
        )
        return [
            "next step: fit the closest model to this image (no clean image needed, about "
            f"{self.minutes:.0f} min on 2 cores):",
            f"  {self.adapt_command}",
            f"or a classic filter: Gaussian, sigma {self.sigma:g} px (chosen without a "
            f"target{gain}; e.g. Fiji: Process > Filters > Gaussian Blur)",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "adapt_command": self.adapt_command,
            "adapt_minutes": round(self.minutes, 1),
            "filter": {
                "name": "gaussian",
                "sigma_px": self.sigma,
                "estimated_gain_db": self.gain_db,
            },
        }


def next_step(
    model: str,
    image: str | Path,
    plane: np.ndarray,
    trial: Trial | None = None,
    *,
    channel: int | None = None,
) -> NextStep:
    """The next step for ``plane`` (the image's 2D plane) of file ``image`` (its ``channel``),
    ``model`` being the closest (``id@version``); ``trial`` (of that model on the image)
    gives the filter."""
    if trial is not None:
        sigma = trial.gaussian_sigma
        gain = (
            float(10 * np.log10(trial.noise_variance / trial.gaussian_mse))
            if trial.gaussian_mse > 0 and trial.noise_variance > 0
            else None
        )
    else:
        sigma, gain = _blind_sigma(plane), None
    return NextStep(model, str(image), default_minutes(plane.size), sigma, gain, channel)


def _blind_sigma(plane: np.ndarray) -> float:
    """The sigma of the Gaussian with the lowest J-invariant loss (its centre weight removed,
    Noise2Self) on the central 256² pixels."""
    from scipy import ndimage

    from zoo.trial import TRIAL_SIGMAS, gaussian_centre_weight

    y0, x0 = (max(0, (n - _CROP) // 2) for n in plane.shape)
    y = np.asarray(plane[y0 : y0 + _CROP, x0 : x0 + _CROP], dtype=np.float64)

    def loss(sigma: float) -> float:
        centre = gaussian_centre_weight(sigma)
        donut = (ndimage.gaussian_filter(y, sigma, mode="reflect") - centre * y) / (1 - centre)
        return float(np.mean((donut - y) ** 2))

    return min(TRIAL_SIGMAS, key=loss)


def refusal_hint(
    report: DomainReport,
    model: str,
    path: str | Path,
    image: Image,
    channel: int | None,
    force: bool,
) -> str:
    """The lines a refused mismatch ends with ("" when the run is not refused for a mismatch
    of the statistics: forced, or an image the model cannot take at all)."""
    from zoo.trial import plane_of

    if report.verdict != "mismatch" or force or report.incompatible():
        return ""
    step = next_step(model, path, plane_of(image), channel=channel)
    return "\n" + "\n".join(step.lines())
