"""bioimage.io's own config.bioimageio fields: written from the card when a package is built,
read back by `zoo card init` from a plain bioimage.io package."""

from __future__ import annotations

import zipfile
from pathlib import Path

import yaml

from zoo.bioimageio_config import bioimageio_config, card_hints, dataset_url, inference_notes
from zoo.package import card_template, load_package
from zoo.spec import ZooCard
from zoo_bench.fixtures import build_tiny_package, card_dict, tiny_onnx

URL = "https://zenodo.org/records/1234567"
HELD_OUT = {"dataset": "held-out field (3 images)"}


def _rdf(zip_path: Path) -> dict:
    with zipfile.ZipFile(zip_path) as zf:
        return yaml.safe_load(zf.read("rdf.yaml"))


def _card_with_source(source: str) -> ZooCard:
    data = card_dict()
    data["training_data"] = {**data["training_data"], "source": source}
    data["validation"] = {
        **data["validation"],
        "metrics": [
            {**HELD_OUT, "name": "psnr", "value": 31.2},
            {**HELD_OUT, "name": "psnr", "value": 25.0, "method": "bm3d"},
        ],
    }
    return ZooCard.model_validate(data)


def test_built_package_carries_bioimageio_domain_fields(tmp_path: Path) -> None:
    zip_path = build_tiny_package(tmp_path, ZooCard.model_validate(card_dict()))
    bmz = _rdf(zip_path)["config"]["bioimageio"]
    assert bmz["modality"] == "widefield microscopy"
    assert bmz["target_structure"] == ["nuclei"]
    assert bmz["task"] == "denoising"
    assert bmz["architecture_type"] == "UNet"
    assert bmz["training"]["training_epochs"] == 10
    assert "poisson-gaussian" in bmz["out_of_scope_use"]
    assert bmz["bias_risks_limitations"]["limitations"] == "- not for EM"
    assert "fixed HeLa cells, DAPI" in bmz["bias_risks_limitations"]["known_biases"]
    # "made by the test suite" has no address: no evaluation, the card keeps the numbers
    assert "evaluations" not in bmz
    # bioimageio.spec reads them as its own typed fields
    typed = load_package(zip_path).descr.config.bioimageio
    assert typed.modality == "widefield microscopy"
    assert typed.training.training_epochs == 10


def test_evaluations_only_with_a_dataset_address(tmp_path: Path) -> None:
    card = _card_with_source(f"Some lab, {URL} (CC0)")
    zip_path = build_tiny_package(tmp_path, card)
    (ev,) = load_package(zip_path).descr.config.bioimageio.evaluations
    assert str(ev.dataset_source).rstrip("/") == URL
    assert ev.dataset_role == "test"  # held out from the training data's source
    assert ev.sample_count == 3
    assert ev.metrics == ["psnr"] and ev.results == [[31.2]]
    assert "bm3d: psnr 25" in (ev.results_summary or "")
    doi = bioimageio_config(_card_with_source("Weigert et al., doi 10.5281/zenodo.99"))
    assert doi["evaluations"][0]["dataset_source"] == "https://doi.org/10.5281/zenodo.99"
    assert dataset_url("Hagen et al. 2021, GigaDB 100888") is None


def test_card_init_reads_bioimageio_fields_of_a_plain_package(tmp_path: Path) -> None:
    zip_path = build_tiny_package(tmp_path, _card_with_source(URL))
    folder = tmp_path / "plain"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    del rdf["config"]["zoo"]  # a plain bioimage.io package: no zoo card
    rdf["config"]["bioimageio"]["modality"] = "spinning disk confocal fluorescence"
    rdf["config"]["bioimageio"]["new_version"] = "other-model"
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    package = load_package(folder)
    assert package.card is None
    text = card_template(package)
    card = yaml.safe_load(text)
    assert card["domain"]["modality"] == "spinning-disk"
    assert card["domain"]["structures"] == ["nuclei"]
    assert card["method"]["hyperparameters"] == {"epochs": 10.0}
    assert card["validation"]["limitations"][0] == "not for EM"
    assert card["validation"]["metrics"][0]["value"] == 31.2
    assert URL in card["validation"]["metrics"][0]["dataset"]
    assert "# bioimage.io new_version: other-model" in text
    assert "# bioimage.io task: denoising" in text


def test_card_hints_of_a_package_without_bioimageio_fields(shared_data: Path) -> None:
    package = load_package(shared_data / "careamics" / "n2v_short_bioimageio_export.zip")
    assert card_hints(package.descr.config) == {"notes": {}}
    card = yaml.safe_load(card_template(package))
    assert card["domain"]["modality"] == "TODO"


def test_inference_notes_measure_time_and_memory(tmp_path: Path) -> None:
    import numpy as np

    onnx = tiny_onnx(tmp_path / "mean.onnx")
    notes = inference_notes(onnx, np.zeros((1, 1, 64, 48), np.float32))
    assert " s per 64×48 tile with ONNX Runtime " in notes["inference_time"]
    # one float32 output channel alive besides the input: 4 bytes per pixel
    assert notes["memory_requirements_inference"].startswith("about 4 MiB of activations")
