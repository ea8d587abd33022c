"""Training end to end through the real engine: run files, determinism, SIGKILL + --resume, 2-process DDP."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import zoo
from conftest import zoo_command
from zoo import registry

RESUMABLE = ["--epochs", "1", "--steps-per-epoch", "40", "--checkpoint-every", "5", "--batch-size", "48",
             "--image-size", "28", "--channels", "12,24", "--embedding-dim", "32", "--val-trials", "20",
             "--eval-trials", "40", "--eval-ways", "5,20", "--no-progress"]


def test_run_directory_holds_every_artifact(siamese_run: Path) -> None:
    for name in ("config.yaml", "config.json", "model.safetensors", "metrics.json", "training_curves.png",
                 "model_card.md", "splits.json", "checkpoints/last.ckpt", "checkpoints/best.ckpt", "logs/main/metrics.csv"):
        assert (siamese_run / name).is_file(), name
    assert any((siamese_run / "logs" / "tensorboard").rglob("events.out.tfevents*"))
    doc = json.loads((siamese_run / "metrics.json").read_text())
    metrics = doc["metrics"]
    assert 0 <= metrics["test/5way_acc"] <= 1 and metrics["test/5way_trials"] == 40
    assert 0 <= metrics["test/pair_auc"] <= 1 and doc["train_seconds"] > 0 and doc["peak_memory_mb"] > 0
    splits = json.loads((siamese_run / "splits.json").read_text())
    held_out = set(splits["test"]["groups"]) | set(splits["val"]["groups"])
    assert held_out.isdisjoint(splits["train"]["groups"])  # whole alphabets are held out
    assert (siamese_run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_training_leaves_the_environment_as_it_was(siamese_run: Path) -> None:
    from zoo.engine import RUN_DIR_ENV

    assert RUN_DIR_ENV not in os.environ  # else every later child process would write into that run


def test_eval_reproduces_the_recorded_metrics(siamese_run: Path) -> None:
    art = zoo.load(str(siamese_run))
    recorded = json.loads((siamese_run / "metrics.json").read_text())["metrics"]
    assert art.spec.evaluate(art.predictor()) == recorded


def test_branches_share_one_module_and_distance_is_symmetric() -> None:
    spec = registry.create("siamese", {"image_size": 24, "channels": [4, 8], "embedding_dim": 8})
    net = spec.build_model().eval()
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in net.branch.parameters()) + 9
    left, right = torch.rand(3, 1, 24, 24), torch.rand(3, 1, 24, 24)
    with torch.no_grad():
        assert torch.allclose(net(left, right), net(right, left))
        assert torch.all((net(left, right) > 0) & (net(left, right) < 1))


def _weights(run: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in load_file(run / "model.safetensors").items()}


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run([*zoo_command(), "train", "siamese", "--run-dir", str(straight), *RESUMABLE], check=True, capture_output=True)

    proc = subprocess.Popen([*zoo_command(), "train", "siamese", "--run-dir", str(killed), *RESUMABLE],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists() and not (killed / "metrics.json").exists(), "the run must be killed mid-training"
    step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < step < 40

    subprocess.run([*zoo_command(), "train", "siamese", "--resume", str(killed), "--no-progress"], check=True, capture_output=True)
    a = json.loads((straight / "metrics.json").read_text())["metrics"]
    b = json.loads((killed / "metrics.json").read_text())["metrics"]
    assert a == b
    wa, wb = _weights(straight), _weights(killed)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_resume_refuses_a_finished_run(siamese_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "siamese", "--resume", str(siamese_run)])
    assert info.value.code == 2 and "already finished" in capsys.readouterr().err


def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "--no-python", *zoo_command(), "train",
                           "siamese", "--out", str(tmp_path), "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
                           *RESUMABLE[:2], "--steps-per-epoch", "8", *RESUMABLE[6:]],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = list((tmp_path / "siamese").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("ddp-")  # both ranks agreed on one run directory
    assert (runs[0] / "model.safetensors").is_file() and (runs[0] / "metrics.json").is_file()
    with (runs[0] / "logs" / "main" / "metrics.csv").open() as fh:
        steps = [int(row["step"]) for row in csv.DictReader(fh) if row["step"]]
    assert max(steps) == 3  # 8 steps split over 2 ranks: 4 per rank (0..3)
