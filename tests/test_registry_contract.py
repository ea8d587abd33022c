"""The contract every registered model keeps, parametrised over the registry (a new model is tested
here without editing any test file): a torch-free card whose static figures are right, a config that
splits into portable and machine parts, one real training run with its tiny config, save/load, int8
static quantisation judged by the task metric, and ONNX -> PyTorch. (ONNX and Keras 3 export with
fresh-process parity: tests/test_exporters.py; the demo of every model: tests/test_demos.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import artifacts, registry

MODELS = registry.names()


@pytest.mark.parametrize("name", MODELS)
def test_card_is_torch_free_and_its_parameter_count_is_right(name: str) -> None:
    code = ("import sys, json; from zoo import registry; c = registry.card(sys.argv[1]); c.config_class(); "
            "print(json.dumps([m for m in ('torch', 'lightning', 'onnx', 'keras', 'gradio') if m in sys.modules]))")
    heavy = json.loads(subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, check=True).stdout)
    assert heavy == [], f"reading the card of {name} imported {heavy}"
    card = registry.card(name)
    for attr in ("summary", "task", "paper", "default_data", "primary_metric", "inputs"):
        assert getattr(card, attr), f"{name}'s card has no {attr}"
    spec = registry.create(name)
    assert sum(p.numel() for p in spec.build_model().parameters()) == card.parameters
    assert spec.name == name and spec.card is card


@pytest.mark.parametrize("name", MODELS)
def test_tiny_run_trains_saves_and_loads(name: str, tiny_run) -> None:
    import torch

    run = tiny_run(name)
    doc = json.loads((run / "metrics.json").read_text())
    assert registry.card(name).primary_metric in doc["metrics"]
    assert doc["parameter_summary"], "the training summary records trainable and frozen parameters"
    art = artifacts.load(run)
    saved = art.state_dict()
    for key, tensor in art.model.state_dict().items():
        assert torch.equal(tensor, saved[key])
    # the portable config carries no machine settings and no local paths
    portable = json.loads((run / "config.json").read_text())["config"]
    assert not {"devices", "strategy", "accelerator", "num_nodes", "data_dir"} & set(portable)
    metrics = art.spec.evaluate(art.predictor())
    assert metrics[art.spec.primary_metric] == pytest.approx(doc["metrics"][art.spec.primary_metric], abs=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_int8_static_and_onnx_to_pytorch(name: str, tiny_run, tmp_path: Path) -> None:
    from exporters.export import convert, export

    run = tiny_run(name)
    int8 = export(run, "onnx", tmp_path, quantize="static", metric_tolerance=1.0)
    assert int8.parity["metric"]["primary"] == registry.card(name).primary_metric
    assert int8.path.stat().st_size > 0 and int8.parity["passed"]
    onnx = export(run, "onnx", tmp_path)
    assert set(onnx.parity["batches"]) == {str(b) for b in registry.create(name).export_spec().parity_batches}
    back = convert(onnx.path, "pytorch", tmp_path)
    assert back.parity["passed"] and back.path.suffix == ".safetensors"
    assert max(o["max_abs_error"] for o in back.parity["outputs"].values()) < 1e-4


def test_adding_a_model_needs_only_its_package_and_the_registry_line(tmp_path: Path) -> None:
    """A model from another distribution (an entry point naming its package) is listed, described and
    trainable from the CLI; no test or fixture names it."""
    pkg = tmp_path / "extra_zoo_model"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from zoo.registry import ModelCard\n"
        "CARD = ModelCard(name='tiny-lenet', summary='LeNet-5 through the transfer task', task='image classification',\n"
        "    kind='image-classification', paper='LeCun et al. 1998', config='zoo.models.transfer.config:TransferConfig',\n"
        "    impl='extra_zoo_model.model:TinyLenet', default_data='digits', primary_metric='test/acc', parameters=0,\n"
        "    inputs='image', tiny={'backbone': 'lenet5', 'epochs': 1})\n")
    (pkg / "model.py").write_text(
        "from extra_zoo_model import CARD\nfrom zoo.models.transfer.model import Transfer\nfrom zoo.registry import register\n"
        "@register\nclass TinyLenet(Transfer):\n    card = CARD\n")
    dist = tmp_path / "extra_zoo_model-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-zoo-model\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[zoo.models]\ntiny-lenet = extra_zoo_model\n")
    code = ("from zoo import registry; import sys; assert 'tiny-lenet' in registry.names(); "
            "c = registry.card('tiny-lenet'); m = registry.create('tiny-lenet', c.tiny); print(type(m).__name__, m.name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin"})
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.split() == ["TinyLenet", "tiny-lenet"]


def test_listing_commands_import_no_heavy_module() -> None:
    code = ("import sys, cli\n"
            "for args in (['list'], ['info', 'transfer'], ['info', 'siamese'], ['train', '--help'], ['train', 'transfer', '--help']):\n"
            "    try:\n        cli.main(args)\n    except SystemExit as e:\n        assert e.code == 0, (args, e.code)\n"
            "print('HEAVY', sorted(m for m in ('torch', 'lightning', 'onnx', 'keras', 'gradio', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout
    assert "lenet5" in out.stdout and "--freeze-stages" in out.stdout  # the backbone table and transfer's options


@pytest.mark.parametrize("name", MODELS)
def test_every_preset_is_a_valid_config(name: str) -> None:
    card = registry.card(name)
    for preset in card.presets:
        config = card.config_class()(**preset.config)
        assert all(getattr(config, k) == v for k, v in preset.config.items()), preset.name
    with pytest.raises(Exception, match="has no preset 'bogus'"):
        card.preset("bogus")


def test_train_with_a_preset_and_a_bad_preset(tmp_path: Path, capsys) -> None:
    from cli import main

    with pytest.raises(SystemExit) as bad:
        main(["train", "transfer", "--preset", "bogus", "--out", str(tmp_path)])
    assert bad.value.code != 0 and "has no preset 'bogus'" in capsys.readouterr().err
    run = tmp_path / "lenet"
    with pytest.raises(SystemExit) as ok:
        main(["train", "transfer", "--preset", "lenet5-scratch", "--epochs", "1", "--run-dir", str(run), "--no-progress",
              "--checkpoint-every", "0"])
    assert ok.value.code == 0
    assert json.loads((run / "config.json").read_text())["config"]["backbone"] == "lenet5"
