"""Self-supervised pretext models (rotnet, noise-level): the pretext transforms, bad options, training,
export, the encoder graph and transfer learning from a pretext run (--init-from)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import train_tiny
from test_cli import run_cli
from zoo import registry


@pytest.fixture(scope="session")
def rotnet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A briefly trained rotnet run directory (read-only for tests)."""
    return train_tiny("rotnet", tmp_path_factory.mktemp("runs") / "rotnet")


def test_rotation_batch_rotates_each_image_by_its_label() -> None:
    from zoo.models.rotnet.model import rotate

    spec = registry.create("rotnet", {"rotations": "0,90,180,270"})
    x = torch.randn(16, 1, 8, 8)
    out, y = spec.pretext_batch(x, torch.Generator().manual_seed(0))
    assert set(y.tolist()) == {0, 1, 2, 3}  # 16 draws hit every class with this seed
    for i in range(len(x)):
        assert torch.equal(out[i], torch.rot90(x[i], int(y[i]), dims=(-2, -1)))
    assert torch.equal(rotate(rotate(x, 90), 270), x)
    # 45 degrees twice is 90 degrees at the image centre (corners are resampled)
    smooth = torch.nn.functional.interpolate(torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1)), size=32, mode="bilinear")
    twice = rotate(rotate(smooth, 45), 45)
    assert torch.allclose(twice[..., 12:20, 12:20], rotate(smooth, 90)[..., 12:20, 12:20], atol=0.1)


def test_noise_batch_adds_the_labelled_level() -> None:
    spec = registry.create("noise-level", {"noise_levels": "0,0.5,2"})
    x = torch.zeros(60, 1, 32, 32)
    out, y = spec.pretext_batch(x, torch.Generator().manual_seed(1))
    for k, level in enumerate((0.0, 0.5, 2.0)):
        rows = out[y == k]
        assert len(rows) > 0
        assert abs(float(rows.std()) - level) < 0.05 * max(level, 1)


@pytest.mark.parametrize("option, expected", [
    (["rotnet", "--rotations", "0,90,90"], "repeats an angle"),
    (["rotnet", "--rotations", "0,30,180"], "multiples of 45"),
    (["rotnet", "--rotations", "0"], "at least 2 angles"),
    (["noise-level", "--noise-levels", "0.5,0.5"], "at least 2 distinct"),
])
def test_bad_pretext_options_are_one_line(option: list[str], expected: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "runs"
    code, _, err = run_cli(["train", option[0], "--out", str(out_dir), *option[1:], "--no-progress"], capsys)
    assert code != 0 and expected in err and "Traceback" not in err, err
    assert len([line for line in err.strip().splitlines() if line.strip()]) <= 3
    assert not out_dir.exists() or not any(out_dir.rglob("*.safetensors"))


def test_rotnet_learns_rotations_and_exports(rotnet_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = json.loads((rotnet_run / "metrics.json").read_text())["metrics"]
    assert metrics["test/pretext_acc"] > 0.35  # chance is 0.25 with 4 rotations
    assert json.loads((rotnet_run / "config.json").read_text())["config"]["rotations"] == [0, 90, 180, 270]
    for target in ("onnx", "keras"):
        code, out, err = run_cli(["export", str(rotnet_run), "--to", target], capsys)
        assert code == 0, err
        parity = json.loads((rotnet_run / f"rotnet.{target}.parity.json").read_text())
        assert json.dumps(parity)  # written
        assert "parity" in out + err


def test_encoder_graph_is_the_backbone_and_pool(rotnet_run: Path) -> None:
    from zoo import artifacts

    art = artifacts.load(rotnet_run)
    spec, model = art.spec, art.model
    graphs = spec.export_spec().graphs
    assert [g.name for g in graphs] == ["model", "encoder"]
    encoder = getattr(model, graphs[1].module)
    x = torch.from_numpy(spec.example_inputs(5)["image"])
    model.eval()
    with torch.no_grad():
        feats = encoder(x)
        assert feats.shape == (5, graphs[1].outputs[0].shape[1])
        assert torch.allclose(model.head(feats), model(x))
    keys = load_file(str(rotnet_run / "model.safetensors")).keys()
    assert not any(k.startswith("encoder.") for k in keys)  # one copy of the weights
    name, weights = spec.backbone_weights(art.state_dict())
    assert name == "lenet5" and weights and all(k.startswith("stages.") for k in weights)


@pytest.mark.parametrize("freeze", ["all", "first-k", "none"])
def test_transfer_init_from_rotnet(freeze: str, rotnet_run: Path, tmp_path: Path) -> None:
    run = train_tiny("transfer", tmp_path / "tr", init_from=str(rotnet_run), freeze=freeze, freeze_stages=2,
                     labels_per_class=10)
    source = load_file(str(rotnet_run / "model.safetensors"))
    tuned = load_file(str(run / "model.safetensors"))
    frozen = {"all": 3, "first-k": 2, "none": 0}[freeze]
    for key, value in source.items():
        if key.startswith("stages."):
            stage = int(key.split(".")[1])
            same = torch.equal(tuned[key], value)
            assert same == (stage < frozen), key  # frozen stages keep the pretext weights, the rest train from them
    assert 0 <= json.loads((run / "metrics.json").read_text())["metrics"]["test/acc"] <= 1


def test_rotnet_demo_turns_an_upload_back_by_the_predicted_angle(rotnet_run: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from demos.image_classifier import Classifier
    from demos.prepare import demo_model, prepare

    model = demo_model(prepare(str(rotnet_run), examples_dir=tmp_path / "examples", log=lambda *_: None), threads=1)
    assert model.hook["extra"]["rotations"] == [0, 90, 180, 270]
    classifier = Classifier(model)
    upload = Image.fromarray(np.tril(np.full((24, 40), 255, np.uint8)), "L")  # not square: a quarter turn swaps the sides
    path = tmp_path / "upload.png"
    upload.save(path)
    top = max(classifier.classify(str(path)).items(), key=lambda kv: kv[1])[0]
    angle = int(top.split()[0])
    turned, verdict = classifier.upright(str(path))
    assert f"rotated {angle} degrees" in verdict
    assert np.array_equal(np.asarray(turned), np.asarray(upload.rotate(-angle, expand=True)))
    assert turned.size == ((40, 24) if angle % 180 == 0 else (24, 40))
