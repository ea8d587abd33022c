"""mlp-heads: every head's loss/activation/metrics, its data, and its bad-input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import train_tiny
from zoo.errors import ZooError
from zoo.models.mlp_heads.data import load_table

SPLIT = dict(val_size=0.2, test_size=0.2, seed=0)


def test_card_parameter_count_matches_default_config() -> None:
    from zoo import registry

    spec = registry.create("mlp-heads")
    assert sum(p.numel() for p in spec.build_model().parameters()) == registry.card("mlp-heads").parameters


@pytest.mark.parametrize("data,head,n_out", [("iris", "multiclass", 3), ("breast-cancer", "binary", 1),
                                             ("diabetes", "regression", 1), ("linnerud", "multitask", 3),
                                             ("diabetes-grades", "ordinal", 4), ("multilabel-demo", "multilabel", 4)])
def test_builtin_tables_pick_their_natural_head(data: str, head: str, n_out: int) -> None:
    table = load_table(data, [], "auto", **SPLIT)
    assert table.head == head and table.n_outputs == n_out
    sizes = [len(table.splits[s]) for s in ("train", "val", "test")]
    assert sum(sizes) == len(table.features) and len(set(np.concatenate(list(table.splits.values())))) == len(table.features)


def test_ordinal_loss_uses_cumulative_targets() -> None:
    from zoo.models.mlp_heads.config import MLPHeadsConfig
    from zoo.models.mlp_heads.model import MLPHeadsNet, decode, head_loss

    net = MLPHeadsNet(2, [4], 0.0, "ordinal", 3)
    z = torch.tensor([[9.0, 9.0, -9.0]])  # confident: y > 0, y > 1, not y > 2  -> grade 2
    assert head_loss(net, z, torch.tensor([2]), MLPHeadsConfig()) < 1e-3
    assert head_loss(net, z, torch.tensor([0]), MLPHeadsConfig()) > 5
    assert decode("ordinal", torch.sigmoid(z).numpy()).tolist() == [2]


def test_multitask_has_one_head_per_target_and_weighted_loss() -> None:
    from zoo.models.mlp_heads.config import MLPHeadsConfig
    from zoo.models.mlp_heads.model import MLPHeadsNet, head_loss

    net = MLPHeadsNet(3, [4], 0.0, "multitask", 2)
    assert len(net.heads) == 2
    z, y = torch.zeros(4, 2), torch.tensor([[1.0, 0.0]] * 4)  # only target 0 is wrong (error 1)
    assert head_loss(net, z, y, MLPHeadsConfig(task_weights=[1, 0])) == pytest.approx(1.0)
    assert head_loss(net, z, y, MLPHeadsConfig(task_weights=[0, 1])) == pytest.approx(0.0)


def test_binary_head_trains_and_beats_chance(tmp_path: Path) -> None:
    import json

    run = train_tiny("mlp-heads", tmp_path / "run", data="breast-cancer", epochs=4, hidden=[16])
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["test/acc"] > 0.85 and metrics["test/auc"] > 0.9
    baseline = json.loads((run / "baseline.json").read_text())
    assert baseline["head"] == "binary" and baseline["test"]["acc"] > 0.9


def test_regression_outputs_are_in_target_units(tmp_path: Path) -> None:
    from zoo import registry

    spec = registry.create("mlp-heads", {"data": "diabetes", "epochs": 1})
    net = spec.build_model().eval()
    net.y_mean.fill_(150.0)
    net.y_std.fill_(10.0)
    x = torch.from_numpy(spec.example_inputs(5)["features"])
    assert torch.allclose(net(x), net.raw(x) * 10 + 150)


def _csv(tmp_path: Path, text: str) -> str:
    path = tmp_path / "table.csv"
    path.write_text(text)
    return str(path)


def test_csv_with_two_targets_is_multitask_or_multilabel(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i % 3},{i % 2},{(i + 1) % 2}" for i in range(40))
    path = _csv(tmp_path, "a,b,y1,y2\n" + rows + "\n")
    assert load_table(path, ["y1", "y2"], "auto", **SPLIT).head == "multitask"
    table = load_table(path, ["y1", "y2"], "multilabel", **SPLIT)
    assert table.head == "multilabel" and table.targets.shape == (40, 2)


def test_multilabel_target_that_is_not_k_hot_is_a_one_line_error(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i % 3},{i % 2},{i % 3}" for i in range(40))
    path = _csv(tmp_path, "a,b,y1,y2\n" + rows + "\n")
    with pytest.raises(ZooError, match="not k-hot") as err:
        load_table(path, ["y1", "y2"], "multilabel", **SPLIT)
    assert "\n" not in str(err.value) and "y2" in str(err.value)


@pytest.mark.parametrize("data,targets,head,message", [
    ("iris", [], "binary", "exactly 2 classes"),
    ("iris", [], "regression", "one class column"),
    ("diabetes", [], "multiclass", "numeric targets"),
    ("iris", ["x"], "auto", "applies to CSV"),
    ("nope", [], "auto", "unknown data set"),
])
def test_bad_head_or_data_is_a_one_line_error(data: str, targets: list[str], head: str, message: str) -> None:
    with pytest.raises(ZooError, match=message) as err:
        load_table(data, targets, head, **SPLIT)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("cell,column,head", [("inf", "b", "auto"), ("1e308", "a", "auto"), ("-inf", "y1", "regression")])
def test_non_finite_or_huge_csv_cells_are_a_one_line_error(tmp_path: Path, cell: str, column: str, head: str) -> None:
    rows = [f"{i},{i % 3},{i % 2}" for i in range(40)]
    values = rows[5].split(",")
    values[["a", "b", "y1"].index(column)] = cell
    rows[5] = ",".join(values)
    path = _csv(tmp_path, "a,b,y1\n" + "\n".join(rows) + "\n")
    with pytest.raises(ZooError, match=f"column '{column}' .* row 7") as err:
        load_table(path, ["y1"], head, **SPLIT)
    assert "\n" not in str(err.value)
