"""capsnet: squash, margin loss, unrolled routing (in the exported graph too), a short real training run,
bad configs, and the demo's capsule lengths and reconstruction against onnxruntime."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import train_tiny
from zoo import registry
from zoo.errors import ZooError
from zoo.models.capsnet.model import capsule_lengths, margin_loss, squash


def test_squash_keeps_direction_and_maps_lengths_into_0_1() -> None:
    s = torch.tensor([[3.0, 4.0], [0.03, 0.04], [0.0, 0.0]])
    v = squash(s)
    lengths = capsule_lengths(v)
    assert lengths[0].item() == pytest.approx(25 / 26, abs=1e-5)  # |s| = 5 -> 25 / 26
    assert lengths[1].item() == pytest.approx(0.0025 / 1.0025, abs=1e-4)  # short vectors shrink towards 0
    assert torch.allclose(v[0] / lengths[0], s[0] / 5, atol=1e-6)
    assert torch.isfinite(v).all() and lengths[2].item() < 1e-3  # a zero vector stays (almost) zero, no NaN


def test_margin_loss_matches_the_paper_formula() -> None:
    lengths = torch.tensor([[0.95, 0.05, 0.5], [0.2, 0.8, 0.0]])
    y = torch.tensor([0, 0])
    # row 0: present 0.95 > 0.9 -> 0; absent 0.05 < 0.1 -> 0; absent 0.5 -> 0.5 * 0.4^2
    # row 1: present 0.2 -> 0.7^2; absent 0.8 -> 0.5 * 0.7^2; absent 0 -> 0
    expected = (0.5 * 0.16 + 0.49 + 0.5 * 0.49) / 2
    assert margin_loss(lengths, y, 0.9, 0.1, 0.5).item() == pytest.approx(expected, abs=1e-6)


def test_routing_iterations_change_the_class_capsules_and_are_unrolled_in_onnx(tmp_path: Path) -> None:
    import onnx

    tiny = registry.card("capsnet").tiny
    x = torch.randn(5, 1, 20, 20)
    out = {}
    for iterations in (1, 3):
        spec = registry.create("capsnet", {**tiny, "routing_iterations": iterations, "class_names": [str(i) for i in range(10)],
                                           "in_channels": 1})
        net = spec.build_model().eval()
        with torch.no_grad():
            out[iterations] = net(x)
    assert out[1][0].shape == (5, 10) and out[1][1].shape == (5, 1, 20, 20)
    assert not torch.allclose(out[1][0], out[3][0], atol=1e-4)  # routing re-weights the predictions
    assert ((out[3][0] > 0) & (out[3][0] < 1)).all() and ((out[3][1] >= 0) & (out[3][1] <= 1)).all()

    path = tmp_path / "capsnet.onnx"
    torch.onnx.export(net, (x,), str(path), input_names=["image"], output_names=["capsule_lengths", "reconstruction"],
                      dynamo=False, opset_version=18)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "Loop" not in ops and "If" not in ops
    assert ops.count("Softmax") == 2  # iterations 2 and 3 (the first has uniform coupling 1/J)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few epochs on digits at 20x20 with small widths: seconds on a CPU."""
    return train_tiny("capsnet", tmp_path_factory.mktemp("capsnet") / "run", epochs=3, conv_channels=8, primary_types=8,
                      decoder_hidden=[64], lr=5e-3)


def test_short_training_learns_digits_and_the_decoder_reconstructs(trained: Path) -> None:
    from zoo import artifacts

    metrics = json.loads((trained / "metrics.json").read_text())["metrics"]
    assert metrics["test/acc"] > 0.6, metrics  # 10 classes: chance is 0.1
    art = artifacts.load(trained)
    rows = art.spec.data.splits["test"][:64]
    images = art.spec.data.images[rows]
    with torch.no_grad():
        lengths, reconstruction = art.model(images)
        pixels = art.model.pixels(images)
    fresh = art.spec.build_model().eval()
    with torch.no_grad():
        untrained_error = ((fresh(images)[1] - pixels) ** 2).mean().item()
    trained_error = ((reconstruction - pixels) ** 2).mean().item()
    assert trained_error < 0.5 * untrained_error, (trained_error, untrained_error)  # the 0.0005-scaled loss does train it
    # inference masks the longest capsule: the reconstruction is the one the decoder gives that class
    mask = torch.nn.functional.one_hot(lengths.argmax(1), 10).float()
    with torch.no_grad():
        v = art.model.class_capsules(art.model.primary_capsules(images))
        assert torch.allclose(art.model.reconstruct(v, mask), reconstruction, atol=1e-6)


@pytest.mark.parametrize(("overrides", "phrase"), [
    ({"image_size": 16}, "image_size"),
    ({"m_plus": 0.2, "m_minus": 0.3}, "m_minus"),
    ({"routing_iterations": 0}, "routing_iterations"),
])
def test_bad_config_is_refused(overrides: dict, phrase: str) -> None:
    from zoo.config import load_config

    with pytest.raises(ZooError, match=phrase) as err:
        load_config(registry.config_class("capsnet"), overrides=overrides, source="test")
    assert "\n" not in str(err.value)


def test_capsnet_neither_teaches_nor_learns_from_a_teacher(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="not logits") as err:
        train_tiny("transfer", tmp_path / "student", teacher=str(trained))
    assert "\n" not in str(err.value) and not (tmp_path / "student").exists()
    with pytest.raises(ZooError, match="does not learn from a --teacher"):
        train_tiny("capsnet", tmp_path / "caps-student", teacher=str(trained))
    assert not (tmp_path / "caps-student").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_shows_capsule_lengths_and_the_reconstruction(trained: Path, tmp_path: Path) -> None:
    import shutil

    import onnxruntime as ort
    from gradio_client import Client, handle_file
    from PIL import Image

    from demos.app import allowed_folders, build_app, launch
    from demos.prepare import demo_model, prepare

    run = Path(shutil.copytree(trained, tmp_path / "run"))
    prepared = prepare(str(run), expected="capsnet", examples_dir=tmp_path / "examples", log=lambda *_: None)
    model = demo_model(prepared, threads=1)
    app = build_app([model], "capsnet")
    port = free_port()
    launch(app, host="127.0.0.1", port=port, block=False, allowed_paths=allowed_folders([model], tmp_path / "examples"))
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        example = model.examples["images"][0]
        session = ort.InferenceSession(str(prepared.onnx), providers=["CPUExecutionProvider"])
        x = prepared.source.spec.example_inputs(1)
        lengths, reconstruction = session.run(None, x)
        scores = client.predict(handle_file(example), api_name="/capsnet_classify")
        names = model.document["labels"]
        assert len(scores["confidences"]) == 5
        for c in scores["confidences"]:  # the lengths themselves, not a softmax of them
            assert c["confidence"] == pytest.approx(float(lengths[0][names.index(c["label"])]), abs=1e-4)
        picture = np.asarray(Image.open(client.predict(handle_file(example), api_name="/capsnet_reconstruct")).convert("L"))
        assert picture.shape == (20, 20)
        assert np.abs(picture.astype(float) - reconstruction[0, 0] * 255).max() <= 1.0
    finally:
        app.close()


def test_trains_on_mnist_through_the_real_loader_and_reads_omniglot_offline(tmp_path: Path) -> None:
    from tests.test_data import _write_idx

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 50), ("t10k", 20)):  # MNIST's own idx files, as its downloader leaves them
        _write_idx(tmp_path / "mnist" / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        _write_idx(tmp_path / "mnist" / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    run = train_tiny("capsnet", tmp_path / "mnist-run", data="mnist", data_dir=str(tmp_path / "mnist"), image_size=28)
    doc = json.loads((run / "config.json").read_text())
    assert len(doc["config"]["class_names"]) == 10 and doc["outputs"][1]["shape"] == ["batch", 1, 28, 28]
    assert "test/acc" in json.loads((run / "metrics.json").read_text())["metrics"]
    # the embedded Omniglot: one class capsule per character (242), ink = 1 as on the other grey sets
    spec = registry.create("capsnet", {**registry.card("capsnet").tiny, "data": "omniglot-minimal"})
    images = spec.data.images[spec.data.splits["test"][:4]]
    with torch.no_grad():
        lengths, reconstruction = spec.build_model().eval()(images)
    assert lengths.shape == (4, len(spec.config.class_names)) == (4, 242) and reconstruction.shape == (4, 1, 20, 20)
