"""`zoo validate` on real bioimage.io packages, a full-card package, and invalid fixtures."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from zoo.cli import app
from zoo.errors import PackageError
from zoo.spec import ZooCard
from zoo.validation import validate_package
from zoo_bench.fixtures import build_tiny_package, card_dict

runner = CliRunner()


@pytest.fixture(scope="module")
def valid_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid package with a full card, unpacked as a folder (rdf.yaml + files)."""
    root = tmp_path_factory.mktemp("valid")
    zip_path = build_tiny_package(root / "build", ZooCard.model_validate(card_dict()))
    folder = root / "pkg"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)
    return folder


def test_real_careamics_exports_are_valid_and_say_card_missing(shared_data: Path) -> None:
    for pkg in (
        shared_data / "careamics" / "n2v_short_bioimageio_export.zip",
        shared_data / "careamics" / "n2v_short_bioimageio_with_onnx",
    ):
        result = runner.invoke(app, ["validate", str(pkg)])
        assert result.exit_code == 0, result.output
        assert "bioimage.io valid" in result.output
        assert "zoo card missing" in result.output


def test_full_card_package_is_valid(valid_folder: Path) -> None:
    result = runner.invoke(app, ["validate", str(valid_folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["card"] == "valid"
    assert report["problems"] == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation of rdf.yaml that sets the dotted ``path`` to ``value`` (… = delete)."""

    def mutate(rdf: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = rdf
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return mutate


INVALID: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    # case: (mutation, part, expected field path in the problem)
    "unknown modality": (
        _set("config.zoo.domain.modality", "x-ray-holography"),
        "card",
        "config.zoo.domain.modality",
    ),
    "negative pixel size": (
        _set("config.zoo.domain.pixel_size.x", -0.1),
        "card",
        "config.zoo.domain.pixel_size.x",
    ),
    "zero pixel size": (
        _set("config.zoo.domain.pixel_size.y", 0),
        "card",
        "config.zoo.domain.pixel_size.y",
    ),
    "missing required modality": (
        _set("config.zoo.domain.modality", ...),
        "card",
        "config.zoo.domain.modality",
    ),
    "missing training data licence": (
        _set("config.zoo.training_data.license", ...),
        "card",
        "config.zoo.training_data.license",
    ),
    "missing intended use": (
        _set("config.zoo.validation.intended_use", ...),
        "card",
        "config.zoo.validation.intended_use",
    ),
    "channels of the wrong type": (
        _set("config.zoo.domain.channels", "two"),
        "card",
        "config.zoo.domain.channels",
    ),
    "structures not a list": (
        _set("config.zoo.domain.structures", 42),
        "card",
        "config.zoo.domain.structures",
    ),
    "unknown top-level card key": (
        _set("config.zoo.modality", "widefield"),
        "card",
        "config.zoo.modality",
    ),
    "unknown nested key (typo)": (
        _set("config.zoo.noise.read_noise_sgima", 2.0),
        "card",
        "config.zoo.noise.read_noise_sgima",
    ),
    "unknown noise type": (_set("config.zoo.noise.type", "pink"), "card", "config.zoo.noise.type"),
    "unknown method": (_set("config.zoo.method.name", "magic"), "card", "config.zoo.method.name"),
    "4D dimensionality": (
        _set("config.zoo.domain.dimensionality", 4),
        "card",
        "config.zoo.domain.dimensionality",
    ),
    "bad pixel unit": (
        _set("config.zoo.domain.pixel_size.unit", "inch"),
        "card",
        "config.zoo.domain.pixel_size.unit",
    ),
    "even structn2v mask": (
        _set("config.zoo.noise.structn2v_mask", [[1, 1], [1, 1]]),
        "card",
        "config.zoo.noise.structn2v_mask",
    ),
    "empty structures": (
        _set("config.zoo.domain.structures", []),
        "card",
        "config.zoo.domain.structures",
    ),
    "card contradicts the tensors": (
        _set("config.zoo.domain.channels", 3),
        "card",
        "config.zoo.domain.channels",
    ),
    "bioimage.io: missing inputs": (_set("inputs", ...), "bioimageio", "inputs"),
    "bioimage.io: wrong weights sha256": (
        _set("weights.onnx.sha256", "0" * 64),
        "bioimageio",
        "weights.onnx",
    ),
    "bioimage.io: unknown licence": (_set("license", "not-a-licence"), "bioimageio", "license"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_fixture_fails_naming_the_field(
    case: str, valid_folder: Path, tmp_path: Path
) -> None:
    mutate, part, loc = INVALID[case]
    folder = tmp_path / "pkg"
    shutil.copytree(valid_folder, folder)
    rdf_path = folder / "rdf.yaml"
    rdf = yaml.safe_load(rdf_path.read_text())
    mutate(rdf)
    rdf_path.write_text(yaml.safe_dump(rdf, sort_keys=False))

    report = validate_package(folder)
    assert not report.ok
    assert any(p.part == part and p.loc.startswith(loc) for p in report.problems), report.problems

    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1
    assert loc in result.output


def test_missing_path_is_an_error_with_exit_2(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"expected a \.zip, a folder or an rdf\.yaml"):
        validate_package(tmp_path / "nope.zip")
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.zip")])
    assert result.exit_code == 2
    assert "no package at" in result.output


def test_not_a_package_is_an_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.yaml"
    text.write_text("just a sentence\n")
    with pytest.raises(PackageError, match=r"cannot read .* as a bioimage\.io package"):
        validate_package(text)
