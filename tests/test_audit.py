"""`zoo audit`: the target-agnostic attack (Rezaei & Liu 2020) as a security audit of a transfer-learned run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import train_tiny
from test_cli import run_cli


@pytest.fixture(scope="module")
def victim(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny transfer run fine-tuned (head only) from a tiny rotnet run's encoder."""
    return train_tiny("transfer", tmp_path_factory.mktemp("audit") / "victim", init_from=str(tiny_run("rotnet")),
                      freeze="all", labels_per_class=10, epochs=2)


def test_score_counts_effectiveness_nabac_and_classes() -> None:
    from zoo.audit import score

    p = np.array([[0.96, 0.02, 0.02], [0.5, 0.4, 0.1], [0.005, 0.99, 0.005], [0.97, 0.02, 0.01], [0.0, 0.01, 0.99]])
    out = score(p, np.array([1, 0, 3, 2, 4]), ["a", "b", "c"])
    assert out["effectiveness"] == {"95": 0.8, "99": 0.4}
    assert out["nabac"] == 5 and out["classes_broken"] == 3  # c is first hit at 95% by the 5th query
    assert [c["first_attempt_95"] for c in out["per_class"]] == [2, 4, 5]
    assert [c["crafted_inputs"] for c in out["per_class"]] == [3, 1, 1]
    assert score(p[:4], np.arange(4), ["a", "b", "c"])["nabac"] is None  # c never reached


def test_crafting_drives_the_chosen_neuron_to_the_top() -> None:
    from zoo.audit import AuditSettings, craft

    torch.manual_seed(0)
    features = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 3), torch.nn.ReLU(),
                                   torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    seeds = torch.rand(8, 1, 12, 12)
    with torch.no_grad():
        clean_range = features(seeds).amax(0)
    crafted = craft(features, seeds, list(range(8)), torch.zeros(1), torch.ones(1), AuditSettings(steps=100, lr=0.05))
    assert crafted.min() >= 0 and crafted.max() <= 1  # stays a valid image
    with torch.no_grad():
        f = features(crafted) / clean_range
    assert torch.equal(f.argmax(1), torch.arange(8))  # each input lifts its own neuron most, in units of its clean range
    assert (f[torch.arange(8), torch.arange(8)] > 1.2).all()  # above anything the clean images reach


def test_top_start_and_feature_ratios() -> None:
    from zoo.audit import feature_ratios, start_images
    from zoo.errors import ZooError

    images = torch.arange(4.0).view(4, 1, 1, 1)
    clean = torch.tensor([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [2.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    gen = np.random.default_rng(0)
    assert start_images(clean, images, [0, 1, 2], "top", gen).flatten().tolist() == [2.0, 1.0, 0.0]  # argmax per neuron
    assert len(start_images(clean, images, [0, 1], "random", gen)) == 2
    with pytest.raises(ZooError, match="random or top"):
        start_images(clean, images, [0], "best", gen)
    crafted = torch.tensor([[8.0, 2.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])  # neuron 0: 4x rest; neuron 1: tie; neuron 2 dead
    r = feature_ratios(crafted, [0, 1, 2], clean)
    assert r["target_over_rest_median"] == pytest.approx(1.0) and r["target_is_top_share"] == pytest.approx(1 / 3)
    assert r["target_over_clean_median"] == pytest.approx(1 / 3)  # 8/2, 1/3, 0/0 -> median 1/3
    assert r["dead_neuron_share"] == pytest.approx(1 / 3) and r["clean_zero_feature_share"] == pytest.approx(6 / 12)
    assert r["clean_top_over_second_median"] > 1


def test_audit_writes_report_and_picture(victim: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["audit", str(victim), "--steps", "20", "--neurons", "24"], capsys)
    assert code == 0, err
    report = json.loads((victim / "audit.json").read_text())
    assert report["neurons"] == 24 and report["freeze"] == "all" and report["retrained_stages"] == 0
    assert report["retrained_layers"] == 1 and report["backbone_source"].startswith("--init-from ")  # head only
    assert sum(c["crafted_inputs"] for c in report["per_class"]) == 24
    assert 0 <= report["effectiveness"]["99"] <= report["effectiveness"]["95"] <= 1
    assert Path(report["onnx"]).is_file() and Path(report["onnx"]).suffix == ".onnx"  # the deployed model was queried
    assert (victim / "audit.png").stat().st_size > 1000
    assert "effectiveness" in out and "NABAC" in out and "target / largest other" in out
    assert set(report["features"]) >= {"target_over_rest_median", "target_over_clean_median", "dead_neuron_share"}
    assert report["settings"]["start"] == "random"


@pytest.mark.parametrize("which, expected", [("rotnet", "not transfer-learned"), ("transfer", "random init")])
def test_audit_refuses_a_model_that_is_not_transfer_learned(which: str, expected: str, tiny_run,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run(which)
    capsys.readouterr()  # the fixture's training output (and its logging) is not the command's
    code, _, err = run_cli(["audit", str(run)], capsys)
    assert code != 0 and expected in err and "Traceback" not in err, err
    assert len([line for line in err.strip().splitlines() if line.strip()]) <= 3
    assert not (tiny_run(which) / "audit.json").exists()


def test_audit_names_a_missing_backbone_source(victim: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    copy = tmp_path / "victim"
    shutil.copytree(victim, copy)
    local = (copy / "run.yaml").read_text()  # --init-from is a local setting, recorded in run.yaml
    assert "init_from:" in local
    (copy / "run.yaml").write_text("\n".join(f"init_from: {tmp_path / 'gone'}" if line.startswith("init_from:") else line
                                             for line in local.splitlines()))
    code, _, err = run_cli(["audit", str(copy), "--steps", "2"], capsys)
    assert code != 0 and "--backbone-from" in err, err



def test_audit_report_renders_in_the_model_card(victim: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zoo import artifacts, card

    if not (victim / "audit.json").exists():
        assert run_cli(["audit", str(victim), "--steps", "5", "--neurons", "8"], capsys)[0] == 0
    art = artifacts.load(victim)
    report = json.loads((victim / "audit.json").read_text())
    text = card.render(art, card.CardContext("me/victim", files={"model.safetensors", "audit.json", "audit.png"}))
    assert "Security audit: target-agnostic attack" in text and "![original vs crafted inputs](audit.png)" in text
    assert f"{100 * report['effectiveness']['95']:.1f}%" in text
    assert "unmodified start images" in text and "target / largest other neuron" in text  # why it works or fails
    assert "Security audit" not in card.render(art, card.CardContext("me/victim", files={"model.safetensors"}))
