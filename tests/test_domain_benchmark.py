"""The domain benchmark (zoo_bench.domain, run by scripts/bench_domain.py): its small
version, and the calibration that zoo ships from its full run."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import REPO
from zoo.domain import CALIBRATION, THRESHOLDS
from zoo_bench.domain import cases


@pytest.fixture(scope="module")
def quick() -> list:
    from zoo_bench.domain.benchmark import run

    _result, pairs, _thresholds = run(quick=True, calibrate_=False, log=lambda _: None)
    return pairs


@pytest.mark.slow
def test_the_shipped_thresholds_separate_a_clear_match_from_a_clear_mismatch(quick: list) -> None:
    """The in-domain model on a held-out field of its domain is fine and called a match;
    every pair whose output is clearly degraded (more than 3 dB below the in-domain model or
    the best classic filter) is not called a match, and scores higher."""
    domains = {model for _label, model, _load, _side in cases.DOMAINS}
    own = [p for p in quick if p.domain == p.model]
    bad = [p for p in quick if p.deficit > 3.0]
    assert {p.model for p in own} == domains & {p.model for p in quick}, own
    assert len(bad) >= 2, [(p.model, p.case, p.deficit) for p in quick]
    for p in own:
        assert not p.degraded, (p.model, p.case, p.psnr, p.classic_psnr)
        assert p.check(THRESHOLDS)[0] == "match", (p.model, p.case)
    for p in bad:
        assert p.check(THRESHOLDS)[0] != "match", (p.model, p.case)
    assert max(p.check(THRESHOLDS)[1] for p in own) < min(p.check(THRESHOLDS)[1] for p in bad)


def test_zoo_uses_the_calibrated_thresholds_with_their_provenance() -> None:
    data = json.loads((REPO / "zoo" / "calibration.json").read_text())
    assert data == CALIBRATION
    assert {k: tuple(v) for k, v in data["thresholds"].items()} == THRESHOLDS
    assert data["benchmark"].startswith("scripts/bench_domain.py")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data["date"])


def test_the_document_holds_the_numbers_of_the_calibration_run() -> None:
    """docs/domain-benchmark.md and zoo/calibration.json are written by one run."""
    held = CALIBRATION["heldout"]
    text = (REPO / "docs" / "domain-benchmark.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| held-out, calibrated"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    expected = [
        f"{held['auroc']:.3f}",
        f"{held['recall_at_5pct']:.3f}",
        f"{held['verdict_recall']:.3f}",
        f"{held['verdict_false_warnings']:.3f}",
        str(held["pairs"]),
        str(held["degraded"]),
    ]
    assert cells == expected
    for name in THRESHOLDS:
        assert f"`{name}`" in text


def test_the_document_is_its_template_rendered_with_the_values_of_its_run() -> None:
    """docs/domain-benchmark.md is zoo_bench/domain/report.md.j2 rendered with the values
    that --write keeps beside it (docs/domain-benchmark/values.json), of the run that wrote
    zoo/calibration.json."""
    from zoo_bench.domain.report import DOC, VALUES, render

    values = json.loads(VALUES.read_text())
    held = {k: v for k, v in values["results"]["heldout"].items() if k != "confusion"}
    assert held == CALIBRATION["heldout"]
    assert render(values) == DOC.read_text()


def test_calibrated_thresholds_apply_to_the_calibrated_models_only() -> None:
    """Thresholds calibrated on one model's domain are that model's: the zoo's other models,
    of the same method too, keep the first-principles defaults."""
    from zoo.domain import DEFAULT_THRESHOLDS, thresholds_for
    from zoo.registry import Registry

    registry = Registry(REPO)
    assert CALIBRATION["models"] == list(cases.CALIBRATED_MODELS)
    assert CALIBRATION["models"] == ["care-nuclei-widefield", "care-widefield-w2s"]
    for calibrated in CALIBRATION["models"]:  # care-nuclei-widefield is yanked: pinned
        assert thresholds_for(registry.load(f"{calibrated}@0.1.0")) == THRESHOLDS
    for other in ("care-fluorescence-generalist", "care-mito-widefield", "n2v2-fibsem-em"):
        assert thresholds_for(registry.load(other)) == DEFAULT_THRESHOLDS, other


def test_the_loso_document_is_rendered_from_the_numbers_of_its_run() -> None:
    """docs/domain-loso.md is :func:`loso_doc.render` of docs/domain-loso.json: fields of
    256² with a section for 128² ones, every row's numbers from the run."""
    from zoo_bench.domain import loso, loso_doc

    result = json.loads(loso_doc.REPORT.read_text())
    assert (result["field"], result["small_fields"]["field"]) == (loso.FIELD, loso.SMALL_FIELD)
    assert loso_doc.render(result) == loso_doc.DOC.read_text()


@pytest.mark.slow
def test_leave_one_source_out_never_calibrates_on_the_source_it_judges(
    quick: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.learned import feature_names
    from zoo_bench.domain import learned, loso, loso_doc

    seen = []
    real = loso.calibrate

    def spy(table: loso.Table, train: object, rounds: int = 2) -> object:
        seen.append(list(train))  # type: ignore[call-overload]
        return real(table, train, rounds)  # type: ignore[arg-type]

    monkeypatch.setattr(loso, "calibrate", spy)
    fitted, real_fitted = [], learned.fitted_on

    def spy_fitted(x: object, y: object, train: object, table: object = None) -> object:
        fitted.append(list(train))  # type: ignore[call-overload]
        return real_fitted(x, y, train, table)  # type: ignore[arg-type]

    monkeypatch.setattr(learned, "fitted_on", spy_fitted)
    result = loso.run(quick, log=lambda _: None)
    sources = [loso.source_of(p) for p in quick]
    models = [p.model for p in quick]
    expected = [[s != source for s in sources] for source in sorted(set(sources))]
    expected += [[True] * len(quick)]  # one set on every source, judged in-sample
    expected += [  # then a set per model: that model's pairs of every other source
        [s != source and m == model for s, m in zip(sources, models, strict=True)]
        for source in sorted(set(sources))
        for model in sorted({m for s, m in zip(sources, models, strict=True) if s == source})
    ]
    assert len(set(sources)) >= 2
    assert seen == expected  # every other source, never its own
    # the learned score: the same folds, then the fit on every source that zoo ships, then
    # each (source, model) judged by a fit on the pairs of neither
    unseen = [
        [s != source and m != model for s, m in zip(sources, models, strict=True)]
        for source in sorted(set(sources))
        for model in sorted({m for s, m in zip(sources, models, strict=True) if s == source})
    ]
    assert fitted == [*expected[: len(set(sources))], [True] * len(quick), *unseen]
    assert result["unseen_model"]["pairs"] == len(quick)
    assert result["pooled"]["pairs"] == len(quick)
    assert set(result["by_source"]) == set(sources)
    shown = result | {"field": 256, "small_fields": result | {"field": 128}}
    assert "the learned score, leave-one-source-out (zoo's verdict)" in loso_doc.render(shown)
    # the same verdicts measured with every cross-family pair one to warn, degraded or not
    crossed = result["cross_to_warn"]
    assert crossed["pairs"] == len(quick) and crossed["degraded"] >= result["pooled"]["degraded"]
    assert "counted as one to warn" in loso_doc.render(shown)
    assert result["learned"]["features"] == feature_names()


def test_the_logistic_fit_separates_what_a_feature_separates() -> None:
    """zoo_bench.domain.learned.fit: a feature that tells the labels apart gets a weight of
    the right sign and ranks every pair; a feature of noise gets a small one."""
    import numpy as np

    from zoo_bench.domain import learned
    from zoo_bench.domain.numbers import auroc

    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.3
    x = np.stack([y + rng.normal(0, 0.3, 400), rng.normal(0, 1, 400)], 1)
    beta = learned.fit(x, y.astype(float))
    assert beta[1] > 1 and abs(beta[2]) < beta[1] / 5
    assert auroc(beta[0] + x @ beta[1:], y) > 0.95


@pytest.mark.slow
def test_zoo_judges_each_pair_as_the_benchmark_measured_it(
    quick: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The learned rule the benchmark fits, put in zoo, gives each pair the verdict and score
    the benchmark measured for it: the features zoo computes at check time are the
    benchmark's."""
    import numpy as np

    from zoo import learned as shipped
    from zoo.domain import check_image
    from zoo_bench.domain import learned, loso

    table = loso.Table.of(quick, lambda _: None)
    x, y = learned.features(table), np.array([p.degraded for p in quick])
    fitted = learned.fitted_on(x, y, np.ones(len(y), bool))
    status, score = learned.judged(table, x, fitted)
    monkeypatch.setattr(shipped, "LEARNED", fitted)
    codes = {"match": 0, "caution": 1, "mismatch": 2}
    for p, s, sc in zip(quick, status, score, strict=True):
        report = check_image(p.package, p.image, statistics=p.stats)
        assert codes[report.verdict] == s, p.case
        if report.learned is not None:
            assert report.learned == pytest.approx(float(shipped.level(sc, fitted)), abs=1e-4)
    assert len(set(status.tolist())) >= 2


@pytest.mark.slow
def test_zoo_stages_the_trial_as_the_benchmark_measured_it(
    quick: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With trial outcomes on the pairs, the benchmark fits a ``trial`` cut, and zoo's
    ``with_trial`` gives each pair the verdict the benchmark's trial stage measured."""
    import dataclasses

    import numpy as np

    from zoo import learned as shipped
    from zoo.domain import check_image, with_trial
    from zoo.trial import Trial
    from zoo_bench.domain import learned, loso, loso_doc

    rng = np.random.default_rng(0)
    pairs = [dataclasses.replace(p, trial_wins=bool(rng.random() < 0.5)) for p in quick]
    table = loso.Table.of(pairs, lambda _: None)
    x, y = learned.features(table), np.array([p.degraded for p in pairs])
    fitted = learned.fitted_on(x, y, np.ones(len(y), bool), table)
    assert fitted["trial"] <= fitted["caution"]
    status, _score = learned.judged(table, x, fitted, trial=True)
    assert (status[y] == 0).mean() <= learned.TRIAL_MATCH
    assert (status >= learned.judged(table, x, fitted)[0]).all()  # the stage only warns
    monkeypatch.setattr(shipped, "LEARNED", fitted)
    codes = {"match": 0, "caution": 1, "mismatch": 2}
    for p, s in zip(pairs, status, strict=True):
        mse = (10.0, 20.0) if p.trial_wins else (40.0, 20.0)
        trial = Trial(model_mse=mse[0], gaussian_mse=mse[1], gaussian_sigma=1.0,
                      noise_variance=1.0, pixels=1, windows=1, seconds=0.0)  # fmt: skip
        report = check_image(p.package, p.image, statistics=p.stats)
        if not report.incompatible():
            report = with_trial(report, trial)
        assert codes[report.verdict] == s, p.case
    # the document's row and sentence for the stage; each fold fitted once for both verdicts
    fits, real_fitted = [], learned.fitted_on

    def spy_fitted(x: object, y: object, train: object, table: object = None) -> object:
        fits.append(list(train))  # type: ignore[call-overload]
        return real_fitted(x, y, train, table)  # type: ignore[arg-type]

    monkeypatch.setattr(learned, "fitted_on", spy_fitted)
    sources = np.array([loso.source_of(p) for p in pairs])
    judged = learned.judge_loso(table, sources)
    assert len(fits) == len(set(sources.tolist()))
    assert judged.with_trial is not None and (judged.with_trial >= judged.status).all()
    result = loso.run(pairs, log=lambda _: None)
    assert result["with_trial"]["pairs"] == len(pairs)
    shown = result | {"field": 256, "small_fields": result | {"field": 128}}
    assert "the same with the trial as its last stage" in loso_doc.render(shown)


@pytest.mark.slow
def test_the_benchmark_reads_each_source_by_the_reading_it_is_given(quick: list) -> None:
    """:func:`reading.read_by` redoes every pair's polarity check with another reading: by
    zoo's own the table is unchanged; by one that reads everything dark on bright, every
    fluorescence model whose image was read warns, no EM model does; ``loso.run`` takes one
    reading per source; by one that reads everything in between, every EM model whose image
    was read warns and no fluorescence model does."""
    import numpy as np

    from zoo.checks import model_families
    from zoo.families import READING
    from zoo_bench.domain import loso, reading

    table = loso.Table.of(quick, lambda _: None)
    same = reading.read_by(table, READING)
    assert (same.polarity_warned == table.polarity_warned).all()
    assert (same.fixed_status == table.fixed_status).all()
    assert np.allclose(same.fixed_d2, table.fixed_d2)
    dark = READING | {"coefficients": [50.0] + [0.0] * (len(READING["coefficients"]) - 1)}
    view = reading.read_by(table, dark)
    # the reading is measured where the polarity alone does not read light microscopy (the
    # quick pairs' polarity does): every pair read as if its polarity were in between
    from zoo.checks import representative_plane
    from zoo.families import Polarity, reading_features

    table.readings = [
        None if r is None else Polarity(0.0, r.small, None, tuple(
            reading_features(representative_plane(p.image)).tolist()))
        for p, r in zip(quick, table.readings, strict=True)
    ]  # fmt: skip
    view = reading.read_by(table, dark)
    read = [i for i, r in enumerate(table.readings) if table.has_polarity[i] and r]
    assert read
    for i in read:
        families = model_families(quick[i].package)
        small = table.readings[i].small  # type: ignore[union-attr]
        assert view.polarity_warned[i] == ("electron" not in families and not small)
        assert view.fixed_status[i] >= view.polarity_warned[i]
    # a reading in between the cuts (probability 0.5) keeps EM models off and warns no
    # fluorescence model (zoo.families.fits_family)
    between = READING | {"coefficients": [0.0] * len(READING["coefficients"])}
    assert READING["light_below"] < 0.5 < READING["dark_above"]
    view = reading.read_by(table, between)
    for i in read:  # small planes too
        assert view.polarity_warned[i] == ("light" not in model_families(quick[i].package))
    # electron against light microscopy: the cross-family pairs without a transmitted side
    cross, em_light = loso._cross(quick), loso._cross(quick, loso.EM_LIGHT)
    assert (em_light <= cross).all()
    for pair, crossed, both in zip(quick, cross, em_light, strict=True):
        transmitted = "transmitted" in model_families(pair.package) or (
            loso.source_of(pair) == "IHC (synthetic)")  # fmt: skip
        assert both == (crossed and not transmitted)
    sources = sorted({loso.source_of(p) for p in quick})
    result = loso.run(quick, log=lambda _: None, readings={s: dark for s in sources})
    assert result["em_light"]["cross_family_pairs"] == int(em_light.sum())
    assert result["pooled"]["pairs"] == len(quick)
