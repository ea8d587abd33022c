"""NLNL: label-noise injection, the negative-learning loss and selection rules, and real tiny runs
through the engine (run files, evaluation, resume of a multi-stage run, bad input at the CLI)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import train_tiny
from zoo import noisy_labels as nlabels
from zoo.errors import ZooError

TINY_NOISE = 0.4


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny networks on a shared 2-core machine run far faster on one thread (no spin-waiting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def nlnl_run(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    """A finished tiny nlnl run on digits with 40% symmetric noise (read-only: copy before changing)."""
    return train_tiny("nlnl", tmp_path_factory.mktemp("runs") / "nlnl", noise_rate=TINY_NOISE)


def read_rows(path: Path) -> list[dict[str, int | float | str]]:
    return [{k: float(v) if k == "confidence" else (v if k == "split" else int(v)) for k, v in row.items()}
            for row in nlabels.read_csv(path)]


# -- noise injection ----------------------------------------------------------------------------------

def test_symmetric_noise_corrupts_exactly_the_rate_to_other_classes() -> None:
    labels = np.repeat(np.arange(10), 50)
    given = nlabels.inject_noise(labels, 10, 0.4, "symmetric", seed=3)
    corrupted = given != labels
    assert corrupted.sum() == 200  # exactly round(0.4 * 500), and every corrupted label changed class
    assert set(np.unique(given)) <= set(range(10))
    offsets = (given[corrupted] - labels[corrupted]) % 10
    assert set(offsets.tolist()) == set(range(1, 10))  # spread over all other classes
    np.testing.assert_array_equal(given, nlabels.inject_noise(labels, 10, 0.4, "symmetric", seed=3))
    assert not np.array_equal(given, nlabels.inject_noise(labels, 10, 0.4, "symmetric", seed=4))
    np.testing.assert_array_equal(nlabels.inject_noise(labels, 10, 0.0, "symmetric", seed=3), labels)


def test_asymmetric_noise_flips_the_papers_digit_pairs_exactly() -> None:
    labels = np.repeat(np.arange(10), 100)
    flips = nlabels.asymmetric_flips([str(d) for d in range(10)])
    assert flips == {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
    given = nlabels.inject_noise(labels, 10, 0.3, "asymmetric", seed=0, flips=flips)
    for source in range(10):
        members = given[labels == source]
        if source in flips:
            assert np.sum(members == flips[source]) == 30 and np.sum(members == source) == 70
        else:
            assert np.all(members == source)


def test_asymmetric_flips_for_cifar_names_and_other_class_sets() -> None:
    cifar = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert nlabels.asymmetric_flips(cifar) == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    assert nlabels.asymmetric_flips(["a", "b", "c"]) == {0: 1, 1: 2, 2: 0}


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1])
def test_noise_rate_outside_unit_interval_is_rejected(rate: float) -> None:
    from zoo.config import load_config
    from zoo.models.nlnl.model import NlnlConfig

    with pytest.raises(ZooError, match=r"\[0, 1\)"):
        nlabels.inject_noise(np.arange(10) % 2, 2, rate, "symmetric", seed=0)
    with pytest.raises(ZooError, match=r"noise_rate.*\[0, 1\).*--noise-rate"):
        load_config(NlnlConfig, overrides={"noise_rate": rate})


# -- negative learning ---------------------------------------------------------------------------------

def test_nl_loss_is_minus_log_one_minus_p_of_the_complementary_class() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=gen) * 3
    complementary = torch.tensor([[1], [0], [4], [2], [3], [1]])
    p = logits.softmax(1).gather(1, complementary).squeeze(1)
    expected = -torch.log(1 - p)
    torch.testing.assert_close(nlabels.negative_learning_loss(logits, complementary), expected.mean())
    selected = torch.tensor([True, False, True, False, False, True])
    torch.testing.assert_close(nlabels.negative_learning_loss(logits, complementary, selected), expected[selected].mean())
    two = torch.tensor([[1, 2]] * 6)
    both = -torch.log(1 - logits.softmax(1)[:, 1]) - torch.log(1 - logits.softmax(1)[:, 2])
    torch.testing.assert_close(nlabels.negative_learning_loss(logits, two), both.mean())


def test_nl_loss_stays_exact_when_the_complementary_class_is_certain() -> None:
    logits = torch.tensor([[50.0, 0.0, 0.0]], requires_grad=True)
    loss = nlabels.negative_learning_loss(logits, torch.tensor([[0]]))
    assert loss.item() == pytest.approx(50.0 - np.log(2.0), rel=1e-6)  # log1p(-p) would give inf here
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    nothing = nlabels.negative_learning_loss(logits, torch.tensor([[0]]), torch.tensor([False]))
    assert nothing.item() == 0.0 and nothing.requires_grad


def test_complementary_labels_are_uniform_over_the_other_classes() -> None:
    given = np.random.default_rng(0).integers(0, 10, size=20000)
    comp = nlabels.complementary_labels(given, 10, np.random.default_rng(1), per_sample=3)
    assert comp.shape == (20000, 3)
    assert not np.any(comp == given[:, None])
    offsets = ((comp - given[:, None]) % 10).ravel()
    counts = np.bincount(offsets, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 0.9 * len(offsets) / 9


def test_selection_thresholds_are_strict() -> None:
    conf = torch.tensor([0.05, 0.1, 0.11, 0.5, 0.51])
    assert nlabels.selective_nl_mask(conf, 10).tolist() == [False, False, True, True, True]
    assert nlabels.selective_pl_mask(conf, 0.5).tolist() == [False, False, False, False, True]


def synthetic_data(num_classes: int = 4) -> object:
    from zoo.models.nlnl.model import NoisyImageData

    labels = np.arange(8) % num_classes
    return NoisyImageData(torch.zeros(8, 1, 8, 8), labels, labels.copy(),
                          {"train": np.arange(6), "val": np.array([6]), "test": np.array([7])}, [str(c) for c in range(num_classes)])


def test_stage_losses_train_only_on_selected_samples() -> None:
    import torch.nn.functional as F

    from zoo.models.nlnl.model import NlnlConfig, NoisyLabelStage

    data, config = synthetic_data(), NlnlConfig(class_names=["0", "1", "2", "3"], gamma=0.5)
    labels = torch.tensor([0, 1])
    # sample 0 gives its label p=0.03 (< 1/K = 0.25); sample 1 gives p=0.84 (> gamma)
    logits = torch.tensor([[-2.0, 1.0, 1.0, 0.5], [3.0, 5.0, 2.0, 2.0]])
    picked = np.array([0, 1])
    targets = np.array([0, 1, 2, 3, 0, 1])

    selnl = NoisyLabelStage(torch.nn.Linear(1, 1), data, config, "selnl", np.arange(6), targets, stage_key=3)
    loss, selected = selnl.stage_loss(logits, labels, epoch=0, picked=picked)
    comp = torch.from_numpy(selnl.complementary_for_epoch(0)[picked])
    assert selected.tolist() == [False, True]
    assert not np.any(selnl.complementary_for_epoch(0) == targets[:, None])
    torch.testing.assert_close(loss, nlabels.negative_learning_loss(logits[1:], comp[1:]))

    selpl = NoisyLabelStage(torch.nn.Linear(1, 1), data, config, "selpl", np.arange(6), targets, stage_key=4)
    loss, selected = selpl.stage_loss(logits, labels, epoch=0, picked=picked)
    assert selected.tolist() == [False, True]
    torch.testing.assert_close(loss, F.cross_entropy(logits[1:], labels[1:]))


def test_complementary_labels_are_resampled_each_epoch_and_reproducible() -> None:
    from zoo.models.nlnl.model import NlnlConfig, NoisyLabelStage

    targets = np.arange(600) % 4
    make = lambda: NoisyLabelStage(torch.nn.Linear(1, 1), synthetic_data(), NlnlConfig(), "nl",  # noqa: E731
                                   np.arange(600), targets, stage_key=2)
    first, again = make(), make()
    epoch0 = first.complementary_for_epoch(0).copy()
    np.testing.assert_array_equal(epoch0, again.complementary_for_epoch(0))
    assert np.mean(epoch0 != first.complementary_for_epoch(1)) > 0.5


def test_detection_scores() -> None:
    flagged = np.array([True, True, False, False, True])
    corrupted = np.array([True, False, False, True, True])
    assert nlabels.detection_scores(flagged, corrupted) == {"precision": 2 / 3, "recall": 2 / 3}
    assert nlabels.detection_scores(np.zeros(3, bool), np.zeros(3, bool)) == {"precision": 1.0, "recall": 1.0}


# -- data and model description ------------------------------------------------------------------------

def test_digits_splits_are_disjoint_and_only_train_and_val_are_noisy() -> None:
    from zoo.models.nlnl.model import Nlnl, NlnlConfig

    spec = Nlnl(NlnlConfig(image_size=8, noise_rate=0.2))
    data = spec.data
    train, val, test = (set(data.splits[s].tolist()) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test) and len(train | val | test) == len(data.true_labels)
    assert spec.config.class_names == [str(d) for d in range(10)]
    for split in ("train", "val"):
        rows = data.splits[split]
        assert data.corrupted[rows].sum() == round(0.2 * len(rows))
    assert not data.corrupted[data.splits["test"]].any()
    assert data.images.shape[1:] == (1, 8, 8) and 0.0 <= data.images.min() and data.images.max() <= 1.0


def test_description_for_ink_on_white_data_and_torchvision_backbones() -> None:
    from zoo.models.nlnl.model import Nlnl, NlnlConfig

    names = [f"c{i}" for i in range(5)]
    spec = Nlnl(NlnlConfig(data="omniglot-minimal", class_names=names, image_size=28, backbone="resnet18"))
    assert spec.preprocessing().invert and spec.preprocessing().size == (28, 28)
    assert spec.labels() == names and spec.outputs()[0].shape == ("batch", 5) and spec.outputs()[0].meaning == "logits"
    assert spec.demo().kind == "image-classifier"
    for backbone in ("resnet18", "efficientnet_b0"):
        net = Nlnl(NlnlConfig(class_names=names, image_size=32, backbone=backbone)).build_model().eval()
        assert net(torch.rand(2, 1, 32, 32)).shape == (2, 5)


# -- real runs ---------------------------------------------------------------------------------------------

def test_run_writes_nlnl_reports(nlnl_run: Path) -> None:
    metrics = json.loads((nlnl_run / "metrics.json").read_text())["metrics"]
    for key in ("test/acc", "test/ce_baseline_acc", "test/nl_acc", "test/selpl_acc", "detect/precision", "detect/recall"):
        assert 0.0 <= metrics[key] <= 1.0, key
    config = json.loads((nlnl_run / "config.json").read_text())
    assert config["labels"] == [str(d) for d in range(10)] and config["config"]["class_names"] == config["labels"]
    assert config["command"] == "zoo train nlnl (test)"
    for stage in ("ce_baseline", "nl", "selnl", "selpl", "clean", "final"):
        assert (nlnl_run / "stages" / stage / "stage.safetensors").is_file(), stage

    noisy = read_rows(nlnl_run / "noisy_labels.csv")
    train_rows = [r for r in noisy if r["split"] == "train"]
    assert all(r["corrupted"] == int(r["true"] != r["given"]) for r in noisy)
    assert sum(r["corrupted"] for r in train_rows) == round(TINY_NOISE * len(train_rows))

    cleaned = read_rows(nlnl_run / "cleaned_labels.csv")
    assert [r["index"] for r in cleaned] == sorted(r["index"] for r in train_rows)
    assert all(r["flagged_noisy"] == int(r["confidence"] < 0.5) for r in cleaned)
    assert all(r["cleaned"] == r["given"] for r in cleaned if not r["flagged_noisy"])
    flagged = np.array([r["flagged_noisy"] for r in cleaned], bool)
    corrupted = np.array([r["corrupted"] for r in cleaned], bool)
    expected = nlabels.detection_scores(flagged, corrupted)
    assert metrics["detect/precision"] == pytest.approx(expected["precision"])
    assert metrics["detect/recall"] == pytest.approx(expected["recall"])
    assert metrics["labels/acc_after_cleaning"] == pytest.approx(np.mean([r["cleaned"] == r["true"] for r in cleaned]))

    from PIL import Image

    with Image.open(nlnl_run / "nlnl_confidence.png") as picture:
        assert picture.format == "PNG" and picture.width > 800  # one panel per stage


def test_artifact_evaluates_and_reports(nlnl_run: Path) -> None:
    from zoo import artifacts

    art = artifacts.load(nlnl_run)
    fresh = art.spec.evaluate(art.predictor())
    assert fresh["test/acc"] == pytest.approx(art.metrics["metrics"]["test/acc"])
    inputs = art.spec.example_inputs(3)
    assert inputs["image"].shape == (3, 1, 8, 8) and inputs["image"].dtype == np.float32
    assert art.predictor()(inputs)[0].shape == (3, 10)
    report = art.spec.eval_report(art.metrics["metrics"])
    assert report and type(report[0]).__name__ == "Table" and report[0].row_count == 7


def test_resume_skips_finished_stages_and_retrains_the_missing_one(nlnl_run: Path, tmp_path: Path, one_thread: None) -> None:
    from safetensors.torch import load_file

    from zoo import artifacts
    from zoo.engine import train

    run = tmp_path / "run"
    shutil.copytree(nlnl_run, run)
    shutil.rmtree(run / "stages" / "final")
    shutil.rmtree(run / "logs" / "final")
    for name in ("model.safetensors", "metrics.json"):
        (run / name).unlink()
    finished = {s: (run / "stages" / s / "stage.safetensors").stat().st_mtime_ns for s in ("ce_baseline", "nl", "selnl", "selpl", "clean")}
    logs = {s: (run / "logs" / s / "metrics.csv").stat().st_mtime_ns for s in finished}

    name, fields = artifacts.read_config(run)
    from zoo import registry

    train(registry.create(name, fields), run, resume=True, command="zoo train nlnl --resume (test)", progress=False)

    for stage, mtime in finished.items():
        assert (run / "stages" / stage / "stage.safetensors").stat().st_mtime_ns == mtime, stage
        assert (run / "logs" / stage / "metrics.csv").stat().st_mtime_ns == logs[stage], stage
    assert (run / "stages" / "final" / "stage.safetensors").is_file() and (run / "metrics.json").is_file()
    original, resumed = load_file(nlnl_run / "model.safetensors"), load_file(run / "model.safetensors")
    for key, tensor in original.items():  # batches and initialisation are functions of the seed: same network
        torch.testing.assert_close(resumed[key], tensor, msg=key)
    assert (run / "cleaned_labels.csv").read_text() == (nlnl_run / "cleaned_labels.csv").read_text()


def test_cli_rejects_a_noise_rate_outside_unit_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "nlnl", "--noise-rate", "1.5", "--no-progress"])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "noise_rate" in err and "[0, 1)" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no run directory
