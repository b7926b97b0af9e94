"""The learned score decides the verdict (zoo/learned.py): the other checks keep their
measurements, and their warnings stand only when it warns; the rule zoo ships is the one the
benchmark fitted and measured (zoo/learned.json, docs/domain-loso.json)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from zoo import learned
from zoo.domain import check_image
from zoo.fingerprint import fingerprint, image_statistics
from zoo.imageio import Image, read_image
from zoo.package import Package, load_package
from zoo.spec import ZooCard
from zoo.trial import Trial

REPO = Path(__file__).resolve().parents[1]
NOISE_SIDE = learned.feature_names().index("noise_sigma (ratio_above)")


@pytest.fixture(scope="module")
def domain(example_zip: Path, shared_data: Path) -> tuple[Package, np.ndarray]:
    """(the example package with a card describing the left half of a real 16-bit
    widefield image, the right half)."""
    example = load_package(example_zip)
    data = read_image(shared_data / "images/other/bacteria_noisy_avg1_16bit.png").data
    half = data.shape[1] // 2
    card = example.card.model_dump(mode="json")
    card["domain"].update(modality="widefield", dtype=str(data.dtype))
    card["fingerprint"] = fingerprint([data[:, :half]]).model_dump(mode="json")
    return dataclasses.replace(example, card=ZooCard.model_validate(card)), data[:, half:]


def _rule(weight: float, intercept: float) -> dict:
    """A fitted rule that weighs only the noise level above the training range."""
    n = len(learned.feature_names())
    beta = np.zeros(n + 1)
    beta[0], beta[1 + NOISE_SIDE] = intercept, weight
    return {"features": learned.feature_names(), "mean": [0.0] * n, "scale": [1.0] * n,
            "coefficients": beta.tolist(), "caution": 0.0, "mismatch": 3.0}  # fmt: skip


def _noisier(held_out: np.ndarray, k: float) -> Image:
    sigma = image_statistics(held_out)["noise_sigma"].value
    noisy = held_out + np.random.default_rng(1).normal(0, k * sigma, held_out.shape)
    return Image(np.clip(noisy, 0, 65535).astype(held_out.dtype), "yx")


def test_a_departure_the_score_tolerates_is_reported_but_matches(domain, monkeypatch) -> None:
    package, held_out = domain
    image = _noisier(held_out, 3.0)
    before = check_image(package, image, learned=False)
    assert before.verdict != "match"
    monkeypatch.setattr(learned, "LEARNED", _rule(weight=0.0, intercept=-5.0))
    report = check_image(package, image)
    assert report.verdict == "match"
    assert report.learned == pytest.approx(np.exp(-5.0), abs=1e-4)  # caution cut at 0
    # the same checks, measured the same, none warning
    assert [c.name for c in report.checks] == [*(c.name for c in before.checks), "learned score"]
    for old, new in zip(before.checks, report.checks, strict=False):
        same = (new.measured, new.distance, new.message)
        assert same == (old.measured, old.distance, old.message)
        assert new.status in ("ok", "skip")
    departed = [c.name for c in before.checks if c.status in ("warn", "fail")]
    assert "noise_sigma" in departed
    assert all(name in report.checks[-1].message for name in departed)
    assert "tolerate" in report.checks[-1].message


def test_the_score_warns_and_fails_by_its_cuts(domain, monkeypatch) -> None:
    package, held_out = domain
    monkeypatch.setattr(learned, "LEARNED", _rule(weight=4.0, intercept=-1.0))
    assert check_image(package, Image(held_out, "yx")).verdict == "match"
    mild, strong = (
        check_image(package, _noisier(held_out, 1.5)),
        check_image(package, _noisier(held_out, 6.0)),
    )
    assert (mild.verdict, strong.verdict) == ("caution", "mismatch")
    assert mild.checks[-1].status == "warn" and strong.checks[-1].status == "fail"
    # the checks outside their range are the reasons, no stronger than the score
    assert {c.status for c in mild.checks if c.distance >= 1} == {"warn"}
    assert "noise_sigma" in mild.checks[-1].message
    assert mild.learned < strong.learned


def test_another_modality_family_is_a_mismatch_whatever_the_score(domain, monkeypatch) -> None:
    package, held_out = domain
    monkeypatch.setattr(learned, "LEARNED", _rule(weight=0.0, intercept=-5.0))
    report = check_image(package, Image(held_out, "yx"), modality="SEM")
    assert report.verdict == "mismatch"
    assert next(c for c in report.checks if c.name == "modality").status == "fail"


def test_without_a_fitted_rule_the_thresholds_decide(domain, monkeypatch) -> None:
    package, held_out = domain
    monkeypatch.setattr(learned, "LEARNED", {})
    image = _noisier(held_out, 3.0)
    report = check_image(package, image)
    assert report.learned is None and report.checks[-1].name != "learned score"
    assert report.to_dict() == check_image(package, image, learned=False).to_dict()


def test_a_rule_of_other_features_is_refused(domain, monkeypatch) -> None:
    package, held_out = domain
    monkeypatch.setattr(learned, "LEARNED", _rule(1.0, 0.0) | {"features": ["x"]})
    with pytest.raises(RuntimeError, match=r"rerun scripts/bench_domain\.py --loso"):
        check_image(package, Image(held_out, "yx"))


def test_zoo_ships_the_rule_the_benchmark_fitted_and_measured() -> None:
    shipped = json.loads(learned.LEARNED_FILE.read_text())
    assert shipped == learned.LEARNED
    assert shipped["features"] == learned.feature_names()
    assert shipped["benchmark"].startswith("scripts/bench_domain.py --loso")
    report = json.loads((REPO / "docs" / "domain-loso.json").read_text())
    assert report["learned"] == shipped
    assert shipped["caution"] < shipped["mismatch"]
    assert set(shipped["models"]) == set(report["models"])


def test_a_broken_assumption_is_a_mismatch_whatever_the_score(domain, monkeypatch) -> None:
    """Column offsets as strong as the pixel noise (a camera read-out pattern): noise
    correlated along y beyond its failing threshold, which no score tolerates."""
    package, held_out = domain
    monkeypatch.setattr(learned, "LEARNED", _rule(weight=0.0, intercept=-5.0))
    sigma = image_statistics(held_out)["noise_sigma"].value
    stripes = np.random.default_rng(2).normal(0, sigma, (1, held_out.shape[1]))
    striped = Image(np.clip(held_out + stripes, 0, 65535).astype(held_out.dtype), "yx")
    report = check_image(package, striped)
    assert report.verdict == "mismatch"
    assert report.learned is not None and report.learned < 0.01  # the score: tolerated
    assert report.checks[-1].status == "fail"
    assert "noise_corr_y" in report.checks[-1].message
    assert next(c for c in report.checks if c.name == "noise_corr_y").status == "fail"


def test_another_family_by_polarity_is_a_caution_whatever_the_score(domain, monkeypatch) -> None:
    """A model of electron micrographs and a fluorescence image, no modality given: the
    contrast polarity reads the image as another family, which no score tolerates."""
    package, held_out = domain
    card = package.card.model_dump(mode="json")
    card["domain"]["modality"] = "SEM"
    em_model = dataclasses.replace(package, card=ZooCard.model_validate(card))
    monkeypatch.setattr(learned, "LEARNED", _rule(weight=0.0, intercept=-5.0))
    report = check_image(em_model, Image(held_out, "yx"))
    assert report.verdict == "caution"
    assert next(c for c in report.checks if c.name == "polarity").status == "warn"
    score = report.checks[-1]
    assert score.status == "warn" and score.distance == 1.0
    assert "another modality family" in score.message


def _trial(wins: bool) -> Trial:
    model, gauss = (10.0, 20.0) if wins else (40.0, 20.0)
    return Trial(model_mse=model, gaussian_mse=gauss, gaussian_sigma=1.5, noise_variance=100.0,
                 pixels=4096, windows=1, seconds=0.1)  # fmt: skip


def test_a_lost_trial_is_a_caution_from_the_trial_cut_and_never_a_refusal(
    domain, monkeypatch
) -> None:
    """zoo check --trial: a lost trial warns where the learned score is at or above the
    fitted ``trial`` cut, is reported as ok below it, and never fails by itself; a won trial
    passes."""
    from zoo.domain import with_trial

    package, held_out = domain
    image = Image(held_out, "yx")  # learned score -1: between the trial and caution cuts
    monkeypatch.setattr(learned, "LEARNED", _rule(weight=4.0, intercept=-1.0) | {"trial": -3.0})
    report = check_image(package, image)
    assert report.verdict == "match" and learned.trial_level() <= report.learned < 1
    lost = with_trial(report, _trial(wins=False))
    assert lost.verdict == "caution" and lost.checks[-1].status == "warn"
    assert "plain filter" in lost.checks[-1].message and lost.checks[-1].measured < 0
    assert with_trial(report, _trial(wins=True)).verdict == "match"
    # the same image below the trial cut: the lost trial is reported, not a warning
    monkeypatch.setattr(learned, "LEARNED", _rule(weight=4.0, intercept=-1.0) | {"trial": -0.5})
    inside = with_trial(check_image(package, image), _trial(wins=False))
    assert inside.verdict == "match" and inside.checks[-1].status == "ok"
    assert "not a warning" in inside.checks[-1].message
    # a mismatch stays one; the trial adds no failure of its own
    strong = with_trial(check_image(package, _noisier(held_out, 6.0)), _trial(wins=False))
    assert strong.verdict == "mismatch" and strong.checks[-1].status == "warn"


def test_without_a_trial_cut_every_lost_trial_warns(domain, monkeypatch) -> None:
    from zoo.domain import with_trial

    package, held_out = domain
    monkeypatch.setattr(learned, "LEARNED", {})
    assert learned.trial_level() == 0.0
    report = with_trial(check_image(package, Image(held_out, "yx")), _trial(wins=False))
    assert report.verdict == "caution" and report.checks[-1].status == "warn"


def test_the_trial_cut_leaves_at_most_the_target_share_of_degraded_pairs_a_match() -> None:
    """The benchmark's fit of the ``trial`` cut (zoo_bench.domain.learned.trial_cut)."""
    from zoo_bench.domain.learned import TRIAL_MATCH, trial_cut

    rng = np.random.default_rng(0)
    score = rng.normal(size=2000)
    y = score + rng.normal(size=2000) > 0.5
    before = (score > 1.5).astype(np.int8)
    wins = rng.random(2000) < np.where(y, 0.005, 0.6)
    cut = trial_cut(score, before, y, wins)
    after = np.maximum(before, (~wins & (score >= cut)).astype(np.int8))
    assert (after[y] == 0).mean() <= TRIAL_MATCH
    # the cut is the highest that reaches it: above the next degraded pair it would catch,
    # one more would keep match
    catchable = y & (before == 0) & ~wins
    nearest = score[catchable & (score >= cut)].min()
    higher = np.maximum(before, (~wins & (score > nearest)).astype(np.int8))
    assert (higher[y] == 0).mean() > TRIAL_MATCH
    # when even every lost trial cannot reach it, every lost trial warns
    assert trial_cut(score, before * 0, y, np.ones(2000, bool)) == score.min()
