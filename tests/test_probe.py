"""`zoo probe`: linear probe per backbone stage, a run's backbone against random init."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_cli import run_cli


def test_probe_reports_every_stage_against_random_init(tiny_run, capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run("rotnet")
    capsys.readouterr()  # the fixture's training output is not the command's
    code, out, err = run_cli(["probe", str(run), "--labels-per-class", "5", "--seeds", "0,1"], capsys)
    assert code == 0, err
    report = json.loads((run / "probe.json").read_text())
    assert [s["stage"] for s in report["stages"]] == ["c1s2", "c3s4", "c5"]  # lenet5's stages, stem first
    assert report["seeds"] == [0, 1] and report["train_images"] == 50 and report["test_images"] > 100
    for s in report["stages"]:
        for which in ("pretrained", "random"):
            values = s[which]["per_seed"]
            assert len(values) == 2 and all(0.1 < v <= 1 for v in values)  # well above chance (10 digits) yet a real accuracy
            assert s[which]["mean"] == pytest.approx(np.mean(values))
    # the run's trained weights and a random init give different features, hence different probe results
    assert any(s["pretrained"]["per_seed"] != s["random"]["per_seed"] for s in report["stages"])
    assert (run / "probe.png").stat().st_size > 1000
    assert "c3s4" in out and "random init" in out


def test_stage_weights_are_the_runs_and_random_init_follows_the_seed(tiny_run) -> None:
    import torch

    from zoo import artifacts
    from zoo.probe import backbone_of, build_stages, stage_features

    art = artifacts.load(tiny_run("rotnet"))
    name, weights = backbone_of(art)
    _, ours = build_stages(name, 1, weights, seed=5)
    assert torch.equal(ours[0][0].weight, art.state_dict()["stages.0.0.weight"])
    _, a = build_stages(name, 1, None, seed=3)
    _, b = build_stages(name, 1, None, seed=3)
    _, c = build_stages(name, 1, None, seed=4)
    x = art.spec.data.images[:4]
    fa, fb, fc, fo = (stage_features(s, x) for s in (a, b, c, ours))
    assert all(np.array_equal(u, v) for u, v in zip(fa, fb))
    assert not np.allclose(fa[-1], fc[-1]) and not np.allclose(fa[-1], fo[-1])
    assert [f.shape[1] for f in fo] == [6 * 16, 16 * 16, 120]  # 4x4 grid where the map allows, 1x1 for c5


@pytest.mark.parametrize("args, expected", [(["--seeds", "0,0"], "repeats"), (["--seeds", "x"], "comma-separated"),
                                            (["--labels-per-class", "0"], "labels-per-class")])
def test_probe_bad_options_are_one_line_errors(args: list[str], expected: str, tiny_run,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run("noise-level")
    capsys.readouterr()  # the fixture's training output is not the command's
    code, _, err = run_cli(["probe", str(run), *args], capsys)
    assert code != 0 and expected in err and "Traceback" not in err, err
    assert not (run / "probe.json").exists()


def test_probe_refuses_a_model_without_a_backbone(siamese_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["probe", str(siamese_run)], capsys)
    assert code != 0 and "no zoo backbone" in err and "Traceback" not in err, err
    assert len([line for line in err.strip().splitlines() if line.strip()]) <= 2
    assert not (siamese_run / "probe.json").exists()


@pytest.mark.parametrize("model", ["transfer", "context"])
def test_probe_works_on_other_backbone_models(model: str, tiny_run) -> None:
    from zoo.probe import probe

    run = tiny_run(model)
    report = probe(run, labels_per_class=3, seeds=[0], log=lambda *_: None, image_size=32)
    assert report.model == model and report.image_size == 32 and len(report.stages) == 3
    assert json.loads((run / "probe.json").read_text())["model"] == model
