"""Every package of the embedded registry: bioimage.io's own test, a full card, and the zoo's
own models' validation numbers (each beats the best-sigma Gaussian on held-out data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from zoo.registry import Registry
from zoo.spec import ZooCard
from zoo_bench.training import doc, specs
from zoo_bench.training.package import SELF_SUPERVISED_LIMITATION

ENTRIES = sorted((mid, ver) for mid, ver, _entry in Registry(REPO).iter_entries())
ZOO_TRAINED = {
    "care-actin-widefield",
    "care-mito-widefield",
    "care-nuclei-widefield",
    "n2v2-fibsem-em",
    "care-widefield-w2s",
    "care-fluorescence-generalist",
    "care-em-generalist",
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry(REPO, cache=tmp_path_factory.mktemp("embedded-cache"))


def test_the_zoo_trained_models_are_published() -> None:
    """Every model scripts/train_models.py publishes is in the embedded registry (the ones
    it tried and did not publish are not), each of a domain of its own."""
    published = {mid for mid, _ver in ENTRIES}
    assert {s.id for s in specs.MODELS} == ZOO_TRAINED
    assert published >= ZOO_TRAINED | {"n2v-ihc-careamics"}
    assert not published & {s.id for s in specs.EXPERIMENTS}
    reg = Registry(REPO)
    hits = {h.id: h for h in reg.search(include_yanked=True)}
    summaries = [hits[mid].entry.summary for mid in ZOO_TRAINED]
    # each model a domain of its own (modality and structures: nuclei, actin and mitochondria
    # in widefield fluorescence; FIB-SEM), at least three of them
    domains = {(s.modality, tuple(s.structures)) for s in summaries}
    assert len(domains) == len(ZOO_TRAINED) >= 4
    assert len({s.modality for s in summaries}) >= 2
    methods = {s.method for s in summaries}
    assert "care" in methods and methods & {"n2v", "n2v2", "structn2v"}


@pytest.mark.slow
@pytest.mark.parametrize(("model_id", "version"), ENTRIES)
def test_package_passes_bioimageio_core_test_model(
    registry: Registry, model_id: str, version: str
) -> None:
    from bioimageio.core import test_model

    summary = test_model(registry.fetch(f"{model_id}@{version}"))
    failed = [(d.name, [e.msg for e in d.errors]) for d in summary.details if d.status != "passed"]
    assert summary.status == "passed", failed


@pytest.mark.parametrize("model_id", sorted(ZOO_TRAINED))
def test_card_is_complete_and_the_model_beats_the_gaussian(
    registry: Registry, model_id: str
) -> None:
    card = registry.load(f"{model_id}@0.1.0").card  # pinned: yanked ones too
    assert card is not None and card.fingerprint is not None
    assert "training image" in (card.fingerprint.source or "")
    assert card.training_data.source and card.training_data.license
    values: dict[tuple[str, str], float] = {
        (m.name, m.method.split(" ")[0]): m.value for m in card.validation.metrics
    }
    if ("psnr", "model") in values:
        assert values[("psnr", "model")] > values[("psnr", "gaussian")]
        assert values[("psnr", "model")] > values[("psnr", "noisy")]
        assert ("psnr", "bm3d") in values
    else:  # no clean target: Noise2Self comparison of J-invariant denoisers
        assert (
            values[("self_supervised_mse", "model")] < values[("self_supervised_mse", "gaussian")]
        )


def test_card_metrics_name_what_each_number_scores() -> None:
    """A model scored against clean targets is named as scored (SPLITS.md); only a model
    without targets is scored at its blind spots. (care-widefield-w2s@0.1.0's card carries
    the blind-spot name by a slip of the code that wrote it; published versions stay.)"""
    from zoo_bench.training.evaluate import card_metrics

    spec = specs.load_spec("care-widefield-w2s")
    summary = {"model": {"psnr": 30.0}, "Gaussian, best sigma": {"psnr": 29.0}}
    supervised = {"supervised": True, "summary": summary, "gaussian_sigma": []}
    names = {m["method"] for m in card_metrics(spec, supervised)}
    assert names == {
        "model (SPLITS.md scoring)",
        "gaussian with the best sigma (SPLITS.md scoring)",
    }
    blind = {"supervised": False, "summary": {"model": {"self_supervised_mse": 9.0}},
             "gaussian_sigma": [1.0]}  # fmt: skip
    assert [m["method"] for m in card_metrics(spec, blind)] == [
        "model at its blind spots (J-invariant)"
    ]


@pytest.mark.parametrize("spec", specs.MODELS, ids=lambda s: s.id)
def test_the_recipe_card_is_the_published_card(registry: Registry, spec: specs.ModelSpec) -> None:
    """The card in a model's recipe (zoo_bench/training/models/ID.yaml) is the published
    card, but for what training adds: the method, the validation numbers (and, without a
    clean target, the limitation that says so) and the fingerprints (of all the training
    images, and of each source's)."""
    published = registry.load(f"{spec.id}@{spec.version}").card  # pinned: yanked ones too
    assert published is not None and published.fingerprint is not None
    metrics = published.validation.metrics
    card = json.loads(json.dumps(spec.card))
    card["method"] = published.method.model_dump(mode="json")
    card["validation"]["metrics"] = [m.model_dump(mode="json") for m in metrics]
    if any(m.name == "self_supervised_mse" for m in metrics):
        card["validation"]["limitations"].append(SELF_SUPERVISED_LIMITATION)
    card["fingerprint"] = published.fingerprint.model_dump(mode="json")
    for mine, theirs in zip(card.get("sources", []), published.sources or [], strict=True):
        mine |= {"n_images": theirs.n_images, "fingerprint": theirs.fingerprint}
    assert ZooCard.model_validate(card) == published


def test_models_doc_lists_every_zoo_trained_model() -> None:
    text = (REPO / "docs" / "models.md").read_text()
    for model_id in ZOO_TRAINED:
        assert f"`{model_id}`" in text


def test_models_doc_is_what_the_cards_and_the_recorded_runs_give() -> None:
    """docs/models.md is generated (scripts/train_models.py --docs-only) from the cards and
    docs/models-runs.json alone, so a checkout without build/ writes the same document."""
    runs = json.loads(doc.RUNS.read_text())
    assert set(runs["reproduction"]) <= ZOO_TRAINED
    text = doc.models_doc(Registry(REPO), runs)
    assert text == (REPO / "docs" / "models.md").read_text()


def test_packages_are_small() -> None:
    """At most 36 MB a package: three weight formats of a depth-3 UNet, 16 MB at 32 filters,
    35 MB at 48 (care-fluorescence-generalist 0.3.0, the width that closed its FMD gap:
    docs/models.md); a larger network needs a reason as good."""
    for _mid, _ver, entry in Registry(REPO).iter_entries():
        assert entry.size < 36e6, entry
        assert Path(REPO / entry.location).is_file()


def _heldout(model_id: str) -> Any:
    """The first held-out image of a zoo-trained model (scripts/train_models.py's split)."""
    spec = next(s for s in specs.MODELS if s.id == model_id)
    return spec.load()[2][0].noisy


YANKED = {mid for mid, _ver, entry in Registry(REPO).iter_entries() if entry.yanked}


@pytest.mark.slow
@pytest.mark.parametrize("model_id", sorted(ZOO_TRAINED - YANKED))
def test_quickstart_checks_match_and_runs_on_a_heldout_image_of_its_domain(
    tmp_path: Path, model_id: str
) -> None:
    """`zoo check ID IMAGE` says match on held-out data of the model's own domain (never
    used in training), and `zoo run ID IMAGE -o OUT` denoises it, as in the README."""
    import tifffile
    from typer.testing import CliRunner

    from zoo.cli import app

    image = tmp_path / "heldout.tif"
    tifffile.imwrite(image, _heldout(model_id))
    env = {"ZOO_CACHE": str(tmp_path / "cache"), "ZOO_REGISTRY": str(REPO)}
    runner = CliRunner()
    checked = runner.invoke(app, ["check", model_id, str(image), "--json"], env=env)
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["verdict"] == "match"
    out = tmp_path / "out.tif"
    ran = runner.invoke(app, ["run", model_id, str(image), "-o", str(out)], env=env)
    assert ran.exit_code == 0, ran.output
    assert tifffile.imread(out).shape == tifffile.imread(image).shape
