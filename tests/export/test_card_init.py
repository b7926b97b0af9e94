"""Cards for `zoo package`: docs/card.md's example (wrapped in ``config: zoo:``) is accepted as
it is, no card says "no card given", and `zoo card init` writes a template from a CAREamics
checkpoint or a Keras model folder as well as from a package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zoo.cardfile import load_card
from zoo.cli import app
from zoo.errors import SpecError

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _doc_example(tmp_path: Path) -> Path:
    """docs/card.md's example card, as the document shows it."""
    text = (REPO / "docs" / "card.md").read_text()
    (block,) = re.findall(r"## Example\n.*?```yaml\n(.*?)```", text, re.S)
    path = tmp_path / "card.yaml"
    path.write_text(block)
    return path


def test_doc_example_is_a_valid_card(tmp_path: Path) -> None:
    wrapped = _doc_example(tmp_path)
    data = yaml.safe_load(wrapped.read_text())
    assert list(data) == ["config"]
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(data["config"]["zoo"]))
    assert load_card(wrapped) == load_card(plain)
    assert load_card(wrapped).domain.structures == ["nuclei"]


def test_package_accepts_the_doc_example(shared_data: Path, tmp_path: Path) -> None:
    card = _doc_example(tmp_path)
    ckpt = shared_data / "careamics" / "n2v_short.ckpt"
    image = shared_data / "synthetic" / "noisy.npy"
    out = tmp_path / "abc.zip"  # a name bioimage.io refuses: stops right after the card
    args = ["package", str(ckpt), "--from", "careamics", "--image", str(image), "-o", str(out)]
    result = runner.invoke(app, [*args, "--card", str(card)])
    assert result.exit_code == 2
    assert "invalid card" not in result.output
    assert "name rule" in result.output


def test_card_with_other_keys_beside_config_says_what_to_remove(tmp_path: Path) -> None:
    wrapped = _doc_example(tmp_path)
    data = yaml.safe_load(wrapped.read_text())
    data["format_version"] = "0.5.4"
    wrapped.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="remove the other keys"):
        load_card(wrapped)


def test_no_card_says_no_card_given(shared_data: Path, tmp_path: Path) -> None:
    ckpt = shared_data / "careamics" / "n2v_short.ckpt"
    image = shared_data / "synthetic" / "noisy.npy"
    out = tmp_path / "model.zip"
    args = ["package", str(ckpt), "--from", "careamics", "--image", str(image), "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "no card given: pass --card CARD.yaml" in result.output
    assert "invalid card" not in result.output
    assert not out.exists()


def _filled(template: str) -> str:
    """The template with every TODO given a value a user might write."""
    values = {
        "modality": "synthetic",
        "dtype": "float32",
        "type": "poisson-gaussian",
        "description": "synthetic IHC",
        "license": "CC0-1.0",
        "intended_use": "tests",
    }
    lines = []
    for line in template.splitlines():
        key = line.strip().split(":")[0]
        if line.strip() == "- TODO":
            line = line.replace("TODO", "tissue")
        elif line.endswith(": TODO"):
            line = line.replace("TODO", values[key])
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("source", "method", "framework", "hyper"),
    [
        ("careamics/n2v_short.ckpt", "n2v", "careamics", {"patch_size": [64, 64], "depth": 2}),
        (
            "keras/care_prob_d2_k3_f32",
            "care",
            "csbdeep",
            {"probabilistic": True, "train_loss": "laplace", "unet_n_depth": 2},
        ),
        ("keras/n2v_tiny", "n2v", "n2v", {"unet_n_depth": 2}),
    ],
)
def test_card_init_from_weights(
    source: str,
    method: str,
    framework: str,
    hyper: dict[str, object],
    shared_data: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "card.yaml"
    result = runner.invoke(app, ["card", "init", str(shared_data / source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    template = out.read_text()
    assert f"zoo package --from {source.split('/')[0]}" in template
    data = yaml.safe_load(template)
    assert data["domain"]["dimensionality"] == 2 and data["domain"]["channels"] == 1
    assert data["method"]["name"] == method
    assert data["method"]["framework"] == framework
    assert hyper.items() <= data["method"]["hyperparameters"].items()
    assert data["training_data"] == {"description": "TODO", "license": "TODO"}
    with pytest.raises(SpecError):  # modality TODO is not a modality
        load_card(out)
    out.write_text(_filled(template))
    card = load_card(out)
    assert card.method.name == method
