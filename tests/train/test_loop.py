"""The training loop: loss goes down, seeds reproduce, the best checkpoint packages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

torch = pytest.importorskip("torch")

from zoo.errors import TrainConfigError  # noqa: E402
from zoo.train import TrainConfig, load_trained, train  # noqa: E402
from zoo.train.loop import prepare  # noqa: E402

TINY = {
    "steps": 40,
    "batch_size": 8,
    "patch_size": 32,
    "filters": 8,
    "val_every": 10,
    "val_patches": 16,
    "learning_rate": 3e-3,
    "threads": 1,
}


def synthetic(seed: int = 0, shape: tuple[int, int] = (128, 128)) -> tuple[np.ndarray, np.ndarray]:
    """Smooth blobs (clean) and the same with Poisson-like noise."""
    rng = np.random.default_rng(seed)
    clean = ndimage.gaussian_filter(rng.uniform(0, 1, shape), 4)
    clean = 50 + 200 * (clean - clean.min()) / (clean.max() - clean.min())
    noisy = rng.normal(clean, np.sqrt(clean) * 2)
    return noisy.astype(np.float32), clean.astype(np.float32)


@pytest.mark.parametrize("method", ["care", "n2v"])
def test_a_tiny_run_lowers_the_validation_loss(method: str) -> None:
    noisy, clean = synthetic()
    targets = [clean] if method == "care" else None
    result = train([noisy], targets, config=TrainConfig(method=method, **TINY))
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) == 4
    assert result.best_val_loss == min(losses) < losses[0]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.best_step == result.history[int(np.argmin(losses))]["step"]


@pytest.mark.parametrize("method", ["n2v2", "structn2v"])
def test_variants_build_their_architecture_and_run(method: str) -> None:
    noisy, _ = synthetic()
    extra = {"struct_axis": "x"} if method == "structn2v" else {}
    config = TrainConfig(method=method, **{**TINY, "steps": 4, "val_every": 2}, **extra)
    result = train([noisy], config=config)
    assert result.config.arch_kwargs()["n2v2"] is (method == "n2v2")
    assert result.module()(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    assert result.config.masking().strategy == ("median" if method == "n2v2" else "uniform")


def test_same_seed_gives_bit_identical_weights_other_seed_does_not() -> None:
    noisy, _ = synthetic(1)
    config = TrainConfig(method="n2v", **{**TINY, "steps": 6, "val_every": 3})
    a = train([noisy], config=config)
    b = train([noisy], config=config)
    c = train(
        [noisy], config=TrainConfig(method="n2v", **{**TINY, "steps": 6, "val_every": 3, "seed": 1})
    )
    assert a.state_dict.keys() == b.state_dict.keys()
    for key in a.state_dict:
        assert torch.equal(a.state_dict[key], b.state_dict[key]), key
    assert a.history == b.history
    assert not all(torch.equal(a.state_dict[k], c.state_dict[k]) for k in a.state_dict)


def test_the_best_checkpoint_is_kept_not_the_last(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripted validation losses (best at the 2nd of 4 evaluations): the result holds the
    weights the model had at that evaluation, not the final ones."""
    import copy

    from zoo.train import loop

    scripted = iter([3.0, 1.0, 2.0, 4.0])
    snapshots = []

    def fake_evaluate(model, batch, torch_module):  # type: ignore[no-untyped-def]
        snapshots.append(copy.deepcopy(model.state_dict()))
        return next(scripted)

    monkeypatch.setattr(loop, "_evaluate", fake_evaluate)
    noisy, clean = synthetic(2)
    result = train([noisy], [clean], config=TrainConfig(method="care", **TINY))
    assert (result.best_step, result.best_val_loss) == (20, 1.0)
    for key, value in result.state_dict.items():
        assert torch.equal(value, snapshots[1][key]), key
    assert not all(torch.equal(v, snapshots[3][k]) for k, v in result.state_dict.items())


def test_a_run_can_start_from_trained_weights_of_the_same_architecture() -> None:
    """Fine-tuning: ``initial`` weights are where the run starts (its first validation is
    already the trained model's), and weights of another architecture are refused."""
    noisy, clean = synthetic()
    tiny = {**TINY, "batch_norm": False}  # a training step moves batch norm's running stats
    trained = train([noisy], [clean], config=TrainConfig(method="care", **tiny))
    still = TrainConfig(
        method="care", **{**tiny, "steps": 1, "val_every": 1, "learning_rate": 1e-9}
    )
    fresh = train([noisy], [clean], config=still)
    tuned = train([noisy], [clean], config=still, initial=trained.state_dict)
    assert tuned.history[0]["val_loss"] == pytest.approx(trained.best_val_loss, rel=1e-3)
    assert fresh.history[0]["val_loss"] > 2 * trained.best_val_loss
    wider = TrainConfig(method="care", **{**tiny, "filters": 16, "steps": 1})
    with pytest.raises(TrainConfigError, match="initial weights do not fit"):
        train([noisy], [clean], config=wider, initial=trained.state_dict)


def test_validation_batch_is_fixed_and_held_out() -> None:
    noisy, clean = synthetic(2)
    config = TrainConfig(method="care", **TINY)
    mean, _std, sampler, (x, y, mask) = prepare([noisy], [clean], config)
    again = prepare([noisy], [clean], config)[3]
    assert mask is None and torch.equal(x, again[0]) and torch.equal(y, again[1])
    assert mean == pytest.approx(float(noisy.mean()), rel=1e-5)
    # the validation rows (bottom 32 of 128) are not in the training sampler's images
    assert sum(a.shape[0] for a in sampler.images) == 128 - 32


def test_method_and_targets_must_agree() -> None:
    noisy, clean = synthetic()
    with pytest.raises(TrainConfigError, match="self-supervised"):
        train([noisy], [clean], config=TrainConfig(method="n2v", **TINY))
    with pytest.raises(TrainConfigError, match="clean targets"):
        train([noisy], config=TrainConfig(method="care", **TINY))
    with pytest.raises(TrainConfigError, match="struct_axis"):
        TrainConfig(method="structn2v")
    with pytest.raises(TrainConfigError, match="blind-spot"):
        TrainConfig(method="n2v", residual=True)
    assert TrainConfig(method="care", residual=True).arch_kwargs()["residual"] is True
    with pytest.raises(TrainConfigError, match="multiple of"):
        TrainConfig(method="n2v", patch_size=30)
    with pytest.raises(ValueError, match="steps"):  # a TrainConfigError is a ValueError
        TrainConfig(method="n2v", steps=0)


def test_saved_output_loads_back_and_names_the_package_command(tmp_path: Path) -> None:
    noisy, _ = synthetic()
    result = train(
        [noisy], config=TrainConfig(method="n2v", **{**TINY, "steps": 2, "val_every": 1})
    )
    folder = result.save(tmp_path / "out")
    meta = json.loads((folder / "training.json").read_text())
    assert meta["architecture"] == "careamics-unet" and meta["method"] == "n2v"
    again = load_trained(folder)
    assert again.config == result.config and again.mean == result.mean
    for key, value in result.state_dict.items():
        assert torch.equal(value, again.state_dict[key])
    assert "--from state-dict" in result.package_command(folder)


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_weights(
    tmp_path: Path,
) -> None:
    noisy, clean = synthetic()
    config = TrainConfig(method="care", normalisation="percentile", **{**TINY, "steps": 20})
    whole = train([noisy], [clean], config=config)

    def stop_at_13(step: int, _steps: int, _loss: float, _val: float | None) -> None:
        if step == 13:
            raise KeyboardInterrupt

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train([noisy], [clean], config=config, checkpoint=ckpt, checkpoint_every=5,
              progress=stop_at_13)  # fmt: skip
    assert torch.load(ckpt, weights_only=True)["step"] == 10
    resumed = train([noisy], [clean], config=config, checkpoint=ckpt, checkpoint_every=5)
    assert resumed.history == whole.history and resumed.best_step == whole.best_step
    for key, value in whole.state_dict.items():
        assert torch.equal(value, resumed.state_dict[key]), key
    other = TrainConfig(method="care", normalisation="percentile", **{**TINY, "steps": 21})
    with pytest.raises(TrainConfigError, match="other training settings"):
        train([noisy], [clean], config=other, checkpoint=ckpt)


def test_percentile_normalisation_is_the_package_s_own(tmp_path: Path) -> None:
    noisy, clean = synthetic()
    config = TrainConfig(method="care", normalisation="percentile", **{**TINY, "steps": 4})
    result = train([noisy], [clean], config=config)
    model = result.imported_model()
    assert [s["id"] for s in model.preprocessing] == ["ensure_dtype", "scale_range"]
    assert model.postprocessing == [] and model.output_units == "input"
    assert "--percentiles 1.0 99.8" in result.package_command(tmp_path)
    # the result is in the input's grey values, whatever their offset and gain
    a = result.denoise(noisy)
    b = result.denoise(noisy * 4.0 + 1000.0)
    np.testing.assert_allclose((b - 1000.0) / 4.0, a, atol=1e-3 * float(np.ptp(a)))
    with pytest.raises(TrainConfigError, match="percentiles"):
        TrainConfig(method="care", normalisation="percentile", percentiles=(50.0, 10.0))
