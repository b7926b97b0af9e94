"""``zoo adapt``: a model fine-tuned on the user's own images, without clean targets, into a
normal package that records its lineage."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from typer.testing import CliRunner

from tests.test_intensity_invariance import TINY, scene
from zoo.adapt import AdaptConfig, adapt, default_id, default_minutes, image_sha256, package_adapted
from zoo.cli import app
from zoo.errors import ImageError
from zoo.package import load_package
from zoo.registry import Registry
from zoo.runner import open_model, run
from zoo.train import TrainConfig, train
from zoo_bench.fixtures import card_dict

FAST = AdaptConfig(steps=12, val_every=6, batch_size=4, threads=1)


def make_parent(folder: Path) -> Path:
    """A tiny CARE parent (per-image percentiles), packaged as zoo train's output is."""
    from zoo.export.builder import build_package
    from zoo.spec import ZooCard

    pairs = [scene(s) for s in range(2)]
    result = train(
        [n for n, _ in pairs], [c for _, c in pairs], config=TrainConfig(method="care", **TINY)
    )
    out = folder / "parent.zip"
    card = card_dict(method={"name": "care", "framework": result.framework})
    build_package(result.imported_model(), ZooCard.model_validate(card), pairs[0][0], out,
                  name="tiny-parent", description="test parent", authors=["zoo tests"],
                  license="MIT", version="1.2.0")  # fmt: skip
    return out


def make_adapted(parent: Path, image: np.ndarray, folder: Path) -> Path:
    """``parent`` adapted to ``image`` in a few steps, packaged."""
    adapted = adapt(open_model(parent), [image], FAST)
    return package_adapted(adapted, folder / "adapted.zip").path


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_parent(tmp_path_factory.mktemp("parent"))


@pytest.fixture(scope="module")
def user_image() -> np.ndarray:
    return scene(11, (192, 160))[0]


@pytest.fixture(scope="module")
def adapted_zip(
    parent: Path, user_image: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return make_adapted(parent, user_image, tmp_path_factory.mktemp("adapted"))


def test_the_default_budget_scales_with_the_pixels() -> None:
    assert default_minutes(512 * 512) == 10
    assert default_minutes(1024 * 1024) == 20
    assert default_minutes(2048 * 2048) == 40 and default_minutes(8192 * 8192) == 40


def test_the_card_records_the_lineage_and_never_the_paths(
    adapted_zip: Path, parent: Path, user_image: np.ndarray
) -> None:
    from zoo.hashes import sha256_file

    card = load_package(adapted_zip).card
    assert card is not None and card.lineage is not None
    lineage = card.lineage
    assert lineage.parent == "tiny-parent@1.2.0"
    assert lineage.parent_sha256 == sha256_file(parent)
    assert lineage.adaptation.loss == "n2v2"  # a CARE parent: N2V2's blind spot
    assert lineage.adaptation.steps == 12 and lineage.adaptation.seed == 0
    assert 0 <= lineage.adaptation.best_step <= 12
    [image] = lineage.images
    assert image.sha256 == image_sha256(user_image) and image.shape == [192, 160]
    assert image.fingerprint is not None and card.fingerprint is not None
    assert (
        card.method.name == "n2v2" and card.method.hyperparameters["parent"] == "tiny-parent@1.2.0"
    )
    assert [m.method for m in card.validation.metrics][:2] == ["model", "parent tiny-parent@1.2.0"]
    with zipfile.ZipFile(adapted_zip) as z:
        rdf = z.read("rdf.yaml").decode()
    assert "tmp" not in rdf and "scene" not in rdf  # no path of the user's files


def test_the_default_id_is_the_parent_and_the_images_hash(
    adapted_zip: Path, user_image: np.ndarray
) -> None:
    card = load_package(adapted_zip).card
    assert card is not None and card.lineage is not None
    expected = default_id("tiny-parent", card.lineage.images)
    assert load_package(adapted_zip).name == expected
    assert expected.startswith("tiny-parent-adapted-") and len(expected.rsplit("-", 1)[1]) == 8


def test_it_is_never_estimated_worse_than_the_parent(parent: Path, user_image: np.ndarray) -> None:
    adapted = adapt(open_model(parent), [user_image], FAST)
    assert adapted.heldout["adapted"] <= adapted.heldout["parent"]
    assert adapted.history[0]["step"] == 0 and adapted.history[-1]["step"] == 12


def correlated_image(axis: int, seed: int = 12) -> np.ndarray:
    """A scene whose noise is correlated (0.5) between neighbours along ``axis`` (1: x)."""
    _, clean = scene(seed, (192, 160))
    white = np.random.default_rng(seed).normal(0, 8, (193, 161))
    noise = white[1:, 1:] + (white[1:, :-1] if axis == 1 else white[:-1, 1:])
    return np.clip(np.round(clean + noise / np.sqrt(2)), 0, 255).astype(np.uint8)


def test_the_blind_spot_hides_the_axis_along_which_the_noise_is_correlated(
    parent: Path, user_image: np.ndarray
) -> None:
    from zoo.adapt.network import correlated_axis, loss_of
    from zoo.errors import SpecError
    from zoo.fingerprint import fingerprint

    ref = open_model(parent)
    for axis, name in ((1, "x"), (0, "y")):
        found = fingerprint([correlated_image(axis)])
        assert correlated_axis(found) == name
        loss, masking = loss_of(ref, FAST, found)
        assert (loss, masking.struct_axis, masking.struct_span) == ("structn2v", name, 5)
        assert loss_of(ref, AdaptConfig(loss="n2v2"), found)[0] == "n2v2"  # asked for
    white = fingerprint([user_image])
    assert correlated_axis(white) is None
    loss, masking = loss_of(ref, FAST, white)
    assert (loss, masking.struct_axis) == ("n2v2", None)
    with pytest.raises(SpecError, match="struct_axis"):
        loss_of(ref, AdaptConfig(loss="structn2v"), white)


def test_a_structn2v_adaptation_says_so_in_its_card(parent: Path, tmp_path: Path) -> None:
    from zoo.train.masking import struct_mask_rows

    image = correlated_image(1)
    adapted = adapt(open_model(parent), [image], FAST)
    assert adapted.loss_description == "structn2v (a line of 5 px along x)"
    zipped = package_adapted(adapted, tmp_path / "s.zip").path
    card = load_package(zipped).card
    assert card is not None and card.lineage is not None
    assert card.method.name == "structn2v" and card.lineage.adaptation.loss == "structn2v"
    assert card.method.hyperparameters["struct_axis"] == "x"
    assert card.noise.structn2v_mask == struct_mask_rows("x", 5)


def test_zoo_validate_and_bioimageio_test_model_pass(adapted_zip: Path) -> None:
    from bioimageio.core import test_model

    from zoo.validation import validate_package

    assert validate_package(adapted_zip).ok
    summary = test_model(adapted_zip)
    assert summary.status == "passed", summary.format()


def test_adaptation_is_seeded_and_reproducible(parent: Path, user_image: np.ndarray) -> None:
    ref = open_model(parent)
    first, second = (adapt(ref, [user_image], FAST) for _ in range(2))
    other = adapt(ref, [user_image], AdaptConfig(**{**FAST.__dict__, "seed": 1}))
    a, b = first.module.state_dict(), second.module.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert first.history[1:] == second.history[1:]  # (step 0 has no training loss: NaN)
    losses = [[h["train_loss"] for h in r.history[1:]] for r in (first, other)]
    assert losses[0] != losses[1]  # the seed picks the patches and the masks


def test_publish_fetch_by_id_and_run(
    adapted_zip: Path, user_image: np.ndarray, tmp_path: Path
) -> None:
    registry = Registry(tmp_path / "registry", cache=tmp_path / "cache")
    registry.publish(adapted_zip)
    name = load_package(adapted_zip).name
    fetched = registry.load(name)
    assert fetched.card is not None and fetched.card.lineage is not None
    np.save(tmp_path / "image.npy", user_image)
    result = run(name, tmp_path / "image.npy", tmp_path / "out.tif",
                 registry=str(tmp_path / "registry"), cache=tmp_path / "cache")  # fmt: skip
    assert result.report.verdict in ("match", "caution")  # its domain is the user's image
    assert result.provenance.model.id == name


def test_an_interrupt_leaves_no_file(parent: Path, user_image: np.ndarray, tmp_path: Path) -> None:
    def stop(step: int, *_: object) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        adapt(open_model(parent), [user_image], FAST, progress=stop)
    adapted = adapt(open_model(parent), [user_image], FAST)

    def stop_export(message: str) -> None:
        if "ONNX" in message:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        package_adapted(adapted, tmp_path / "a.zip", progress=stop_export)
    assert list(tmp_path.iterdir()) == []


def test_images_it_cannot_use_are_refused_with_the_reason(parent: Path) -> None:
    ref = open_model(parent)
    with pytest.raises(ImageError, match="2D"):
        adapt(ref, [np.zeros((3, 200, 200))], FAST)
    with pytest.raises(ImageError, match="at least 128 rows"):
        adapt(ref, [np.zeros((100, 200))], FAST)


def test_the_command_writes_the_package_and_refuses_to_overwrite(
    parent: Path, user_image: np.ndarray, tmp_path: Path
) -> None:
    np.save(tmp_path / "mine.npy", user_image)
    out = tmp_path / "mine.zip"
    args = ["adapt", str(parent), str(tmp_path / "mine.npy"), "-o", str(out), "--steps", "4",
            "--threads", "1", "--id", "my-adapted", "--version", "0.2.0"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "held-out rows" in result.output and str(out) in result.output
    assert "n2v2 loss" in result.output  # a CARE parent, noise not correlated
    pkg = load_package(out)
    assert pkg.name == "my-adapted" and str(pkg.descr.version) == "0.2.0"
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    data = json.loads(pkg.card.model_dump_json()) if pkg.card else {}
    assert data["lineage"]["adaptation"]["steps"] == 4


def test_every_plane_of_a_stack_and_one_channel_of_rgb(parent: Path, tmp_path: Path) -> None:
    import tifffile

    from zoo.adapt import planes_of
    from zoo.imageio import read_image

    stack = np.stack([scene(s, (160, 144))[0] for s in (20, 21)])
    tifffile.imwrite(tmp_path / "stack.tif", stack, metadata={"axes": "ZYX"})
    assert [p.shape for p in planes_of(read_image(tmp_path / "stack.tif"))] == [(160, 144)] * 2
    rgb = np.stack([scene(s, (160, 144))[0] for s in (22, 23, 24)], axis=-1)
    np.save(tmp_path / "rgb.npy", rgb)
    with pytest.raises(ImageError, match="--channel N"):
        planes_of(read_image(tmp_path / "rgb.npy", axes="yxc"))
    [green] = planes_of(read_image(tmp_path / "rgb.npy", axes="yxc", channel=1))
    np.testing.assert_array_equal(green, rgb[..., 1])


def test_a_kill_during_the_fine_tuning_leaves_no_file(
    parent: Path, user_image: np.ndarray, tmp_path: Path
) -> None:
    """A real SIGKILL of ``zoo adapt`` while it trains: the output folder stays empty."""
    import signal
    import subprocess
    import sys
    import time

    source = tmp_path / "in"
    source.mkdir()
    np.save(source / "mine.npy", user_image)
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "zoo", "adapt", str(parent), str(source / "mine.npy"),
               "-o", str(out / "mine.zip"), "--steps", "100000", "--threads", "1"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()  # "adapting … (100000 steps)": training has begun
    assert "adapting" in line, line
    time.sleep(3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert list(out.iterdir()) == []


def test_several_images_make_one_domain(parent: Path, user_image: np.ndarray) -> None:
    from zoo.adapt import adapted_card

    other = scene(12, (176, 160))[0]
    adapted = adapt(
        open_model(parent), [user_image, other], AdaptConfig(**{**FAST.__dict__, "steps": 2})
    )
    card = adapted_card(adapted)
    assert card.fingerprint is not None and card.fingerprint.n_images == 2
    assert card.lineage is not None
    assert [i.shape for i in card.lineage.images] == [[192, 160], [176, 160]]
    assert card.training_data.n_images == 2


def _estimates(risks_and_blocks: list[tuple[float, list[float]]]) -> Any:
    """A stand-in for the held-out estimate: the given estimates in turn (step 0 first)."""
    from zoo.adapt.network import Estimate

    queue = [Estimate(r, np.asarray(b, dtype=float)) for r, b in risks_and_blocks]
    return lambda self, network: queue.pop(0) if len(queue) > 1 else queue[0]


def test_a_checkpoint_replaces_the_parent_only_when_clearly_better(
    parent: Path, user_image: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lower but within the noise of the paired estimate (step 6): the parent stays; lower
    by many standard errors (step 12): kept."""
    from zoo.adapt.network import HeldOut

    rng = np.random.default_rng(0)
    base = 10 + rng.normal(0, 1, 16)
    noisy = base - 0.3 + rng.normal(0, 2, 16)  # 0.3 lower on average, SE about 0.5
    clear = base - 1.0 + rng.normal(0, 0.05, 16)
    monkeypatch.setattr(HeldOut, "estimate", _estimates(
        [(10.0, list(base)), (9.7, list(noisy)), (9.0, list(clear))]))  # fmt: skip
    adapted = adapt(open_model(parent), [user_image], FAST)
    assert adapted.best_step == 12 and adapted.heldout["adapted"] == 9.0
    assert [h["step"] for h in adapted.history] == [0, 6, 12]
    gain, se = adapted.history[1]["gain"], adapted.history[1]["gain_se"]
    assert gain == pytest.approx(0.3) and gain < adapted.history[1]["margin"] * se

    monkeypatch.setattr(HeldOut, "estimate", _estimates(
        [(10.0, list(base)), (9.7, list(noisy))]))  # fmt: skip
    kept = adapt(open_model(parent), [user_image], FAST)
    assert kept.best_step == 0 and kept.heldout["adapted"] == kept.heldout["parent"] == 10.0


def test_the_margin_grows_with_the_comparisons_a_run_makes(
    parent: Path, user_image: np.ndarray
) -> None:
    """The best of many noisy comparisons with the parent looks better than it is: the
    margin is the one-sided 5 % bound over the run's evaluations (Bonferroni)."""
    from zoo.adapt.network import margin

    assert margin(1) == pytest.approx(1.645, abs=1e-3)
    assert margin(30) == pytest.approx(2.935, abs=1e-3)
    assert margin(0) == margin(1) and margin(60) > margin(30) > margin(2)
    history = adapt(open_model(parent), [user_image], FAST).history
    assert [h["margin"] for h in history[1:]] == [margin(2)] * 2  # 12 steps, one every 6


def test_the_run_stops_when_the_held_out_estimate_stops_falling(
    parent: Path, user_image: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No new low for ``patience`` evaluations: the run ends there and the card says so."""
    from zoo.adapt import adapted_card
    from zoo.adapt.network import HeldOut

    blocks = list(np.linspace(9, 11, 16))
    monkeypatch.setattr(HeldOut, "estimate", _estimates(
        [(10.0, blocks), (10.5, blocks), (10.2, blocks)]))  # fmt: skip
    config = AdaptConfig(**{**FAST.__dict__, "steps": 100, "val_every": 5, "patience": 3})
    adapted = adapt(open_model(parent), [user_image], config)
    assert adapted.stopped_at == 15 and adapted.steps == 100 and adapted.best_step == 0
    assert [h["step"] for h in adapted.history] == [0, 5, 10, 15]
    card = adapted_card(adapted)
    assert card.lineage is not None
    assert card.lineage.adaptation.stopped_at == 15 and card.lineage.adaptation.steps == 100


def test_a_time_budget_is_reproduced_by_its_recorded_steps(
    parent: Path, user_image: np.ndarray
) -> None:
    ref = open_model(parent)
    timed = adapt(ref, [user_image], AdaptConfig(**{**FAST.__dict__, "steps": None,
                                                     "minutes": 0.04}))  # fmt: skip
    assert timed.steps > 10
    again = adapt(ref, [user_image], AdaptConfig(**{**FAST.__dict__, "steps": timed.steps}))
    assert again.stopped_at == timed.stopped_at and again.best_step == timed.best_step
    a, b = timed.module.state_dict(), again.module.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
