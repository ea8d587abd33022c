"""`dcgan`: the Fréchet distance, the sample-quality scale (real images at 1, the untrained generator at 0),
manual optimisation (two optimiser steps per batch, an interrupted run resumed exactly) and the run's pictures."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from zoo import registry
from zoo.errors import ZooError

SMALL = {"image_size": 8, "width": 4, "latent_dim": 4, "batch_size": 64, "scorer_epochs": 1, "grid": 3}


def test_frechet_distance_matches_the_matrix_square_root_formula() -> None:
    from scipy.linalg import sqrtm

    from zoo.tasks.sample_quality import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(1.0, 2.0, size=(300, 6))
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_real_images_score_one_and_the_untrained_generator_zero() -> None:
    spec = registry.create("dcgan", SMALL)
    test_images = spec.split_images("test").numpy()
    real = spec.evaluate(lambda inputs: [test_images[:len(inputs["latent"])]])
    assert real["test/fd_skill"] == pytest.approx(1.0) and real["test/fd"] == pytest.approx(real["test/fd_real"])
    assert real["test/coverage"] == real["test/coverage_real"] and real["test/scorer_acc"] > 0.3
    untrained = spec.build_model().generator.eval()
    with torch.no_grad():
        blank = spec.evaluate(lambda inputs: [untrained(torch.from_numpy(inputs["latent"])).numpy()])
    assert blank["test/fd_skill"] == pytest.approx(0.0, abs=1e-9)
    assert blank["test/fd_untrained"] > 10 * blank["test/fd_real"]


class StopAt(L.Callback):
    """Interrupts training (as Ctrl-C would) once ``step`` optimiser steps are done."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        if trainer.global_step >= self.step:
            raise KeyboardInterrupt


def test_manual_optimisation_steps_both_networks_and_resumes_exactly(tmp_path: Path) -> None:
    from zoo.engine import train

    def spec():
        return registry.create("dcgan", {**SMALL, "epochs": 2, "checkpoint_every": 4, "labels_per_class": 20})

    straight = train(spec(), tmp_path / "straight", progress=False)
    interrupted = tmp_path / "interrupted"
    with pytest.raises(ZooError, match="interrupted"):
        train(spec(), interrupted, progress=False, trainer_overrides={"callbacks": [StopAt(10)]})
    assert 0 < torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] <= 10
    resumed = train(spec(), interrupted, resume=True, progress=False)
    assert resumed["metrics"] == straight["metrics"]
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(interrupted / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    batches = 2 * -(-len(spec().data.splits["train"]) // 64)
    assert steps == 2 * batches  # a discriminator and a generator step per batch
    fresh = spec().build_model()
    assert not torch.equal(fresh.state_dict()["discriminator.body.0.weight"], a["discriminator.body.0.weight"])
    assert not torch.equal(fresh.state_dict()["generator.project.weight"], a["generator.project.weight"])


def test_tiny_run_saves_a_sample_grid(tiny_run) -> None:
    from PIL import Image

    run = tiny_run("dcgan")
    grid = registry.card("dcgan").tiny["grid"]
    for name in ("samples.png", "real_images.png"):
        picture = Image.open(run / name)
        assert picture.mode == "L" and picture.width >= 16 * grid, name


def test_scheduler_other_than_none_is_refused(capsys) -> None:
    from cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "dcgan", "--scheduler", "cosine", "--epochs", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code != 0 and "scheduler" in err and len(err.strip().splitlines()) == 1
