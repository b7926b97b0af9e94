"""``zoo report``: one self-contained HTML page that shows what a model does to an image.

Noisy input, the model's output and what it removed (noisy − denoised), next to classic
baselines (Gaussian, median, non-local means and BM3D where installed, top-hat background
removal); the domain check with a plot of each statistic against the model's expected range;
and the consistency map. Without a clean target no PSNR can be given; instead each method's
*residual* (what it removed) is summarised: a faithful denoiser removes noise only, so its
residual has the noise's level and no spatial correlation or structure.

The page embeds its images (PNG, base64) and needs no network to view.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from zoo import __version__
from zoo.domain import (
    LEARNED_MEANING,
    SCORE_MEANING,
    Check,
    DomainReport,
    format_expected,
    format_value,
)
from zoo.files import atomic_path
from zoo.imageio import read_image
from zoo.inference import trusted_predictor
from zoo.runner import ModelRef
from zoo.tiling import default_tiling, predict_tiled

__all__ = ["baselines", "write_report"]

Method = Callable[[np.ndarray, float], np.ndarray]


def _nl_means(x: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(x, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6)


def _bm3d(x: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d

    return np.asarray(bm3d.bm3d(x, sigma_psd=sigma), np.float32)


def baselines() -> dict[str, Method | str]:
    """Classic methods by name; a string instead of a method says why it is unavailable."""
    methods: dict[str, Method | str] = {
        "gaussian σ=1": lambda x, s: ndimage.gaussian_filter(x, 1.0),
        "gaussian σ=2": lambda x, s: ndimage.gaussian_filter(x, 2.0),
        "median 3×3": lambda x, s: ndimage.median_filter(x, 3),
        "top-hat (background removed)": lambda x, s: ndimage.white_tophat(x, size=25),
    }
    for name, module, method in (
        ("non-local means", "skimage", _nl_means),
        ("BM3D", "bm3d", _bm3d),
    ):
        try:
            __import__(module)
            methods[name] = method
        except ImportError:
            methods[name] = (
                f"not installed (pip install {'scikit-image' if module == 'skimage' else module})"
            )
    return methods


def _png(plane: np.ndarray, *, signed: bool = False, heat: bool = False) -> str:
    """A 2D array as a base64 PNG, contrast-stretched (signed: symmetric around 0)."""
    from PIL import Image as PILImage

    x = np.asarray(plane, np.float64)
    if signed:
        m = float(np.percentile(np.abs(x), 99.5)) or 1.0
        u = np.clip(0.5 + x / (2 * m), 0, 1)
    else:
        lo, hi = np.percentile(x, [0.5, 99.5])
        u = np.clip((x - lo) / ((hi - lo) or 1.0), 0, 1)
    if heat:  # black → red → yellow → white
        rgb = np.stack([np.clip(3 * u, 0, 1), np.clip(3 * u - 1, 0, 1), np.clip(3 * u - 2, 0, 1)])
        img = PILImage.fromarray((rgb.transpose(1, 2, 0) * 255).astype(np.uint8), "RGB")
    else:
        img = PILImage.fromarray((u * 255).astype(np.uint8), "L")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass(frozen=True)
class Residual:
    """What one method removed from the image: its level, lag-1 correlation and time."""

    method: str
    residual_std: float
    """Standard deviation of noisy − denoised, in grey values."""
    corr: tuple[float, float]
    """Lag-1 correlation of the residual along x and along y."""
    seconds: float


def _residual_row(name: str, noisy: np.ndarray, out: np.ndarray, seconds: float) -> Residual:
    r = np.asarray(noisy, np.float64) - out
    r = r - r.mean()
    corr = (
        float(np.sum(r[:, :-1] * r[:, 1:]) / (np.sum(r * r) or 1.0)),
        float(np.sum(r[:-1] * r[1:]) / (np.sum(r * r) or 1.0)),
    )
    return Residual(name, float(r.std()), corr, seconds)


def _range_svg(check: Check) -> str:
    """A small bar: the expected range in grey, the measured value as a coloured tick."""
    expected = check.expected if isinstance(check.expected, list) else []
    low, high = [*expected, None, None][:2]
    value = check.measured
    if check.kind != "statistics" or not isinstance(value, int | float):
        return ""
    known = [v for v in (low, high, value) if v is not None]
    a, b = min(known), max(known)
    pad = (b - a) * 0.15 or abs(a) * 0.15 or 1.0
    a, b = a - pad, b + pad

    def px(v: float) -> float:
        return 4 + 192 * (v - a) / (b - a)

    lo_x = px(low) if low is not None else 0.0
    hi_x = px(high) if high is not None else 200.0
    colour = {"ok": "#2a2", "warn": "#d90", "fail": "#c22"}.get(check.status, "#888")
    return (
        f'<svg width="200" height="18" role="img" aria-label="{html.escape(check.name)}">'
        f'<rect x="{lo_x:.1f}" y="5" width="{max(hi_x - lo_x, 1):.1f}" height="8" fill="#ccc"/>'
        f'<rect x="{px(value) - 1.5:.1f}" y="1" width="3" height="16" fill="{colour}"/></svg>'
    )


SLOW_CROP = 512
"""The slow baselines (BM3D, non-local means) run on a central crop of at most this many
pixels a side, so that a report on a 1024² image takes seconds, not a minute; the page says
so beside their panels and rows."""

SLOW = ("non-local means", "BM3D")

Progress = Callable[[str, int, int], None]
"""A report's progress: (step, steps done, steps in all)."""


def write_report(
    model: ModelRef,
    image_path: str | Path,
    output: str | Path,
    *,
    axes: str | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
    modality: str | None = None,
    channel: int | None = None,
    force: bool = False,
    overwrite: bool = False,
    weight_format: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the HTML report for one image (its middle plane for stacks); returns its path.

    The check comes first and follows :func:`zoo.runner.refuse`, as ``zoo run`` does: a
    mismatch is refused (nothing written) unless ``force``, an image the model cannot take
    always. ``progress`` is told each step (check, model, each baseline, consistency)."""
    from zoo.checks import representative_plane
    from zoo.errors import OutputExistsError
    from zoo.fingerprint import image_statistics
    from zoo.runner import check_or_refuse

    out = Path(output)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    methods = baselines()
    steps = ["checking the image", "denoising", *methods, "consistency map", "trial"]

    def step(n: int) -> None:
        if progress:
            progress(steps[n] if n < len(steps) else "writing", n, len(steps))

    step(0)
    image = read_image(image_path, axes=axes, pixel_size=pixel_size, channel=channel)
    report = check_or_refuse(
        model, image, Path(image_path), modality=modality, force=force, channel=channel
    )
    plane = representative_plane(image).astype(np.float32)
    sigma = image_statistics(plane)["noise_sigma"].value
    step(1)
    predictor, _ = trusted_predictor(model.package, weight_format=weight_format)
    tiling = default_tiling(model.package)

    def denoise(p: np.ndarray) -> np.ndarray:
        return predict_tiled(predictor, p[np.newaxis], tiling=tiling)[0]

    t0 = time.perf_counter()
    denoised = denoise(plane)
    rows = [_residual_row(f"{model.id} ({predictor.weight_format})", plane, denoised,
                          time.perf_counter() - t0)]  # fmt: skip
    panels = [("noisy input", _png(plane)), ("denoised", _png(denoised)),
              ("removed (noisy − denoised)", _png(plane - denoised, signed=True))]  # fmt: skip
    unavailable = _run_baselines(methods, plane, sigma, rows, panels, lambda n: step(2 + n))
    step(len(steps) - 2)
    cons_html = _consistency_html(denoise, plane)
    step(len(steps) - 1)
    cons_html += _trial_html(predictor, plane)
    step(len(steps))
    page = _page(model, Path(image_path), report, panels, rows, unavailable, cons_html, sigma,
                 forced=force and report.verdict == "mismatch")  # fmt: skip
    with atomic_path(out, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


def _central_crop(plane: np.ndarray, side: int) -> np.ndarray:
    """The central ``side`` × ``side`` part of ``plane`` (all of it when smaller)."""
    h, w = plane.shape
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return plane[top : top + side, left : left + side]


def _run_baselines(
    methods: dict[str, Method | str],
    plane: np.ndarray,
    sigma: float,
    rows: list[Residual],
    panels: list[tuple[str, str]],
    step: Callable[[int], None],
) -> list[str]:
    """Run each classic method (the slow ones on a central crop), adding its row and panel;
    returns what is unavailable."""
    unavailable = []
    for n, (name, method) in enumerate(methods.items()):
        step(n)
        if isinstance(method, str):
            unavailable.append(f"{name}: {method}")
            continue
        x = _central_crop(plane, SLOW_CROP) if name in SLOW else plane
        label = name
        if x.shape != plane.shape:
            label = f"{name} (central {x.shape[0]} × {x.shape[1]} crop)"
        t0 = time.perf_counter()
        result = np.asarray(method(x, sigma), np.float32)
        rows.append(_residual_row(label, x, result, time.perf_counter() - t0))
        panels.append((label, _png(result)))
    return unavailable


def _consistency_html(denoise: Callable[[np.ndarray], np.ndarray], plane: np.ndarray) -> str:
    from zoo.consistency import consistency

    try:
        cons = consistency(denoise, plane)
    except Exception as exc:  # the report still says everything else
        return f"<p>Not computed: {html.escape(str(exc))}</p>"
    return (
        f"<p>Score {cons.score:.2f} (0: the model agrees with itself on two noisy views; "
        f"1: they differ as much as the noise). Noise σ {cons.noise_sigma:.3g}.</p>"
        f'<img src="{_png(cons.map, heat=True)}" alt="consistency map">'
    )


def _trial_html(predictor: Any, plane: np.ndarray) -> str:
    """The no-reference trial (zoo.trial) as a section of the page."""
    from zoo.trial import run_trial

    try:
        found = run_trial(predictor, plane)
    except Exception as exc:  # the report still says everything else
        return f"<h2>Trial</h2><p>Not computed: {html.escape(str(exc))}</p>"
    return (
        "<h2>Trial: does the model beat a Gaussian filter here?</h2>"
        f"<p class='trial'>{html.escape(found.summary())}. Estimated error against the "
        f"noise-free image (SURE, no clean image needed): model {found.model_mse:.4g}, "
        f"Gaussian {found.gaussian_mse:.4g}; noise variance {found.noise_variance:.4g}.</p>"
    )


def _page(model, image_path, report: DomainReport, panels, rows, unavailable, cons_html, sigma,  # type: ignore[no-untyped-def]
          *, forced: bool):  # fmt: skip
    e = html.escape
    forced_note = " It was run anyway (--force): read the output with care." if forced else ""
    colour = {"match": "#2a2", "caution": "#d90", "mismatch": "#c22"}[report.verdict]
    checks = "".join(
        f"<tr class='{c.status}'><td>{e(c.name)}</td><td>{c.status}</td>"
        f"<td>{e(format_value(c.measured))}</td><td>{e(format_expected(c.expected))}</td>"
        f"<td>{_range_svg(c)}</td>"
        f"<td>{e(c.message)}</td></tr>"
        for c in report.checks
    )
    figures = "".join(
        f'<figure><img src="{src}" alt="{e(name)}"><figcaption>{e(name)}</figcaption></figure>'
        for name, src in panels
    )
    table = "".join(
        f"<tr><td>{e(r.method)}</td><td>{r.residual_std:.4g}</td>"
        f"<td>{r.corr[0]:+.3f} / {r.corr[1]:+.3f}</td><td>{r.seconds:.2f}</td></tr>"
        for r in rows
    )
    missing = "".join(f"<li>{e(u)}</li>" for u in unavailable)
    notes = "".join(f"<li>{e(n)}</li>" for n in report.notes)
    learned = (
        "" if report.learned is None
        else f" learned score {report.learned:.2f} ({e(LEARNED_MEANING)}),"
    )  # fmt: skip
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>zoo report: {e(model.id)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
figure{{display:inline-block;margin:4px;text-align:center}}figure img{{width:270px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:3px 6px;font-size:90%}}
tr.warn{{background:#fff4d6}}tr.fail{{background:#fde0e0}}.verdict{{color:{colour}}}</style>
</head><body>
<h1>{e(image_path.name)} with {e(model.id)}@{e(model.version)}</h1>
<p class="summary"><b>Verdict: <span class="verdict">{report.verdict}</span></b>,{learned}
score {report.score:.2f} ({e(SCORE_MEANING)}).{forced_note} The checks are below.</p>
<p>zoo {__version__}; model sha256 <code>{e(model.sha256)}</code>; source {e(model.source)}.</p>
<h2>Domain check: <span class="verdict">{report.verdict}</span> (score {report.score:.2f},
lower is better)</h2>
<p>Reference: {e(report.reference)}.</p><ul>{notes}</ul>
<table><tr><th>check</th><th>status</th><th>measured</th><th>expected</th><th>range</th>
<th>what it means</th></tr>{checks}</table>
<h2>Images</h2>{figures}
<h2>What each method removed</h2>
<p>Noise σ of the input ≈ {sigma:.4g}. A method that removes only noise leaves a residual of
about that σ with lag-1 correlations near 0; structure in the residual (correlation, a
visible pattern in "removed") means signal was removed or altered. The slow methods
({", ".join(SLOW)}) run on a central crop of at most {SLOW_CROP} × {SLOW_CROP} pixels, their
rows and panels on that crop.</p>
<table><tr><th>method</th><th>residual σ</th><th>residual corr x / y</th><th>seconds</th></tr>
{table}</table><ul>{missing}</ul>
<h2>Consistency map</h2>{cons_html}
</body></html>
"""
