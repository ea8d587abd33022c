"""DeepInsight: the tabular -> image transform, the raw-feature model, tabular data loading and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cli import main
from zoo.data import tabular
from zoo.deepinsight_transform import (
    averaging_matrix,
    fit_transform,
    images_from_state,
    minimum_area_rectangle,
    pixel_coordinates,
    rotation_matrix,
    scale_features,
)
from zoo.errors import OfflineError, ZooError

TINY_FLAGS = ["--epochs", "2", "--batch-size", "16", "--pixels", "8", "--channels", "4,8,8", "--dense", "16",
              "--feature-extractor", "pca", "--no-progress"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def small_table(rows_per_class: int = 30, seed: int = 0) -> pd.DataFrame:
    """Three classes that differ in their means over six numeric columns (one of them negative-valued)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(["a", "b", "c"], rows_per_class)
    shift = np.repeat([0.0, 2.0, 4.0], rows_per_class)[:, None]
    x = rng.normal(size=(len(y), 6)) + shift
    x[:, 0] -= 10.0
    frame = pd.DataFrame(x, columns=[f"c{i}" for i in range(6)])
    frame["y"] = y
    return frame


# -- the transform ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("extractor", ["pca", "kpca", "tsne"])
def test_features_land_inside_the_grid_and_span_it(extractor: str) -> None:
    x = np.random.default_rng(1).normal(size=(80, 12)) @ np.random.default_rng(2).normal(size=(12, 12))
    fitted = fit_transform(x, feature_extractor=extractor, pixels=10, seed=0)
    assert fitted.coords.shape == (12, 2)
    assert fitted.coords.min() >= 0 and fitted.coords.max() <= 9
    # binning stretches the rotated layout over the whole grid: both edges of both axes are used
    assert set(fitted.coords.min(axis=0)) == {0} and set(fitted.coords.max(axis=0)) == {9}


def test_hull_rotation_makes_the_minimum_rectangle_axis_aligned() -> None:
    # points filling a 4 x 1 rectangle turned by 30 degrees: the minimum-area rectangle is that rectangle
    rng = np.random.default_rng(0)
    box = np.vstack([[[0, 0], [4, 0], [4, 1], [0, 1]], rng.uniform([0, 0], [4, 1], size=(40, 2))])
    turned = box @ rotation_matrix(np.deg2rad(30)).T + [3.0, -2.0]
    rotation, corners = minimum_area_rectangle(turned)
    aligned = turned @ rotation.T
    extent = aligned.max(axis=0) - aligned.min(axis=0)
    assert sorted(extent) == pytest.approx([1.0, 4.0], abs=1e-9)
    # the returned corners are that rectangle: mapped back they are axis-aligned around the points
    rect = corners @ rotation.T
    assert np.allclose(np.sort(rect[:, 0]), np.repeat([aligned[:, 0].min(), aligned[:, 0].max()], 2))
    assert np.allclose(np.sort(rect[:, 1]), np.repeat([aligned[:, 1].min(), aligned[:, 1].max()], 2))


def test_rectangle_is_no_larger_than_any_other_orientation() -> None:
    points = np.random.default_rng(3).normal(size=(60, 2)) @ np.array([[3.0, 1.0], [0.4, 0.5]])
    rotation, _ = minimum_area_rectangle(points)
    area = np.prod(np.ptp(points @ rotation.T, axis=0))
    sweep = [np.prod(np.ptp(points @ rotation_matrix(-a).T, axis=0)) for a in np.linspace(0, np.pi / 2, 2001)]
    assert area <= min(sweep) + 1e-9


def test_shared_pixels_are_averaged_in_the_graph_matrix() -> None:
    coords = np.array([[0, 0], [0, 0], [2, 1], [0, 0], [1, 2]])  # features 0, 1, 3 share pixel (0, 0)
    scaled = np.random.default_rng(4).uniform(size=(7, 5))
    images = (scaled @ averaging_matrix(coords, 3)).reshape(7, 3, 3)
    expected = np.zeros((7, 3, 3))
    for (r, c) in {tuple(rc) for rc in coords.tolist()}:
        members = [f for f in range(5) if tuple(coords[f]) == (r, c)]
        expected[:, r, c] = scaled[:, members].mean(axis=1)
    assert np.allclose(images, expected)
    assert images[:, 0, 0] == pytest.approx(scaled[:, [0, 1, 3]].mean(axis=1))
    assert np.all(images[:, 2, 2] == 0)  # an empty pixel stays 0


def test_log_scaler_matches_the_authors_definition() -> None:
    x_train = np.random.default_rng(5).normal(size=(50, 4)) * [1, 5, 10, 0.1] - [0, 3, 20, 0]
    fitted = fit_transform(x_train, scaler="log", feature_extractor="pca", pixels=8)
    log_shifted = np.log(x_train + np.abs(x_train.min(axis=0)) + 1)
    assert np.allclose(fitted.scale(x_train), log_shifted / log_shifted.max())
    # a value far below the training minimum clips to 0 instead of becoming NaN
    assert scale_features(np.full((1, 4), -1e6), "log", fitted.offset, fitted.factor).tolist() == [[0.0] * 4]
    minmax = fit_transform(x_train, scaler="minmax", feature_extractor="pca", pixels=8).scale(x_train)
    assert minmax.min(axis=0) == pytest.approx(np.zeros(4)) and minmax.max(axis=0) == pytest.approx(np.ones(4))


def test_pixel_binning_puts_the_extremes_in_the_edge_pixels() -> None:
    coords = pixel_coordinates(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.26]]), 4)
    assert coords.tolist() == [[0, 0], [3, 3], [2, 1]]


# -- the model takes raw features ---------------------------------------------------------------------------

def test_model_applies_the_fitted_transform_to_raw_rows() -> None:
    from zoo import registry

    spec = registry.create("deepinsight", {"data": "wine", "pixels": 12, "channels": [4, 8], "dense": [8],
                                           "feature_extractor": "kpca", "scaler": "log"})
    model = spec.build_model()
    fitted = spec.fitted_transform()
    model.transform.load_fitted(fitted)
    model.eval()
    raw = spec.example_inputs(9)["features"]
    manual = fitted.images(raw.astype(np.float64))  # numpy, float64
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    assert np.allclose(images_from_state(state, raw, "log", 12), manual, atol=1e-5)
    with torch.no_grad():
        in_graph = model.transform(torch.from_numpy(raw)).squeeze(1).numpy()
        from_raw = model(torch.from_numpy(raw))
        from_manual = model.classify_images(torch.from_numpy(manual[:, None].astype(np.float32)))
    assert np.allclose(in_graph, manual, atol=1e-5)
    assert torch.allclose(from_raw, from_manual, atol=1e-5)
    assert spec.inputs()[0].shape == ("batch", 13) and spec.outputs()[0].meaning == "logits"
    assert spec.labels() == ["class_0", "class_1", "class_2"]


def test_population_batchnorm_uses_the_statistics_of_the_rows() -> None:
    from zoo.models.deepinsight.model import DeepInsightConfig, DeepInsightNet, population_batchnorm

    torch.manual_seed(0)
    net = DeepInsightNet(DeepInsightConfig(n_features=6, n_classes=2, pixels=8, channels=[4], dense=[4], conv_dropout=0.3))
    net.transform.pixel_matrix.uniform_()
    rows = torch.randn(300, 6) * 3 + 1
    net.train()
    population_batchnorm(net, rows, torch.device("cpu"), chunk=100)
    assert net.training  # the mode is restored
    first_norm = net.large.stages[2]
    with torch.no_grad():
        before_norm = net.large.stages[:2](net.transform(rows))  # the two convolutions feeding that batch norm
    chunks = before_norm.split(100)
    expected_mean = torch.stack([c.mean(dim=(0, 2, 3)) for c in chunks]).mean(0)
    expected_var = torch.stack([c.var(dim=(0, 2, 3), unbiased=True) for c in chunks]).mean(0)
    assert torch.allclose(first_norm.running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(first_norm.running_var, expected_var, rtol=1e-4)
    assert first_norm.momentum == 0.1


# -- a tiny real run through the CLI -----------------------------------------------------------------------

def test_train_writes_the_run_with_pictures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rich.table import Table

    from zoo import artifacts

    frame = small_table()
    frame.loc[[3, 40, 70], "c2"] = np.nan  # filled with training medians under --impute
    csv = tmp_path / "table.csv"
    frame.to_csv(csv, index=False)
    run_dir = tmp_path / "run"
    code, out, err = run_cli(["train", "deepinsight", "--data", str(csv), "--target", "y", "--impute",
                              "--run-dir", str(run_dir), *TINY_FLAGS], capsys)
    assert code == 0, err
    for name in ("config.json", "config.yaml", "model.safetensors", "metrics.json", "splits.json",
                 "deepinsight_layout.png", "deepinsight_samples.png", "training_curves.png", "model_card.md"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["n_features"] == 6 and config["config"]["class_names"] == ["a", "b", "c"]
    assert config["labels"] == ["a", "b", "c"] and config["inputs"][0]["shape"] == ["batch", 6]
    splits = json.loads((run_dir / "splits.json").read_text())
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == list(range(90))
    assert set(splits["impute_medians"]) == {f"c{i}" for i in range(6)}

    art = artifacts.load(run_dir)  # rebuilds the same shapes from the saved config alone
    assert art.model.transform.pixel_matrix.abs().sum() > 0  # the fitted mapping came back from safetensors
    # validation ran with population batch-norm statistics of the training rows: recomputing them changes nothing
    import copy

    from zoo.models.deepinsight.model import population_batchnorm

    saved_stats = {k: v.clone() for k, v in art.model.state_dict().items() if "running_" in k}
    recomputed = copy.deepcopy(art.model)
    train_rows = torch.from_numpy(art.spec.data.rows("train")[0])
    population_batchnorm(recomputed, train_rows, torch.device("cpu"))
    for key, value in saved_stats.items():
        assert torch.allclose(recomputed.state_dict()[key], value, rtol=1e-4, atol=1e-6), key
    metrics = art.spec.evaluate(art.predictor())
    assert metrics["test/acc"] == pytest.approx(json.loads((run_dir / "metrics.json").read_text())["metrics"]["test/acc"])
    report = art.spec.eval_report(metrics)
    assert isinstance(report[0], Table) and report[0].row_count == 4
    assert art.spec.demo().extra["feature_names"] == [f"c{i}" for i in range(6)]


def test_same_seed_same_weights(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from conftest import train_tiny

    first = load_file(train_tiny("deepinsight", tmp_path / "a", epochs=1) / "model.safetensors")
    second = load_file(train_tiny("deepinsight", tmp_path / "b", epochs=1) / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    other = load_file(train_tiny("deepinsight", tmp_path / "c", epochs=1, seed=1) / "model.safetensors")
    assert not np.array_equal(first["head.0.weight"], other["head.0.weight"])


# -- bad input: one line, non-zero exit, nothing written -----------------------------------------------------

@pytest.mark.parametrize("case", ["text-column", "missing-values", "single-class", "too-few-rows", "no-such-target",
                                  "config-disagrees"])
def test_bad_tables_fail_with_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = small_table(rows_per_class=10)
    target = "y"
    expected = {
        "text-column": "column 'city' of table.csv is not numeric",
        "missing-values": "column 'c1' of table.csv has 2 missing value(s); pass --impute",
        "single-class": "has a single class ('a')",
        "too-few-rows": "only 12 rows for 4 classes",
        "no-such-target": "target column 'label' is not in table.csv",
        "config-disagrees": "the config has n_features=99 but data",
    }[case]
    extra: list[str] = []
    if case == "config-disagrees":  # derived fields are not options, but a reused config file can carry them
        (tmp_path / "cfg.yaml").write_text("n_features: 99\n")
        extra = ["--config", str(tmp_path / "cfg.yaml")]
    if case == "text-column":
        frame["city"] = "Paris"
    elif case == "missing-values":
        frame.loc[[1, 5], "c1"] = np.nan
    elif case == "single-class":
        frame["y"] = "a"
    elif case == "too-few-rows":
        frame = frame.iloc[:12].copy()
        frame["y"] = np.repeat(["a", "b", "c", "d"], 3)
    elif case == "no-such-target":
        target = "label"
    csv = tmp_path / "table.csv"
    frame.to_csv(csv, index=False)
    out_dir = tmp_path / "runs"
    code, _, err = run_cli(["train", "deepinsight", "--data", str(csv), "--target", target, "--out", str(out_dir),
                            *TINY_FLAGS, *extra], capsys)
    assert code != 0
    assert expected in " ".join(err.split()), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out_dir.exists()


# -- the UCI mouse-protein table -------------------------------------------------------------------------

MOUSE_CLASSES = ["c-CS-m", "c-CS-s", "c-SC-m", "c-SC-s", "t-CS-m", "t-CS-s", "t-SC-m", "t-SC-s"]


def write_mouse_protein_copy(folder: Path, rows_per_class: int = 4) -> Path:
    """A small file in the layout of Data_Cortex_Nuclear: MouseID, 77 protein columns, three factor columns, class."""
    rng = np.random.default_rng(0)
    n = rows_per_class * len(MOUSE_CLASSES)
    classes = np.repeat(MOUSE_CLASSES, rows_per_class)
    frame = pd.DataFrame({"MouseID": [f"{i}_{k}" for i, k in enumerate(range(n))]})
    proteins = pd.DataFrame(rng.uniform(0.1, 2.5, size=(n, 77)), columns=[f"P{i}_N" for i in range(77)])
    proteins.iloc[2, 5] = np.nan  # the real table has missing values
    frame = pd.concat([frame, proteins], axis=1)
    frame["Genotype"] = np.where(np.char.startswith(classes.astype(str), "c"), "Control", "Ts65Dn")
    frame["Treatment"] = np.where(np.char.find(classes.astype(str), "-m") >= 0, "Memantine", "Saline")
    frame["Behavior"] = np.where(np.char.find(classes.astype(str), "CS") >= 0, "C/S", "S/C")
    frame["class"] = classes
    path = folder / "Data_Cortex_Nuclear.csv"
    frame.to_csv(path, index=False)
    return path


def test_mouse_protein_reads_a_local_copy(tmp_path: Path) -> None:
    from zoo import data

    write_mouse_protein_copy(tmp_path)
    ds = data.load("mouse-protein", data_dir=tmp_path)
    assert ds.features.shape == (32, 77) and ds.classes == sorted(MOUSE_CLASSES)
    assert ds.feature_names[0] == "P0_N" and "Genotype" not in ds.feature_names and "MouseID" not in ds.feature_names
    assert ds.has_missing and ds.impute  # kept for training-split median imputation
    assert np.bincount(ds.targets).tolist() == [4] * 8


def test_mouse_protein_offline_names_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo import data

    # a real download attempt against a closed local port: the network error a machine without internet sees
    monkeypatch.setattr(tabular, "MOUSE_PROTEIN_URL", "http://127.0.0.1:9/Data_Cortex_Nuclear.xls")
    with pytest.raises(OfflineError) as err:
        data.load("mouse-protein", data_dir=tmp_path / "empty")
    assert "--data-dir" in str(err.value) and "Data_Cortex_Nuclear.xls" in str(err.value)
    assert not (tmp_path / "empty" / "Data_Cortex_Nuclear.xls").exists()


def test_unreadable_excel_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "Data_Cortex_Nuclear.xls").write_bytes(b"not an excel file")
    with pytest.raises(ZooError) as err:
        tabular.load_mouse_protein(data_dir=tmp_path)
    # without xlrd installed the message says how to get it (or to use a CSV copy); with it, that the file is bad
    assert "xlrd" in str(err.value) or "not a readable Excel sheet" in str(err.value)


def test_generated_tables_follow_their_definitions() -> None:
    ring = tabular.load_ringnorm()
    assert ring.features.shape == (7400, 20) and ring.num_classes == 2
    wide, narrow = ring.features[ring.targets == 0], ring.features[ring.targets == 1]
    assert wide.std() == pytest.approx(2.0, rel=0.03) and narrow.std() == pytest.approx(1.0, rel=0.03)
    assert narrow.mean(axis=0) == pytest.approx(np.full(20, 2 / np.sqrt(20)), abs=0.06)
    assert np.array_equal(tabular.load_ringnorm().features, ring.features)  # seeded: a fixed data set
    madelon = tabular.load_madelon_like()
    assert madelon.features.shape == (2600, 500) and np.bincount(madelon.targets).min() > 1200
