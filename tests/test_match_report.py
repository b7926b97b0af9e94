"""`zoo match` ranks a registry's models for an image; `zoo report` writes the HTML page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from zoo.cli import app
from zoo.fingerprint import fingerprint
from zoo.imageio import read_image
from zoo.inference import _test_tensors
from zoo.package import load_package, save_package, with_card
from zoo.registry import Registry
from zoo.spec import ZooCard

BACTERIA = "images/other/bacteria_noisy_avg1_16bit.png"


def zoo(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def two_model_registry(
    example_zip: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The example model, and the same weights carded for real 16-bit bacteria images."""
    root = tmp_path_factory.mktemp("registry")
    registry = Registry(root, cache=tmp_path_factory.mktemp("cache"))
    registry.publish(example_zip, model_id="ihc")
    package = load_package(example_zip)
    bacteria = read_image(shared_data / BACTERIA).data
    card = package.card.model_dump(mode="json")
    card["domain"].update(modality="widefield", dtype="uint16", structures=["bacteria"])
    card["fingerprint"] = fingerprint([bacteria[:, :256]]).model_dump(mode="json")
    descr = with_card(package.descr, ZooCard.model_validate(card))
    zipped = save_package(descr, tmp_path_factory.mktemp("pkg") / "bacteria.zip")
    registry.publish(zipped, model_id="bacteria")
    return root


@pytest.fixture()
def own_input(example_zip: Path, tmp_path: Path) -> Path:
    x, _ = _test_tensors(load_package(example_zip))
    np.save(tmp_path / "own.npy", x[0, 0])
    return tmp_path / "own.npy"


def test_match_ranks_the_models_domain_first(
    two_model_registry: Path, own_input: Path, shared_data: Path, tmp_path: Path
) -> None:
    args = ("--registry", two_model_registry, "--cache", tmp_path / "c", "--json")
    code, output = zoo("match", own_input, *args)
    assert code == 0, output
    ranking = json.loads(output)
    assert [m["id"] for m in ranking] == ["ihc", "bacteria"]
    assert ranking[0]["verdict"] == "match" and ranking[1]["verdict"] == "mismatch"
    assert ranking[0]["score"] < ranking[1]["score"]
    assert ranking[1]["reasons"] and all("expected" in r for r in ranking[1]["reasons"])
    right_half = tmp_path / "bacteria_right.npy"
    np.save(right_half, read_image(shared_data / BACTERIA).data[:, 256:])
    ranking = json.loads(zoo("match", right_half, *args)[1])
    assert [m["id"] for m in ranking] == ["bacteria", "ihc"]
    assert ranking[0]["verdict"] == "match"


def test_match_measures_the_image_once_for_all_models(
    two_model_registry: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zoo.checks
    import zoo.fingerprint
    from zoo.domain import check_image
    from zoo.match import rank_models

    image = read_image(shared_data / BACTERIA)
    registry = Registry(two_model_registry, cache=tmp_path / "c")
    calls = {"statistics": 0, "polarity": 0}

    def counted(name: str, module: object, attr: str) -> None:
        real = getattr(module, attr)

        def wrapper(*args: object, **kwargs: object) -> object:
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, attr, wrapper)

    counted("statistics", zoo.fingerprint, "image_statistics")
    counted("polarity", zoo.checks, "polarity")
    ranking = rank_models(image, registry)
    assert len(ranking) == 2 and calls == {"statistics": 1, "polarity": 1}
    for m in ranking:  # the same verdicts as each model's own check
        report = check_image(registry.load(f"{m.id}@{m.version}"), image)
        assert (m.verdict, m.score) == (report.verdict, pytest.approx(report.score))


def test_match_top_and_table(two_model_registry: Path, own_input: Path, tmp_path: Path) -> None:
    args = ("--registry", two_model_registry, "--cache", tmp_path / "c")
    ranking = json.loads(zoo("match", own_input, *args, "--json", "--top", "1")[1])
    assert [m["id"] for m in ranking] == ["ihc"]
    code, output = zoo("match", own_input, *args)
    assert code == 0 and "ihc" in output and "bacteria" in output and "mismatch" in output


def test_match_skips_fully_yanked_models(example_zip: Path, own_input: Path, tmp_path: Path):
    registry = Registry(tmp_path / "reg", cache=tmp_path / "c")
    registry.publish(example_zip, model_id="gone")
    registry.yank(f"gone@{load_package(example_zip).descr.version}", "test")
    code, output = zoo("match", own_input, "--registry", tmp_path / "reg", "--json")
    assert code == 0 and json.loads(output) == []


def test_report_writes_a_self_contained_page(
    example_zip: Path, own_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    code, output = zoo("report", example_zip, own_input, "-o", out)
    assert code == 0, output
    page = out.read_text()
    for expected in (
        "Domain check: <span class=\"verdict\">match</span>",
        "noisy input", "denoised", "removed (noisy − denoised)",
        "gaussian σ=1", "median 3×3", "top-hat", "Consistency map", "noise_corr_x", "<svg",
    ):  # fmt: skip
        assert expected in page, expected
    assert "http://" not in page and "https://" not in page  # nothing to fetch when viewed
    assert page.count("data:image/png;base64,") >= 7
    stamp = out.read_bytes()
    code, output = zoo("report", example_zip, own_input, "-o", out)
    assert code == 2 and "--overwrite" in output and out.read_bytes() == stamp


def test_report_of_a_bad_image_writes_nothing(example_zip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((64, 64), np.inf, np.float32))
    code, output = zoo("report", example_zip, bad, "-o", tmp_path / "r.html")
    assert code == 2 and "inf" in output.lower()
    assert not (tmp_path / "r.html").exists()


def test_match_table_explains_the_score(
    two_model_registry: Path, own_input: Path, tmp_path: Path
) -> None:
    code, output = zoo("match", own_input, "--registry", two_model_registry, "--cache",
                       tmp_path / "c")  # fmt: skip
    assert code == 0, output
    assert "score: lower is better: 0 = every check inside the training data's range" in output


def test_report_follows_runs_rule_and_puts_the_verdict_first(
    example_zip: Path, own_input: Path, tmp_path: Path
) -> None:
    """A mismatch is refused like `zoo run` (same message, exit 4, nothing written) unless
    --force; an image the model cannot take is refused even then."""
    x = np.load(own_input)
    noisy = x + np.random.default_rng(0).normal(0, 3 * x.std(), x.shape).astype(np.float32)
    np.save(tmp_path / "noisier.npy", noisy)
    out = tmp_path / "r.html"
    code, refused = zoo("report", example_zip, tmp_path / "noisier.npy", "-o", out)
    assert code == 4 and not out.exists(), refused
    run_code, run_refused = zoo("run", example_zip, tmp_path / "noisier.npy", "-o",
                                tmp_path / "o.tif")  # fmt: skip
    assert run_code == code and refused == run_refused
    assert "Use --force to run anyway" in refused
    code, output = zoo("report", example_zip, tmp_path / "noisier.npy", "-o", out, "--force")
    assert code == 0, output
    page = out.read_text()
    top = page.index('class="summary"')
    assert top < page.index("<table") and top < page.index("<h2>")
    assert 'Verdict: <span class="verdict">mismatch</span>' in page[top:]
    assert "It was run anyway (--force)" in page and "lower is better" in page
    rgb = tmp_path / "rgb.npy"
    np.save(rgb, np.stack([x, x, x], axis=-1).astype(np.float32))
    code, output = zoo("report", example_zip, rgb, "-o", tmp_path / "rgb.html", "--force")
    assert code == 4 and "--channel N" in output and not (tmp_path / "rgb.html").exists()


def test_report_tells_its_progress_and_runs_the_slow_baselines_on_a_crop(
    example_zip: Path, own_input: Path, tmp_path: Path
) -> None:
    from zoo.report import SLOW_CROP, write_report
    from zoo.runner import open_model

    x = np.load(own_input)
    wide = tmp_path / "wide.npy"
    np.save(wide, np.tile(x, (1, 3))[:, : SLOW_CROP + 88])  # 256 × 600
    steps: list[tuple[str, int, int]] = []
    page = write_report(open_model(example_zip), wide, tmp_path / "w.html",
                        progress=lambda *s: steps.append(s)).read_text()  # fmt: skip
    names = [s[0] for s in steps]
    assert names[:2] == ["checking the image", "denoising"] and "BM3D" in names
    assert names[-3:-1] == ["consistency map", "trial"] and steps[-1][1] == steps[-1][2]
    assert "Trial: does the model beat a Gaussian filter here?" in page
    assert [s[1] for s in steps] == list(range(len(steps)))
    assert f"BM3D (central 256 × {SLOW_CROP} crop)" in page
    assert "gaussian σ=1 (central" not in page  # the fast ones see the whole plane
