"""zoo explain / zoo dream (zoo.visualize): Grad-CAM on a constructed case, dreams on trained tiny runs,
layer discovery across image models, one-line errors and the demo's Explain tab."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cli import main
from zoo.registry import TensorSpec

PRE = {"kind": "image", "size": [16, 16], "color": "L", "scale": 1 / 255, "invert": False, "mean": [], "std": [], "layout": "NCHW"}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


class BrightIsOne(nn.Module):
    """Class 1 = "there is ink": a 3x3 smoothing conv, ReLU, global mean, +/- one weight per class."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(2, 2)
        with torch.no_grad():
            self.features[0].weight.fill_(1 / 9)
            self.features[0].bias.zero_()
            self.head.weight.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
            self.head.bias.zero_()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image).mean(dim=(2, 3)))


def constructed_probe() -> Any:
    from zoo.visualize.probe import ImageProbe

    return ImageProbe("bright", BrightIsOne(), [TensorSpec("image", ("batch", 1, 16, 16))],
                      [TensorSpec("logits", ("batch", 2), meaning="logits")], PRE, ["empty", "ink"])


@pytest.mark.parametrize("quadrant", [(0, 1), (1, 0)])  # top-right, bottom-left: a transposed map would fail
def test_grad_cam_highlights_the_quadrant_holding_the_evidence(quadrant: tuple[int, int]) -> None:
    from zoo.visualize.explain import grad_cam

    probe = constructed_probe()
    x = torch.zeros(1, 1, 16, 16)
    r, c = quadrant
    x[0, 0, r * 8 + 2:r * 8 + 6, c * 8 + 2:c * 8 + 6] = 1.0
    cam = grad_cam(probe, x, "features")
    assert cam.class_name == "ink" and cam.probability > 0.5
    heat = cam.heat
    inside = heat[r * 8:r * 8 + 8, c * 8:c * 8 + 8].sum()
    assert inside / heat.sum() > 0.9
    peak = np.unravel_index(heat.argmax(), heat.shape)
    assert (peak[0] // 8, peak[1] // 8) == quadrant
    # the other class's evidence is the absence of ink: its map is empty (ReLU of negative weights)
    assert grad_cam(probe, x, "features", "empty").heat.max() == 0.0


def test_filter_pattern_of_a_linear_filter_is_its_kernel() -> None:
    from zoo.visualize.explain import filter_patterns

    probe = constructed_probe()
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # a vertical-edge detector
    with torch.no_grad():
        probe.model.features[0].weight[1, 0] = kernel
    patterns = filter_patterns(probe, "features.0", 2, steps=20)
    assert patterns.shape == (2, 1, 16, 16)
    centre = patterns[1, 0, 7:10, 7:10]  # the receptive field of the unit at the centre (8, 8)
    assert np.corrcoef(centre.ravel(), kernel.numpy().ravel())[0, 1] > 0.95
    outside = np.delete(patterns[1, 0].ravel(), [r * 16 + c for r in range(7, 10) for c in range(7, 10)])
    assert np.abs(outside - 0.5).max() < np.abs(centre - 0.5).max() / 3  # the rest stays near grey noise


def test_dream_octaves_grow_by_1_4_and_change_the_image() -> None:
    from zoo.visualize.dream import dream, octave_shapes

    assert octave_shapes((100, 50), 3) == [(51, 25), (71, 35), (100, 50)]
    probe = constructed_probe()
    x = torch.rand(1, 1, 30, 30, generator=torch.Generator().manual_seed(0))
    result = dream(probe, x, {"features.0": 1.0}, octaves=3, steps=3)
    assert [tuple(o.shape[2:]) for o in result.octaves] == [(15, 15), (21, 21), (30, 30)]
    assert result.image.shape == x.shape and float((result.image - x).abs().mean()) > 0.01
    assert result.losses[-1] > float((x.mean()) ** 2)  # the ascent raised the mean squared activation
    unchanged = dream(probe, x, {"features.0": 1.0}, octaves=2, steps=0)
    torch.testing.assert_close(unchanged.image, x)  # no ascent: detail re-injection restores the original


def test_explain_and_dream_on_a_trained_run(tiny_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run("transfer")
    capsys.readouterr()
    image = tmp_path / "digit.png"
    Image.fromarray((np.random.default_rng(0).random((40, 30)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "explain"
    code, stdout, _ = run_cli(["explain", str(run), str(image), "--out", str(out), "--filter-steps", "3", "--class", "7"], capsys)
    assert code == 0, stdout
    summary = json.loads((out / "explain.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["activations.png", "explain.json", "filters.png", "gradcam.png"]
    assert summary["gradcam"]["class"] == "7" and summary["gradcam"]["layer"] == "stages.1"
    assert list(summary["layers"]) == ["stages.0.0", "stages.1.0"]
    dream_out = tmp_path / "dream"
    code, stdout, _ = run_cli(["dream", str(run), str(image), "--out", str(dream_out), "--octaves", "2", "--steps", "2",
                               "--size", "56", "--layers", "stages.0.0,stages.1.0=2"], capsys)
    assert code == 0, stdout
    info = json.loads((dream_out / "dream.json").read_text())
    assert info["octave_shapes"] == [[40, 30], [56, 42]] and info["layers"] == {"stages.0.0": 1.0, "stages.1.0": 2.0}
    assert Image.open(dream_out / "dream.png").size == (42, 56) and info["mean_abs_change"] > 0
    assert Image.open(dream_out / "dream_octaves.png").width > 3 * 42  # original + 2 octaves side by side


@pytest.mark.parametrize("name", ["rotnet", "capsnet", "siamese"])
def test_every_kind_of_image_model_is_explained(name: str, tiny_run: Any, tmp_path: Path) -> None:
    from zoo.artifacts import load
    from zoo.visualize.dream import run_dream
    from zoo.visualize.explain import explain
    from zoo.visualize.probe import ImageProbe

    probe = ImageProbe.from_artifact(load(tiny_run(name)))
    image = tmp_path / "x.png"
    Image.fromarray((np.random.default_rng(1).random(probe.image_shape[1:]) * 255).astype(np.uint8)).save(image)
    summary = explain(probe, image, tmp_path, filter_steps=2, channels=4)
    assert summary["gradcam"] is not None and Path(tmp_path / "gradcam.png").is_file()
    if name == "siamese":  # pair model: the shared branch is seen on the first input, Grad-CAM explains "same"
        assert all(layer.startswith("branch.") for layer in summary["layers"]) and summary["gradcam"]["class_index"] == 0
    info = run_dream(probe, image, tmp_path, octaves=1, steps=1)
    assert info["mean_abs_change"] > 0


def test_bad_input_is_one_line_and_writes_nothing(tiny_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, tabular = str(tiny_run("transfer")), str(tiny_run("mlp-heads"))
    capsys.readouterr()  # training logs of the fixtures
    image = tmp_path / "x.png"
    Image.new("L", (32, 32), 128).save(image)
    (tmp_path / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    cases = {
        "--octaves 0: there must be at least one octave": ["dream", run, str(image), "--octaves", "0"],
        "layer 'nope' of transfer is not a module; valid layers: stages.0.0,": ["dream", run, str(image), "--layers", "nope"],
        "layer 'head.1' of transfer does not output a feature map": ["explain", run, str(image), "--layer", "head.1"],
        "mlp-heads is not an image model": ["explain", tabular, str(image)],
        "mlp-heads is not an image model (it takes features": ["dream", tabular, str(image)],
        "--class cat is not a class of transfer; pass one of: 0, 1": ["explain", run, str(image), "--class", "cat"],
        "transfer cannot run on a 5x5 image up to layers": ["dream", run, str(image), "--octaves", "6", "--size", "32"],
        "is not an image file": ["explain", run, str(tmp_path / "notes.txt")],
        "does not exist": ["dream", run, str(tmp_path / "missing.png")],
    }
    for phrase, argv in cases.items():
        code, _, err = run_cli([*argv, "--out", str(out)], capsys)
        assert code == 2 and phrase in err and "Traceback" not in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err
        assert not out.exists(), argv


def test_demo_explain_tab_only_with_pytorch_weights(tiny_run: Any, tmp_path: Path) -> None:
    from demos.app import build_app
    from demos.image_classifier import Classifier
    from demos.prepare import demo_model, prepare

    run = tiny_run("transfer")
    image = tmp_path / "x.png"
    Image.new("L", (32, 32), 30).save(image)
    torch_model = demo_model(prepare(str(run), backend="torch", log=lambda *_: None))
    assert torch_model.explain is not None
    picture, sentence = torch_model.explain(str(image))
    assert picture.ndim == 3 and picture.shape[2] == 3 and "Grad-CAM of class" in sentence
    top = next(iter(Classifier(torch_model).classify(str(image))))
    assert f"class {top} " in sentence  # explains the class the Classify button shows
    app = build_app([torch_model])
    assert f"/{torch_model.name}_explain" in {f"/{d.api_name}" for d in app.fns.values()}
    assert "Explain" in {getattr(b, "label", None) for b in app.blocks.values()}
    # a model on onnxruntime (every Space) has no gradients to give: no explainer, no tab, no endpoint
    onnx_like = dataclasses.replace(torch_model, explain=None, backend="onnxruntime")
    app = build_app([onnx_like])
    assert not any(str(d.api_name).endswith("_explain") for d in app.fns.values())
    assert "Explain" not in {getattr(b, "label", None) for b in app.blocks.values()}
