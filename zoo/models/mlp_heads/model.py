"""`mlp-heads`: a shared MLP trunk with the supervised-learning chapter's output heads.

=========== ================== =================================== ==================================
head        output activation  loss                                metrics
=========== ================== =================================== ==================================
binary      sigmoid (1 unit)   binary cross-entropy                accuracy, ROC AUC, F1
multiclass  softmax            cross-entropy                       accuracy, macro-F1, log loss
multilabel  sigmoid per label  binary cross-entropy on k-hot rows  per-label F1, micro/macro-F1
ordinal     sigmoid per        BCE on cumulative targets           accuracy, quadratic-weighted kappa,
            threshold k        (t_k = [y > k], K-1 units)          MAE in grades
regression  identity           MSE or MAE on standardised targets  MAE, RMSE, R^2
multitask   one linear head    weighted sum of per-target losses   MAE, RMSE, R^2 per target
            per target
=========== ================== =================================== ==================================

Feature standardisation (training-split mean/std) and the inverse target standardisation are
buffers of the network, so the exported graph takes raw rows and returns activated outputs in the
targets' units.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.engine import epoch_batches
from zoo.errors import ZooError
from zoo.models.mlp_heads import CARD
from zoo.models.mlp_heads.config import MLPHeadsConfig
from zoo.models.mlp_heads.data import HeadTable, load_table
from zoo.registry import DemoHook, Predict, Preprocessing, TensorSpec, ZooModel, register
from zoo.tasks.base import StepModule

VALUE_HEADS = ("regression", "multitask")


class MLPHeadsNet(nn.Module):
    """forward(raw features (batch, F)) -> activated outputs (batch, n_outputs); ``raw`` gives the pre-activation."""

    def __init__(self, n_features: int, hidden: list[int], dropout: float, head: str, n_outputs: int) -> None:
        super().__init__()
        self.head_kind = head
        for name, size in (("x_mean", n_features), ("x_std", n_features), ("y_mean", n_outputs), ("y_std", n_outputs)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.trunk = nn.Sequential(*layers)
        n_heads = n_outputs if head == "multitask" else 1
        self.heads = nn.ModuleList(nn.Linear(width, n_outputs // n_heads) for _ in range(n_heads))

    def raw(self, features: torch.Tensor) -> torch.Tensor:
        shared = self.trunk((features - self.x_mean) / self.x_std)
        outs = [head(shared) for head in self.heads]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = self.raw(features)
        if self.head_kind == "multiclass":
            return torch.softmax(z, dim=1)
        if self.head_kind in VALUE_HEADS:
            return z * self.y_std + self.y_mean
        return torch.sigmoid(z)


def head_loss(net: MLPHeadsNet, z: torch.Tensor, y: torch.Tensor, config: MLPHeadsConfig) -> torch.Tensor:
    """The head's training loss on pre-activations ``z`` and targets ``y`` as stored in the table."""
    head = net.head_kind
    if head == "multiclass":
        return F.cross_entropy(z, y)
    if head == "binary":
        return F.binary_cross_entropy_with_logits(z[:, 0], y.float())
    if head == "multilabel":
        return F.binary_cross_entropy_with_logits(z, y)
    if head == "ordinal":
        thresholds = torch.arange(z.shape[1], device=z.device)
        return F.binary_cross_entropy_with_logits(z, (y[:, None] > thresholds[None, :]).float())
    scaled = (y - net.y_mean) / net.y_std
    per_target = (F.mse_loss if config.regression_loss == "mse" else F.l1_loss)(z, scaled, reduction="none").mean(dim=0)
    if head == "multitask" and config.task_weights:
        weights = torch.tensor(config.task_weights, device=z.device, dtype=z.dtype)
        return (per_target * weights).sum() / weights.sum()
    return per_target.mean()


def decode(head: str, outputs: np.ndarray) -> np.ndarray:
    """Activated outputs -> predictions: class index, 0/1 labels, grade, or values."""
    if head == "multiclass":
        return outputs.argmax(axis=1)
    if head == "binary":
        return (outputs[:, 0] > 0.5).astype(np.int64)
    if head == "multilabel":
        return (outputs > 0.5).astype(np.int64)
    if head == "ordinal":
        return (outputs > 0.5).sum(axis=1)  # grade = number of thresholds passed
    return outputs


def head_metrics(head: str, y: np.ndarray, outputs: np.ndarray, names: list[str]) -> dict[str, float]:
    """The metrics each head needs; ``score`` is the headline (accuracy, macro-F1, kappa or R^2)."""
    from sklearn import metrics as m

    pred = decode(head, outputs)
    out: dict[str, float] = {}
    if head in ("binary", "multiclass"):
        out["acc"] = float(m.accuracy_score(y, pred))
        out["f1" if head == "binary" else "macro_f1"] = float(m.f1_score(y, pred, average="binary" if head == "binary" else "macro"))
        if head == "binary":
            out["auc"] = float(m.roc_auc_score(y, outputs[:, 0])) if len(set(y.tolist())) == 2 else float("nan")
        else:
            out["log_loss"] = float(m.log_loss(y, np.clip(outputs, 1e-7, 1), labels=list(range(len(names)))))
        out["score"] = out["acc"]
    elif head == "multilabel":
        for i, name in enumerate(names):
            out[f"f1/{name}"] = float(m.f1_score(y[:, i], pred[:, i], zero_division=0))
        out["micro_f1"] = float(m.f1_score(y, pred, average="micro", zero_division=0))
        out["macro_f1"] = float(m.f1_score(y, pred, average="macro", zero_division=0))
        out["subset_acc"] = float(m.accuracy_score(y, pred))
        out["score"] = out["macro_f1"]
    elif head == "ordinal":
        out["acc"] = float(m.accuracy_score(y, pred))
        out["qwk"] = float(m.cohen_kappa_score(y, pred, weights="quadratic"))
        out["mae"] = float(np.abs(y - pred).mean())
        out["score"] = out["qwk"]
    else:
        for i, name in enumerate(names):
            out[f"mae/{name}"] = float(m.mean_absolute_error(y[:, i], pred[:, i]))
            out[f"rmse/{name}"] = float(np.sqrt(m.mean_squared_error(y[:, i], pred[:, i])))
        out["mae"] = float(m.mean_absolute_error(y, pred))
        out["rmse"] = float(np.sqrt(m.mean_squared_error(y, pred)))
        out["r2"] = float(m.r2_score(y, pred))
        out["score"] = out["r2"]
    return out


def baseline_metrics(data: HeadTable, seed: int) -> tuple[str, dict[str, float]]:
    """The scikit-learn baseline of the head, on the same split: logistic regression (one-vs-rest for
    multilabel; multinomial over grades for ordinal) or ridge regression, on standardised features."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train = data.rows("train")
    x_test, y_test = data.rows("test")
    head = data.head
    if head in VALUE_HEADS:
        name, est = "ridge regression", Ridge(alpha=1.0)
    elif head == "multilabel":
        name, est = "one-vs-rest logistic regression", OneVsRestClassifier(LogisticRegression(max_iter=2000))
    else:
        name, est = "logistic regression", LogisticRegression(max_iter=2000, random_state=seed)
    model = make_pipeline(StandardScaler(), est).fit(x_train, y_train)
    if head in VALUE_HEADS:
        outputs = model.predict(x_test).reshape(len(x_test), -1)
    elif head == "multilabel":
        outputs = model.predict_proba(x_test)
    else:
        proba = model.predict_proba(x_test)
        if head == "binary":
            outputs = proba[:, 1:]
        elif head == "ordinal":  # P(y > k) from the class probabilities
            outputs = 1 - np.cumsum(proba, axis=1)[:, :-1]
        else:
            outputs = proba
    return name, head_metrics(head, y_test, outputs, data.names)


class MLPHeadsTask(StepModule):
    """Mini-batches of table rows, the head's loss; selects on the validation loss."""

    monitor = "val/loss"
    monitor_mode = "min"

    def __init__(self, model: MLPHeadsNet, data: HeadTable, config: MLPHeadsConfig) -> None:
        super().__init__(model, config)
        self.features = torch.from_numpy(data.features)
        self.targets = torch.from_numpy(data.targets)
        self.train_rows = data.splits["train"]
        self.val_rows = torch.from_numpy(data.splits["val"])

    def steps_per_epoch(self) -> int:
        _, world = self.world()
        return max(1, len(epoch_batches(len(self.train_rows), self.config.batch_size, self.config.seed, 0, world - 1, world)))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        rank, world = self.world()
        epoch, index = divmod(self.global_step, self.steps_per_epoch())
        picked = epoch_batches(len(self.train_rows), self.config.batch_size, self.config.seed, epoch, rank, world)[index]
        rows = torch.from_numpy(self.train_rows[picked])
        x, y = self.features[rows].to(self.device), self.targets[rows].to(self.device)
        loss = head_loss(self.model, self.model.raw(x), y, self.config)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(rows))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = self.features[self.val_rows].to(self.device), self.targets[self.val_rows].to(self.device)
        z = self.model.raw(x)
        self.log("val/loss", head_loss(self.model, z, y, self.config), prog_bar=True, batch_size=len(y))
        if self.model.head_kind == "multiclass":
            self.log("val/acc", (z.argmax(1) == y).float().mean(), batch_size=len(y))


@register
class MLPHeads(ZooModel):
    card = CARD
    Config = MLPHeadsConfig
    config: MLPHeadsConfig

    def _ensure_shapes(self) -> None:
        if not self.config.n_features or not self.config.n_outputs:
            self.data  # noqa: B018  (load_data fills the shapes)

    def build_model(self) -> MLPHeadsNet:
        self._ensure_shapes()
        cfg = self.config
        torch.manual_seed(cfg.seed)
        return MLPHeadsNet(cfg.n_features, cfg.hidden, cfg.dropout, cfg.resolved_head, cfg.n_outputs)

    def inputs(self) -> list[TensorSpec]:
        self._ensure_shapes()
        return [TensorSpec("features", ("batch", self.config.n_features),
                           description="raw feature values in the order of feature_names (standardisation is inside the model)")]

    def outputs(self) -> list[TensorSpec]:
        self._ensure_shapes()
        head = self.config.resolved_head
        meaning = "values" if head in VALUE_HEADS else "probabilities"
        what = {"binary": "P(positive class)", "multiclass": "class probabilities (softmax)",
                "multilabel": "P(label) per label (independent sigmoids)", "ordinal": "P(grade > k) for k = 0..K-2",
                "regression": "predicted target values", "multitask": "predicted value of each target"}[head]
        return [TensorSpec("outputs", ("batch", self.config.n_outputs), meaning=meaning, description=what)]

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(kind="tabular", notes="feed raw numeric rows (columns as feature_names); standardisation is part of the model.")

    def labels(self) -> list[str] | None:
        self._ensure_shapes()
        return list(self.config.class_names)

    def load_data(self) -> HeadTable:
        cfg = self.config
        if cfg.task_weights and cfg.head not in ("multitask", "auto"):
            raise ZooError(f"--task-weights applies to --head multitask, not --head {cfg.head}; drop it.")
        table = load_table(cfg.data or self.default_data, cfg.target, cfg.head, val_size=cfg.val_size,
                           test_size=cfg.test_size, seed=cfg.seed)
        if cfg.task_weights and len(cfg.task_weights) != table.n_outputs:
            raise ZooError(f"--task-weights has {len(cfg.task_weights)} weight(s) for {table.n_outputs} targets; give one per target.")
        found = {"n_features": table.features.shape[1], "n_outputs": table.n_outputs, "resolved_head": table.head,
                 "class_names": table.names, "feature_names": table.feature_names}
        for key, value in found.items():
            saved = getattr(cfg, key)
            if saved and saved != value:
                raise ZooError(f"the config has {key}={saved!r} but data '{cfg.data}' gives {value!r}; these fields are "
                               "filled from the data, so drop them from the config.")
            setattr(cfg, key, value)
        return table

    def training_module(self, model: nn.Module) -> MLPHeadsTask:
        return MLPHeadsTask(model, self.data, self.config)

    def fit(self, run: Any) -> nn.Module:
        model = self.build_model()
        x, y = self.data.rows("train")
        mean, std = x.mean(axis=0), x.std(axis=0)
        model.x_mean.copy_(torch.from_numpy(mean))
        model.x_std.copy_(torch.from_numpy(np.where(std > 0, std, 1.0).astype(np.float32)))
        if self.config.resolved_head in VALUE_HEADS:
            ystd = y.std(axis=0)
            model.y_mean.copy_(torch.from_numpy(y.mean(axis=0)))
            model.y_std.copy_(torch.from_numpy(np.where(ystd > 0, ystd, 1.0).astype(np.float32)))
        return run.fit_stage(self.training_module(model))

    def evaluate(self, predict: Predict) -> dict[str, float]:
        x, y = self.data.rows("test")
        scores = head_metrics(self.config.resolved_head, y, predict({"features": x})[0], self.data.names)
        return {f"test/{k}": v for k, v in scores.items()} | {"test/rows": float(len(y))}

    @cached_property
    def baseline(self) -> tuple[str, dict[str, float]]:
        return baseline_metrics(self.data, self.config.seed)

    def eval_report(self, metrics: dict[str, float]) -> list[Any]:
        from rich.table import Table

        name, scores = self.baseline
        table = Table(title=f"mlp-heads ({self.config.resolved_head}) vs. {name} on {self.data.name} (same split)")
        for col in ("metric", "mlp-heads", name):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for key, value in scores.items():
            table.add_row(key, f"{metrics.get('test/' + key, float('nan')):.4f}", f"{value:.4f}")
        return [table]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        x, _ = self.data.rows(split)
        return {"features": np.ascontiguousarray(x[np.arange(n) % len(x)], dtype=np.float32)}

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        from zoo import io as zio

        name, scores = self.baseline
        zio.write_json(run_dir / "baseline.json", {"baseline": name, "head": self.config.resolved_head,
                                                   "test": scores, "splits": {k: v.tolist() for k, v in self.data.splits.items()}})

    def demo(self) -> DemoHook | None:
        self._ensure_shapes()
        cfg = self.config
        if cfg.resolved_head not in ("binary", "multiclass"):
            return None  # the tabular demo shows class probabilities; other heads have no demo yet
        return DemoHook(kind="tabular", title=f"mlp-heads ({cfg.resolved_head})",
                        description="Type one row of values or upload a CSV: the model shows the class probabilities.",
                        extra={"feature_names": list(cfg.feature_names), "class_names": list(cfg.class_names)})
