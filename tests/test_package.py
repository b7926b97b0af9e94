"""Build → save zip → load gives the identical card; loading real and broken packages."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import yaml

from zoo.errors import PackageError, SpecError
from zoo.package import load_package, with_card
from zoo.spec import ZooCard
from zoo_bench.fixtures import build_tiny_package, card_dict


def test_card_round_trip(tmp_path: Path) -> None:
    card = ZooCard.model_validate(card_dict())
    zip_path = build_tiny_package(tmp_path, card)
    package = load_package(zip_path)
    assert package.card == card
    assert package.card.to_yaml_dict() == card.to_yaml_dict()
    assert package.weight_formats() == ["onnx"]
    with zipfile.ZipFile(zip_path) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
    assert rdf["config"]["zoo"]["domain"]["modality"] == "widefield"


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    build_tiny_package(tmp_path, ZooCard.model_validate(card_dict()))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_real_bioimageio_package_loads_without_card(shared_data: Path) -> None:
    package = load_package(shared_data / "careamics" / "n2v_short_bioimageio_export.zip")
    assert package.card is None
    assert package.weight_formats() == ["pytorch_state_dict"]


def test_with_card_adds_a_card_to_a_real_package(shared_data: Path, tmp_path: Path) -> None:
    package = load_package(shared_data / "careamics" / "n2v_short_bioimageio_with_onnx")
    card = ZooCard.model_validate(card_dict())
    descr = with_card(package.descr, card)
    assert descr.config.model_extra["zoo"] == card.to_yaml_dict()
    # the bioimage.io part of config survives
    assert descr.config.bioimageio.test_kwargs == package.descr.config.bioimageio.test_kwargs


def test_invalid_card_raises_spec_error_naming_fields(tmp_path: Path) -> None:
    zip_path = build_tiny_package(tmp_path, ZooCard.model_validate(card_dict()))
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    rdf["config"]["zoo"]["domain"]["modality"] = "holography"
    del rdf["config"]["zoo"]["noise"]
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    with pytest.raises(SpecError) as info:
        load_package(folder)
    assert "config.zoo.domain.modality" in str(info.value)
    assert "config.zoo.noise" in str(info.value)


def test_save_rejects_non_zip_output(tmp_path: Path) -> None:
    package = load_package(build_tiny_package(tmp_path, None))
    from zoo.package import save_package

    with pytest.raises(PackageError, match=r"must end in \.zip"):
        save_package(package.descr, tmp_path / "out.tar")
    assert not (tmp_path / "out.tar").exists()
