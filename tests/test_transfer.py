"""Transfer learning: freezing is real, gradual unfreezing and discriminative rates, --init-from another
artifact's backbone, offline pretrained weights, and a user's folder of mixed RGB photos end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli import main
from conftest import train_tiny
from zoo import artifacts, registry
from zoo.errors import ZooError


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def make_photo_folder(root: Path, per_class: int = 12) -> Path:
    """Three classes of synthetic 'photos' (colour blobs on textured backgrounds) in mixed sizes and
    formats: PNG, JPEG, BMP, WEBP, GIF (palette), RGBA with transparency, 16-bit-free grey."""
    rng = np.random.default_rng(0)
    colours = {"red_things": (200, 40, 40), "green_things": (40, 180, 60), "blue_things": (40, 60, 200)}
    formats = [("png", "RGB"), ("jpg", "RGB"), ("bmp", "RGB"), ("webp", "RGB"), ("gif", "P"), ("png", "RGBA"), ("jpg", "L")]
    for c, (name, rgb) in enumerate(colours.items()):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            h, w = int(rng.integers(24, 90)), int(rng.integers(24, 90))
            img = rng.integers(0, 80, (h, w, 3)).astype(np.uint8)
            y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
            img[y:y + h // 2, x:x + w // 2] = rgb
            suffix, mode = formats[(i + c) % len(formats)]
            pil = Image.fromarray(img)
            if mode == "RGBA":
                pil = pil.convert("RGBA")
            elif mode != "RGB":
                pil = pil.convert(mode)
            pil.save(root / name / f"{i}.{suffix}")
    return root


def tiny_net(**fields):
    from zoo.models.transfer.model import TransferNet

    cfg = registry.config_class("transfer")(**{"backbone": "resnet18", **fields})
    torch.manual_seed(0)
    return TransferNet(cfg, num_classes=3, in_channels=1), cfg


def test_frozen_stages_get_no_gradient_and_keep_their_batchnorm_statistics() -> None:
    from zoo.tasks.base import parameter_counts

    net, _ = tiny_net()
    net.freeze(3)  # stem, layer1, layer2
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loss = net(torch.randn(8, 1, 32, 32)).logsumexp(1).mean()
    loss.backward()
    for i, stage in enumerate(net.stages):
        for p in stage.parameters():
            assert (p.grad is None) == (i < 3), net.stage_names[i]
    after = net.state_dict()
    moved = {k.split(".")[1] for k in after if k.endswith("running_mean") and not torch.equal(after[k], before[k])}
    assert moved == {"3", "4"}, "only the unfrozen stages' BatchNorm statistics move"
    counts = parameter_counts(net)
    assert counts["frozen"] == sum(p.numel() for s in list(net.stages)[:3] for p in s.parameters())
    assert counts["trainable"] + counts["frozen"] == counts["total"]


def test_engine_training_leaves_frozen_stages_untouched_and_gradual_unfreezes_from_the_top(tmp_path: Path) -> None:
    common = {"backbone": "lenet5", "epochs": 3, "batch_size": 64, "labels_per_class": 20, "augment": False}
    fresh = registry.create("transfer", common).build_model().state_dict()
    cases = {"first-k": {"freeze": "first-k", "freeze_stages": 2}, "gradual": {"freeze": "gradual", "unfreeze_every": 1}}
    for case, extra in cases.items():
        run = train_tiny("transfer", tmp_path / case, **common, **extra)
        trained = artifacts.load(run).state_dict()
        changed = {int(k.split(".")[1]) for k in trained if k.startswith("stages.") and not torch.equal(trained[k], fresh[k])}
        # first-k: stages 0 and 1 frozen throughout. gradual (3 stages, 3 epochs): epoch 0 head only,
        # epoch 1 adds stage 2, epoch 2 adds stage 1; stage 0 is never unfrozen.
        assert changed == ({2} if case == "first-k" else {1, 2}), case
        summary = json.loads((run / "metrics.json").read_text())["parameter_summary"]["main"]
        assert summary["frozen"] > 0 and summary["trainable"] > 0


def test_discriminative_learning_rates_decay_towards_the_stem() -> None:
    from zoo.models.transfer.model import TransferStage

    net, cfg = tiny_net(lr=1e-2, lr_decay=0.5, freeze="first-k", freeze_stages=2)
    data = type("D", (), {"splits": {"train": np.arange(4), "val": np.arange(2)}})()
    stage = TransferStage(net, data, cfg)
    rates = [g["lr"] for g in stage.param_groups()]
    assert rates == pytest.approx([1e-2, 5e-3, 2.5e-3, 1.25e-3])  # head, layer4, layer3, layer2 (stem, layer1 frozen)
    assert sum(len(g["params"]) for g in stage.param_groups()) == sum(1 for p in net.parameters() if p.requires_grad)


def test_init_from_takes_the_backbone_of_another_artifact(tmp_path: Path, siamese_run: Path) -> None:
    source = train_tiny("transfer", tmp_path / "source", backbone="lenet5", epochs=1)
    target = train_tiny("transfer", tmp_path / "target", backbone="lenet5", epochs=1, freeze="all",
                        init_from=str(source), data="omniglot-minimal", labels_per_class=3)
    a, b = artifacts.load(source).state_dict(), artifacts.load(target).state_dict()
    for key in (k for k in a if k.startswith("stages.")):
        assert torch.equal(a[key], b[key]), key
    assert a["head.1.weight"].shape != b["head.1.weight"].shape  # a new head for the new classes
    with pytest.raises(ZooError, match="holds no zoo backbone"):
        train_tiny("transfer", tmp_path / "bad", backbone="lenet5", init_from=str(siamese_run))
    with pytest.raises(ZooError, match="pass --backbone lenet5"):
        train_tiny("transfer", tmp_path / "bad2", backbone="resnet18", init_from=str(source))


def test_pretrained_imagenet_offline_names_the_file_then_loads_it_once_placed(tmp_path: Path, monkeypatch) -> None:
    from safetensors.torch import save_file

    from zoo.backbones import BACKBONES
    from zoo.backbones.build import build_parts, torchvision_weights_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected, _ = torchvision_weights_file(BACKBONES["resnet18"])
    with pytest.raises(ZooError) as err:
        build_parts("resnet18", pretrained="imagenet")
    message = str(err.value)
    assert expected.name in message and str(expected.parent) in message and "\n" not in message
    import torchvision

    torch.manual_seed(3)
    donor = torchvision.models.resnet18(weights=None)
    expected.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in donor.state_dict().items()}, str(expected.with_suffix(".safetensors")))
    parts = build_parts("resnet18", in_channels=3, pretrained="imagenet")
    assert torch.equal(parts.stages[1][1][0].conv1.weight, donor.layer1[0].conv1.weight)
    grey = build_parts("resnet18", in_channels=1, pretrained="imagenet")  # RGB kernels summed for grey input
    assert torch.allclose(grey.stages[0][1][0].weight, donor.conv1.weight.sum(1, keepdim=True))
    # the weights' normalisation travels into the model description
    spec = registry.create("transfer", {"pretrained": "imagenet", "backbone": "resnet18", "color": "RGB", "in_channels": 3,
                                         "class_names": ["a", "b"]})
    assert spec.preprocessing().mean == BACKBONES["resnet18"].mean
    tampered = expected.parent / expected.name  # an official .pth must match the sha256 prefix in its name
    tampered.write_bytes(b"not the real file")
    expected.with_suffix(".safetensors").unlink()
    with pytest.raises(ZooError, match="sha256 prefix"):
        build_parts("resnet18", pretrained="imagenet")


def test_inception_v3_frozen_base_with_the_source_head_has_the_source_counts() -> None:
    """The source's Keras example: frozen InceptionV3 base, GAP, Dense 256, Dense 64, one sigmoid unit:
    22,343,841 parameters, 541,057 trainable. Keras counts BatchNorm moving statistics as parameters and
    its InceptionV3 BatchNorm has no scale (gamma); torchvision's has one (17,216 more weights)."""
    from zoo.tasks.base import parameter_counts

    from zoo.models.transfer.model import TransferNet

    net = TransferNet(registry.config_class("transfer")(backbone="inception_v3", image_size=75, head="mlp",
                                                      head_hidden=[256, 64], dropout=0.0, binary_single_logit=True), 2, 3)
    net.freeze(len(net.stages))
    counts = parameter_counts(net)
    bn_scale = sum(m.weight.numel() for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert counts["trainable"] == 541_057
    assert counts["total"] + counts["bn_statistics"] - bn_scale == 22_343_841
    assert net(torch.randn(2, 3, 75, 75)).shape == (2, 2)


def test_photo_folder_trains_evaluates_exports_and_classifies(tmp_path: Path, capsys) -> None:
    from demos.image_classifier import Classifier
    from demos.prepare import demo_model, prepare
    from exporters.export import export

    folder = make_photo_folder(tmp_path / "photos")
    run_dir = tmp_path / "run"
    code, out, err = run_cli(["train", "transfer", "--data", f"imagefolder:{folder}", "--backbone", "resnet18",
                              "--freeze", "first-k", "--freeze-stages", "2", "--epochs", "2", "--image-size", "32",
                              "--batch-size", "16", "--run-dir", str(run_dir), "--no-progress", "--checkpoint-every", "0"], capsys)
    assert code == 0, err
    assert "frozen" in err and "test/top5_acc" in out
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert 0 <= metrics["test/acc"] <= 1 and metrics["test/top5_acc"] == 1.0  # 3 classes: top-5 holds every class
    assert (run_dir / "confusion_matrix.png").stat().st_size > 0
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert config["data"] == "imagefolder" and str(folder) not in json.dumps(config)  # no local path in config.json
    assert config["class_names"] == ["blue_things", "green_things", "red_things"] and config["in_channels"] == 3
    onnx = export(run_dir, "onnx")
    keras = export(run_dir, "keras")
    assert onnx.parity["passed"] and keras.parity["passed"]
    code, out, err = run_cli(["bench", str(run_dir), "--providers", "cpu", "--batch-sizes", "1,4", "--warmup", "1",
                              "--iters", "5", "--no-torch-compile"], capsys)
    assert code == 0, err
    bench = json.loads((run_dir / "bench.json").read_text())
    assert {r["runtime"] for r in bench["results"] if r["status"] == "ok"} >= {"onnxruntime", "torch"}
    prepared = prepare(str(run_dir), expected="transfer", examples_dir=tmp_path / "examples", log=lambda *_: None)
    classifier = Classifier(demo_model(prepared, threads=1))
    top = classifier.classify(str(next((folder / "red_things").glob("*.webp"))))
    assert set(top) == {"blue_things", "green_things", "red_things"} and sum(top.values()) == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize("args, expected", [
    (["--backbone", "resnet999"], "unknown backbone"),
    (["--backbone", "inception_v3", "--image-size", "32"], "needs image_size >= 75"),
    (["--freeze", "first-k", "--freeze-stages", "9", "--backbone", "lenet5"], "exceeds the 3 stages"),
    (["--binary-single-logit", "--backbone", "lenet5"], "needs 2 classes"),
    (["--pretrained", "imagenet", "--backbone", "lenet5"], "no ImageNet weights"),
    (["--pretrained", "/nonexistent/w.safetensors", "--backbone", "lenet5"], "does not exist"),
])
def test_bad_transfer_options_are_one_line_errors(args: list[str], expected: str, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(["train", "transfer", "--out", str(tmp_path / "runs"), "--epochs", "1", "--no-progress", *args], capsys)
    assert code != 0 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not any((tmp_path / "runs").rglob("model.safetensors"))
