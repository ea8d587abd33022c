"""`context` (Doersch et al. 2015): patch geometry and defences, bad options, the shared encoder, its
graph and transfer learning from a context run with every freezing strategy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import train_tiny
from test_cli import run_cli
from zoo import registry


def positions(patches: torch.Tensor, size: int) -> torch.Tensor:
    """(row, col) of each patch's top-left pixel in an image whose pixel values are their flat index."""
    first = patches[:, 0, 0, 0].long()
    return torch.stack([first // size, first % size], 1)


def index_images(n: int, size: int, channels: int = 1) -> torch.Tensor:
    return torch.arange(size * size, dtype=torch.float64).view(1, 1, size, size).repeat(n, channels, 1, 1)


def test_neighbour_sits_where_its_label_says() -> None:
    from zoo.models.context.model import NEIGHBOURS

    spec = registry.create("context", {"image_size": 96, "patch_size": 32, "gap": 0, "jitter": 0, "drop_channels": False})
    out, y = spec.pretext_batch(index_images(64, 96), torch.Generator().manual_seed(0))
    assert out.shape == (64, 1, 32, 64) and set(y.tolist()) == set(range(8))
    base, neighbour = positions(out[..., :32], 96), positions(out[..., 32:], 96)
    assert (base == 32).all()  # a rigid grid that fills the image: the base is the centre cell
    assert torch.equal(neighbour - base, 32 * torch.tensor(NEIGHBOURS)[y])
    assert torch.equal(out[0, 0, 0, 32:], torch.arange(32, dtype=torch.float64) + 96 * neighbour[0, 0] + neighbour[0, 1])


def test_gap_and_jitter_move_patches_within_their_bounds() -> None:
    from zoo.models.context.model import NEIGHBOURS

    spec = registry.create("context", {"image_size": 120, "patch_size": 32, "gap": 6, "jitter": 3, "drop_channels": False})
    out, y = spec.pretext_batch(index_images(400, 120), torch.Generator().manual_seed(1))
    base, neighbour = positions(out[..., :32], 120), positions(out[..., 32:], 120)
    offset = neighbour - base - (32 + 6) * torch.tensor(NEIGHBOURS)[y]
    assert offset.abs().max() == 6  # two independent jitters of up to 3 px each
    assert len(offset.unique()) == 13  # every relative jitter from -6 to 6 occurs
    assert base.min() >= 0 and (neighbour + 32).max() <= 120


def test_drop_channels_rgb_keeps_one_channel_and_grey_changes_contrast() -> None:
    from zoo.models.context.model import drop_channels

    gen = torch.Generator().manual_seed(2)
    rgb = torch.randn(50, 3, 8, 8, generator=gen)
    dropped = drop_channels(rgb, gen)
    for i in range(50):
        kept = [c for c in range(3) if torch.equal(dropped[i, c], rgb[i, c])]
        assert len(kept) == 1
        others = [c for c in range(3) if c not in kept]
        assert dropped[i, others].std() < 0.05 * rgb[i, kept[0]].std()  # faint noise, no colour left
    grey = torch.randn(200, 1, 8, 8, generator=gen)
    changed = drop_channels(grey, gen)
    ratio = changed.flatten(1).std(1) / grey.flatten(1).std(1)
    assert 0.6 <= ratio.min() < 0.8 and 1.2 < ratio.max() <= 1.4  # per-patch contrast in [0.6, 1.4]
    assert (changed.mean((1, 2, 3)) - grey.mean((1, 2, 3))).abs().max() > 0.3  # and brightness shifts


@pytest.mark.parametrize("option, expected", [
    (["--patch-size", "40", "--image-size", "112"], "larger than image_size 112"),
    (["--gap", "20"], "larger than image_size"),
    (["--patch-size", "16"], "needs image_size >= 32"),
])
def test_bad_context_options_are_one_line(option: list[str], expected: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "runs"
    code, _, err = run_cli(["train", "context", "--out", str(out_dir), *option, "--no-progress"], capsys)
    assert code != 0 and expected in err and "Traceback" not in err, err
    assert len([line for line in err.strip().splitlines() if line.strip()]) <= 3
    assert not out_dir.exists() or not any(out_dir.rglob("*.safetensors"))


def test_one_encoder_serves_both_patches_and_is_its_own_graph(tiny_run) -> None:
    from zoo import artifacts

    run = tiny_run("context")
    assert json.loads((run / "metrics.json").read_text())["metrics"]["test/pretext_acc"] > 0.2  # chance: 1/8
    art = artifacts.load(run)
    spec, model = art.spec, art.model.eval()
    graphs = spec.export_spec().graphs
    assert [g.name for g in graphs] == ["model", "encoder"] and graphs[1].inputs[0].shape == ("batch", 1, 32, 32) and graphs[1].inputs[0].name == "patch"
    pair = torch.from_numpy(spec.example_inputs(5)["image"])
    encoder = getattr(model, graphs[1].module)
    with torch.no_grad():
        merged = torch.cat([encoder(pair[..., :32]), encoder(pair[..., 32:])], 1)
        assert torch.allclose(model.head(merged), model(pair))
    keys = list(load_file(str(run / "model.safetensors")))
    assert sum(k.startswith("stages.0.0.weight") for k in keys) == 1  # one set of backbone weights, shared
    assert not any("branch" in k or k.startswith("encoder.") for k in keys)


@pytest.mark.parametrize("freeze", ["all", "first-k", "none", "gradual"])
def test_transfer_init_from_context(freeze: str, tiny_run, tmp_path: Path) -> None:
    source_run = tiny_run("context")
    run = train_tiny("transfer", tmp_path / "tr", init_from=str(source_run), freeze=freeze, freeze_stages=2,
                     labels_per_class=10)
    source = load_file(str(source_run / "model.safetensors"))
    tuned = load_file(str(run / "model.safetensors"))
    frozen = {"all": 3, "first-k": 2, "none": 0, "gradual": 3}[freeze]  # gradual: 1 epoch, all still frozen
    for key, value in source.items():
        if key.startswith("stages."):
            assert torch.equal(tuned[key], value) == (int(key.split(".")[1]) < frozen), key
    assert 0 <= json.loads((run / "metrics.json").read_text())["metrics"]["test/acc"] <= 1


def test_encoder_graph_exports_and_matches_the_encoder(tiny_run, tmp_path: Path) -> None:
    import numpy as np

    from exporters.export import export
    from exporters.runtime import onnx_predictor
    from zoo import artifacts

    run = tiny_run("context")
    export(run, "onnx", tmp_path)
    encoder_file = tmp_path / "context.encoder.onnx"
    assert encoder_file.is_file()
    art = artifacts.load(run)
    patches = art.spec.graph_example_inputs(art.spec.export_spec().graphs[1], 7)["patch"]
    assert patches.shape == (7, 1, 32, 32)
    with torch.no_grad():
        expected = art.model.encoder(torch.from_numpy(patches)).numpy()
    got = onnx_predictor(encoder_file)({"patch": patches})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_example_pairs_survive_the_demo_png_round_trip(tiny_run, tmp_path: Path) -> None:
    """The generic image-classifier demo shows example pairs as PNG files: they must read back exactly."""
    import numpy as np

    from demos.inputs import array_to_image, image_to_array
    from zoo import artifacts

    spec = artifacts.load(tiny_run("context")).spec
    pairs = spec.example_inputs(4)["image"]
    pre = spec.preprocessing().to_dict()
    assert pre["size"] == (32, 64)
    for pair in pairs:
        path = tmp_path / "pair.png"
        array_to_image(pair, pre).save(path)
        from PIL import Image

        np.testing.assert_allclose(image_to_array(Image.open(path), pre), pair, atol=1e-6)
