"""Neural style transfer: the Gram/style/content losses, `zoo stylize` (Gatys et al.) on small images, its
one-line errors, ImageNet weights from the local cache, and the `style-transfer` stylizer demo and Space."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo import style
from zoo.errors import ZooError


def picture(path: Path, size: tuple[int, int], seed: int, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 256, (size[1] // 8 + 1, size[0] // 8 + 1, 3)), np.ones((8, 8, 1)))[:size[1], :size[0]]
    Image.fromarray(base.astype(np.uint8), "RGB").convert(mode).save(path)
    return path


def test_gram_matrix_and_relative_losses() -> None:
    f = torch.randn(2, 3, 4, 5)
    g = style.gram(f)
    for n in range(2):
        for i in range(3):
            for j in range(3):
                expected = float((f[n, i] * f[n, j]).sum()) / (3 * 4 * 5)
                assert float(g[n, i, j]) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert torch.allclose(g, g.transpose(1, 2))
    # Gram matrices forget where things are: shuffling positions keeps them, changing a channel does not
    shuffled = f.flatten(2)[:, :, torch.randperm(20)].view_as(f)
    assert torch.allclose(style.gram(shuffled), g, atol=1e-6)
    assert float(style.relative_error(g, g[0:1].expand_as(g))[0]) == 0.0
    assert float(style.relative_error(2 * g, g)[0]) == pytest.approx(1.0, rel=1e-5)
    flat = torch.zeros(1, 3, 4, 4)
    assert float(style.total_variation(flat)) == 0.0
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 3, 4, 4)
    assert float(style.total_variation(ramp)) == pytest.approx(1.0)  # horizontal steps of 1, none vertically


def test_perceptual_loss_is_zero_on_its_own_targets_and_style_is_layout_free() -> None:
    net = style.feature_net("lenet5", "none", seed=0)
    s = torch.rand(3, 32, 32)
    loss = style.PerceptualLoss(net, s)
    assert (loss.content_layer, loss.style_layers) == ("c3s4", ["c1s2", "c3s4", "c5"])
    terms = loss(s[None], s[None])
    assert float(terms["content"]) == 0.0 and float(terms["style"]) < 1e-10
    other = loss(torch.rand(1, 3, 32, 32), s[None])
    assert float(other["style"]) > 1e-3 and float(other["content"]) > 1e-3
    with pytest.raises(ZooError, match="layer 'block9' does not exist in lenet5; its layers are: c1s2, c3s4, c5"):
        style.PerceptualLoss(net, s, content_layer="block9")


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_stylize_decreases_the_loss_on_small_images(optimizer: str) -> None:
    torch.manual_seed(0)
    content, s = torch.rand(3, 32, 40), torch.from_numpy(style.procedural_style(32))
    net = style.feature_net("lenet5", "none", seed=0)
    result = style.stylize(content, s, net, steps=6, optimizer=optimizer, lr=0.05)
    first, last = result.history[0], result.history[-1]
    assert len(result.history) == 7 and first["content"] < 1e-3  # starts at the content image (squeezed into [0.01, 0.99])
    assert last["total"] < 0.8 * first["total"] and last["style"] < first["style"]
    totals = [h["total"] for h in result.history]
    if optimizer == "lbfgs":  # an overshooting L-BFGS step is undone: the loss never rises
        assert all(b <= a for a, b in zip(totals, totals[1:]))
    assert result.image.shape == content.shape and 0 <= float(result.image.min()) and float(result.image.max()) <= 1


def test_zoo_stylize_writes_result_sheet_and_curve_and_resizes_the_style_with_a_notice(tmp_path: Path) -> None:
    content = picture(tmp_path / "content.png", (60, 40), 1)
    grey_style = picture(tmp_path / "style.png", (23, 31), 2, mode="L")
    notes: list[str] = []
    report = style.run_stylize(content, grey_style, tmp_path / "out", style.StylizeSettings(backbone="lenet5", steps=3, size=48),
                               log=notes.append)
    assert notes == ["notice: style image is L; converted to RGB", "notice: style image is 23x31; resized to the content's 48x32"]
    assert report["final"]["total"] < report["initial"]["total"]
    with Image.open(tmp_path / "out" / "stylized.png") as out:
        assert out.size == (48, 32) and out.mode == "RGB"
    with Image.open(tmp_path / "out" / "contact_sheet.png") as sheet:
        assert sheet.width > 3 * 48
    assert (tmp_path / "out" / "loss_curve.png").stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "stylize.json").read_text())
    assert saved["notices"] == report["notices"] and len(saved["history"]) == 4 and saved["backbone"] == "lenet5"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache: nothing to load, nothing downloaded
    content, good = picture(tmp_path / "c.png", (40, 40), 1), picture(tmp_path / "s.png", (40, 40), 2)
    (tmp_path / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    base = ["stylize", str(content), str(good), "--out", str(out), "--steps", "1"]
    assert "style image" in run_cli(["stylize", str(content), str(tmp_path / "missing.png"), "--out", str(out)], capsys)
    assert "cannot be read as an image" in run_cli(["stylize", str(tmp_path / "notes.txt"), str(good), "--out", str(out)], capsys)
    err = run_cli([*base, "--backbone", "lenet5", "--content-layer", "conv4_2"], capsys)
    assert "layer 'conv4_2' does not exist in lenet5; its layers are: c1s2, c3s4, c5" in err
    err = run_cli([*base, "--backbone", "resnet18", "--weights", "imagenet"], capsys)
    assert "resnet18-f37072fd.pth" in err and str(tmp_path / "torch" / "hub" / "checkpoints") in err
    assert "unknown optimizer 'sgd'" in run_cli([*base, "--optimizer", "sgd", "--backbone", "lenet5"], capsys)
    assert "no such run directory or file" in run_cli([*base, "--weights", str(tmp_path / "nothing")], capsys)
    assert not out.exists()


def test_imagenet_weights_are_read_from_the_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision
    from safetensors.torch import save_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from zoo.backbones import BACKBONES
    from zoo.backbones.build import torchvision_weights_file

    target, _ = torchvision_weights_file(BACKBONES["mobilenet_v3_small"])
    target.parent.mkdir(parents=True)
    torch.manual_seed(5)
    state = torchvision.models.mobilenet_v3_small(weights=None).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(target.with_suffix(".safetensors")))
    net = style.feature_net("mobilenet_v3_small", "imagenet", seed=0)
    first_conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert torch.equal(first_conv.weight, state["features.0.0.weight"])


@pytest.fixture(scope="module")
def style_space(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from demos.space import write_space

    run = tmp_path_factory.mktemp("style-run") / "run"
    shutil.copytree(tiny_run("style-transfer"), run)
    return write_space(str(run), tmp_path_factory.mktemp("spaces") / "style-space", log=lambda *_: None)


def test_stylizer_demo_of_the_space_runs_the_onnx_graph(style_space: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    from demos.app import load_folder
    from demos.inputs import InputError, image_to_array, load_image
    from demos.stylizer import Stylizer

    files = {p.relative_to(style_space).as_posix() for p in style_space.rglob("*") if p.is_file()}
    assert {"style-transfer.onnx", "demos/stylizer.py", "demo.json", "app.py"} <= files
    _, (model,) = load_folder(style_space)
    assert model.kind == "stylizer" and model.examples["images"]
    stylizer = Stylizer(model)
    photo = picture(tmp_path / "photo.jpg", (50, 70), 3)
    got = np.asarray(stylizer.stylize(str(photo)), dtype=np.int16)
    session = ort.InferenceSession(str(style_space / "style-transfer.onnx"), providers=["CPUExecutionProvider"])
    x = image_to_array(load_image(str(photo), "image"), model.preprocessing)
    direct = np.clip(np.rint(session.run(None, {"image": x[None]})[0][0] * 255), 0, 255).transpose(1, 2, 0)
    assert got.shape == (32, 32, 3) and np.abs(got - direct).max() <= 1
    assert np.asarray(stylizer.stylize(model.examples["images"][0])).std() > 0
    (tmp_path / "bad.png").write_text("nope")
    with pytest.raises(InputError):
        stylizer.stylize(str(tmp_path / "bad.png"))


def test_style_transfer_refuses_a_bad_style_file_and_reads_a_good_one(tmp_path: Path) -> None:
    from zoo import registry

    spec = registry.create("style-transfer", {**registry.card("style-transfer").tiny, "style": str(tmp_path / "missing.png")})
    with pytest.raises(ZooError, match="style image .*missing.png does not exist"):
        spec.check_sources()
    wide = picture(tmp_path / "wide.png", (90, 30), 4, mode="L")
    spec = registry.create("style-transfer", {**registry.card("style-transfer").tiny, "style": str(wide)})
    s = spec.style_image()  # grey and not square: converted to RGB, centre-cropped and resized to image_size
    assert s.shape == (3, 32, 32) and torch.allclose(s[0], s[1])
    with pytest.raises(ZooError, match="trains on --data sample-photos"):
        registry.create("style-transfer", {**registry.card("style-transfer").tiny, "data": "digits"}).load_data()


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap", "constant"])
def test_onnx2torch_converts_pad_19_with_axes(mode: str) -> None:
    """Pad 19 (reflection/edge padding of image-to-image graphs) cannot be down-converted for onnx2torch;
    the zoo-domain converter runs it like onnxruntime, also with the ``axes`` input."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from exporters.pytorch import onnx_to_torch

    pads = numpy_helper.from_array(np.array([1, 2, 2, 1], np.int64), "pads")
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    value = numpy_helper.from_array(np.array(0.5, np.float32), "value")
    node = helper.make_node("Pad", ["x", "pads", "value" if mode == "constant" else "", "axes"], ["y"], mode=mode)
    graph = helper.make_graph([node], "pad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[pads, axes, value])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 4)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = onnx_to_torch(model)(torch.from_numpy(x)).numpy()
    assert got.shape == expected.shape == (1, 2, 6, 7)
    np.testing.assert_allclose(got, expected, atol=1e-6)
