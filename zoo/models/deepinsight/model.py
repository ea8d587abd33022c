"""DeepInsight: tabular data as images for a CNN (Sharma, Vans, Shigemizu, Boroevich and Tsunoda, 2019).

Each *feature* becomes a point on a plane (t-SNE, kernel PCA or PCA of the transposed training
matrix), the plane is rotated so the minimum-area rectangle around the points' convex hull is
axis-aligned and cut into a pixel grid; a sample's image holds its scaled feature values at their
pixels (shared pixels averaged). A two-branch CNN (2x2 and 5x5 kernels, each factorised into k x 1
and 1 x k convolutions) classifies the images. See :mod:`zoo.deepinsight_transform` for the method.

The network takes the *raw* feature vector: the fitted scaler and the feature -> pixel averaging
matrix are registered buffers of :class:`TabularToImage`, so they are saved in ``model.safetensors``
and exported inside the ONNX/Keras graph (Add, Clip, Log, Mul, MatMul, Reshape only).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.data.tabular import TabularDataset
from zoo.deepinsight_transform import FittedTransform, fit_transform, rectangle_of
from zoo.engine import epoch_batches
from zoo.errors import ZooError
from zoo.models.deepinsight import CARD
from zoo.models.deepinsight.config import DeepInsightConfig
from zoo.tasks.base import StepModule
from zoo.registry import DemoHook, Predict, Preprocessing, TensorSpec, ZooModel, register




# -- the network ----------------------------------------------------------------------------------------

class TabularToImage(nn.Module):
    """Raw rows (batch, n_features) -> images (batch, 1, pixels, pixels) with the fitted transform."""

    def __init__(self, n_features: int, pixels: int, scaler: str) -> None:
        super().__init__()
        self.pixels, self.scaler = pixels, scaler
        self.register_buffer("offset", torch.zeros(n_features))
        self.register_buffer("factor", torch.ones(n_features))
        self.register_buffer("pixel_matrix", torch.zeros(n_features, pixels * pixels))  # zero until fitted
        # Not used by forward; kept so pictures of the layout can be drawn from saved weights alone.
        self.register_buffer("embedding", torch.zeros(n_features, 2))
        self.register_buffer("rotation", torch.eye(2))

    def load_fitted(self, fitted: FittedTransform) -> None:
        if fitted.n_features != self.offset.numel() or fitted.pixels != self.pixels or fitted.scaler != self.scaler:
            raise ValueError("the fitted transform does not match this module's shape")
        for name, value in (("offset", fitted.offset), ("factor", fitted.factor), ("pixel_matrix", fitted.pixel_matrix()),
                            ("embedding", fitted.embedding), ("rotation", fitted.rotation)):
            getattr(self, name).copy_(torch.as_tensor(value, dtype=torch.float32))

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        if self.scaler == "log":
            return torch.clamp(torch.log(torch.clamp(x + self.offset, min=1.0)) * self.factor, 0.0, 1.0)
        return torch.clamp((x + self.offset) * self.factor, 0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.scale(x) @ self.pixel_matrix).reshape(-1, 1, self.pixels, self.pixels)

    def coords(self) -> np.ndarray:
        """(n_features, 2) int pixel (row, column) of each feature, read back from the averaging matrix."""
        flat = self.pixel_matrix.argmax(dim=1).cpu().numpy()
        return np.stack([flat // self.pixels, flat % self.pixels], axis=1)


class FactorisedBranch(nn.Module):
    """CNN stages of k x 1 then 1 x k convolutions, batch norm, ReLU, 2 x 2 max-pool and dropout."""

    def __init__(self, kernel: int, channels: list[int], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for out_ch in channels:
            # symmetric padding k//2: keeps the size for k = 5, grows it by one for k = 2 (no asymmetric Pad op)
            layers += [nn.Conv2d(in_ch, out_ch, (kernel, 1), padding=(kernel // 2, 0), bias=False),
                       nn.Conv2d(out_ch, out_ch, (1, kernel), padding=(0, kernel // 2), bias=False),
                       nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Dropout(dropout)]
            in_ch = out_ch
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_channels = in_ch

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(image)).reshape(-1, self.out_channels)


class DeepInsightNet(nn.Module):
    """forward(features (batch, n_features), raw values) -> class logits (batch, n_classes)."""

    def __init__(self, config: DeepInsightConfig) -> None:
        super().__init__()
        if config.pixels < 2 ** len(config.channels):
            raise ZooError(f"--pixels {config.pixels} is too small for {len(config.channels)} CNN stages (each halves "
                           f"the image); use at least {2 ** len(config.channels)} or fewer --channels.")
        self.transform = TabularToImage(config.n_features, config.pixels, config.scaler)
        self.small = FactorisedBranch(2, config.channels, config.conv_dropout)
        self.large = FactorisedBranch(5, config.channels, config.conv_dropout)
        head: list[nn.Module] = []
        width = 2 * config.channels[-1]
        for hidden in config.dense:
            head += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(config.dropout)]
            width = hidden
        head.append(nn.Linear(width, config.n_classes))
        self.head = nn.Sequential(*head)

    def classify_images(self, image: torch.Tensor) -> torch.Tensor:
        # Global average pooling per branch, then concatenation: the same as pooling the concatenated
        # maps, and it lets the branches end at different sizes (the 2x2 branch grows by one per stage).
        return self.head(torch.cat([self.small(image), self.large(image)], dim=1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classify_images(self.transform(features))


# -- data -------------------------------------------------------------------------------------------------

@dataclass
class SplitTable:
    """The table with missing values filled, and its seeded stratified split."""

    name: str
    features: np.ndarray  # float32 (N, F), raw values
    targets: np.ndarray  # int64 (N,)
    classes: list[str]
    feature_names: list[str]
    splits: dict[str, np.ndarray]
    medians: np.ndarray | None  # training-split medians used to fill missing values

    def rows(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        idx = self.splits[split]
        return self.features[idx], self.targets[idx]

    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"data": self.name, "classes": self.classes,
                               **{split: idx.tolist() for split, idx in self.splits.items()}}
        if self.medians is not None:
            doc["impute_medians"] = dict(zip(self.feature_names, self.medians.tolist()))
        return doc


def fill_missing(features: np.ndarray, train_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Fill NaNs with medians of the training rows; a column empty in training gets 0."""
    if not np.isnan(features).any():
        return features, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": that column gets 0 below
        medians = np.nanmedian(features[train_rows], axis=0)
    medians = np.where(np.isnan(medians), 0.0, medians)
    filled = np.where(np.isnan(features), medians[None, :], features)
    return filled, medians


def population_batchnorm(model: nn.Module, rows: torch.Tensor, device: torch.device, chunk: int = 512) -> None:
    """Set every batch norm's running statistics to the population statistics of ``rows`` (the training
    set, dropout off), as MATLAB's trainNetwork does ('BatchNormalizationStatistics' = 'population'),
    which DeepInsight's reference code trained with. Needed here, not just tidy: DeepInsight images
    are sparse, so most activations are exact zeros with a tiny variance, and the lagging moving
    averages shift every empty position at once; in eval mode the network then predicts one class."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    was_training = model.training
    model.eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the chunks
        m.train()
    with torch.no_grad():
        for part in rows.split(chunk):
            model(part.to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) > 3:
        return f"[{', '.join(map(repr, value[:3]))}, ... ({len(value)} in all)]"
    return repr(value)


# -- training ---------------------------------------------------------------------------------------------

class DeepInsightTask(StepModule):
    """Tabular classification on the raw feature vector (the image transform is inside the network)."""

    def __init__(self, model: DeepInsightNet, data: SplitTable, config: DeepInsightConfig) -> None:
        super().__init__(model, config)
        self.features = torch.from_numpy(data.features)
        self.targets = torch.from_numpy(data.targets)
        self.train_rows = data.splits["train"]
        self.val_rows = torch.from_numpy(data.splits["val"])

    def steps_per_epoch(self) -> int:
        # the last rank gets the fewest rows; every rank takes that many steps so DDP stays in step
        _, world = self.world()
        n, bs = len(self.train_rows), self.config.batch_size
        return max(1, len(epoch_batches(n, bs, self.config.seed, 0, world - 1, world)))

    def on_validation_model_eval(self) -> None:
        # deterministic (all training rows, fixed order), so a resumed run gets the same statistics
        population_batchnorm(self.model, self.features[torch.from_numpy(self.train_rows)], self.device)
        super().on_validation_model_eval()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        # The batch is a pure function of the global step, so a run resumed mid-epoch sees the same batches.
        rank, world = self.world()
        epoch, index = divmod(self.global_step, self.steps_per_epoch())
        picked = epoch_batches(len(self.train_rows), self.config.batch_size, self.config.seed, epoch, rank, world)[index]
        rows = torch.from_numpy(self.train_rows[picked])
        x, y = self.features[rows].to(self.device), self.targets[rows].to(self.device)
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(rows))
        self.log("train/acc", (logits.argmax(1) == y).float().mean(), batch_size=len(rows))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = self.features[self.val_rows].to(self.device), self.targets[self.val_rows].to(self.device)
        logits = torch.cat([self.model(chunk) for chunk in x.split(2048)])
        self.log("val/loss", F.cross_entropy(logits, y), batch_size=len(y))
        self.log("val/acc", (logits.argmax(1) == y).float().mean(), prog_bar=True, batch_size=len(y))


# -- evaluation helpers -----------------------------------------------------------------------------------

def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"acc": float(accuracy_score(y_true, y_pred)), "macro_f1": float(f1_score(y_true, y_pred, average="macro"))}


def baseline_scores(data: SplitTable, seed: int) -> dict[str, dict[str, float]]:
    """Decision tree, AdaBoost and random forest (scikit-learn defaults, seeded) trained on the same
    training rows and scored on the same test rows as DeepInsight."""
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    x_train, y_train = data.rows("train")
    x_test, y_test = data.rows("test")
    models = {"decision tree": DecisionTreeClassifier(random_state=seed),
              "AdaBoost": AdaBoostClassifier(random_state=seed),
              "random forest": RandomForestClassifier(random_state=seed, n_jobs=1)}
    return {name: classification_metrics(y_test, model.fit(x_train, y_train).predict(x_test))
            for name, model in models.items()}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig: Any, path: Path) -> None:
    from zoo import io as zio

    with zio.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    _pyplot().close(fig)


def plot_layout(transform: TabularToImage, path: Path, title: str) -> None:
    """Left: feature positions from the extractor, their convex hull and minimum-area rectangle.
    Right: the rotated positions on the pixel grid (darker = more features in the pixel)."""
    from zoo.deepinsight_transform import hull_vertices

    plt = _pyplot()
    embedding = transform.embedding.cpu().numpy().astype(np.float64)
    rotation = transform.rotation.cpu().numpy().astype(np.float64)
    coords, pixels = transform.coords(), transform.pixels
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6))
    left.scatter(embedding[:, 0], embedding[:, 1], s=8, alpha=0.7)
    hull = hull_vertices(embedding)
    if hull is not None:
        left.fill(hull[:, 0], hull[:, 1], fill=False, edgecolor="tab:red", label="convex hull")
    rect = rectangle_of(embedding, rotation)
    left.fill(rect[:, 0], rect[:, 1], fill=False, edgecolor="tab:green", label="minimum-area rectangle")
    left.set_title("feature positions (2-D embedding)")
    left.legend(fontsize=7, loc="upper right")
    left.set_aspect("equal", adjustable="datalim")
    counts = np.zeros((pixels, pixels))
    np.add.at(counts, (coords[:, 0], coords[:, 1]), 1)
    right.imshow(counts, cmap="Greys", origin="upper", interpolation="nearest")
    right.set_title(f"{len(coords)} features on the {pixels}x{pixels} grid ({int((counts > 0).sum())} pixels used)")
    right.set_xlabel("column")
    right.set_ylabel("row")
    fig.suptitle(title)
    fig.tight_layout()
    _save_figure(fig, path)


def plot_samples(images: np.ndarray, targets: np.ndarray, classes: list[str], path: Path, per_class: int = 4) -> None:
    """A grid: one row per class (at most 10), ``per_class`` generated images each."""
    plt = _pyplot()
    shown = [c for c in range(len(classes)) if np.any(targets == c)][:10]
    fig, axes = plt.subplots(len(shown), per_class, figsize=(1.8 * per_class, 1.8 * len(shown)), squeeze=False)
    for row, c in enumerate(shown):
        picks = np.flatnonzero(targets == c)[:per_class]
        for col in range(per_class):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(picks):
                ax.imshow(images[picks[col]], cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            if col == 0:
                ax.set_ylabel(f"class {classes[c]}", fontsize=8)
    fig.suptitle("DeepInsight images (test rows)")
    fig.tight_layout()
    _save_figure(fig, path)


# -- the zoo description --------------------------------------------------------------------------------------

@register
class DeepInsight(ZooModel):
    card = CARD
    Config = DeepInsightConfig
    config: DeepInsightConfig

    # -- shapes: written into the config from the data before anything is built ----------------------
    def _ensure_shapes(self) -> None:
        if not self.config.n_features or not self.config.n_classes:
            self.data  # noqa: B018  (load_data writes n_features, n_classes and the names into the config)

    def build_model(self) -> DeepInsightNet:
        self._ensure_shapes()
        torch.manual_seed(self.config.seed)
        return DeepInsightNet(self.config)

    def inputs(self) -> list[TensorSpec]:
        self._ensure_shapes()
        return [TensorSpec("features", ("batch", self.config.n_features),
                           description=f"raw feature values in the column order of feature_names ({self.config.n_features} columns); "
                                       "scaling and the feature-to-pixel mapping are inside the model")]

    def outputs(self) -> list[TensorSpec]:
        self._ensure_shapes()
        return [TensorSpec("logits", ("batch", self.config.n_classes), meaning="logits",
                           description="class scores in the order of labels(); softmax gives probabilities")]

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(kind="tabular", notes=(
            "feed the raw numeric feature row (columns as feature_names); the fitted scaling and the feature-to-pixel "
            "image mapping are part of the model. Missing values must be filled first (with --impute training used the "
            "training-split medians saved in splits.json)."))

    def labels(self) -> list[str] | None:
        self._ensure_shapes()
        return list(self.config.class_names)

    # -- data ----------------------------------------------------------------------------------------------
    def load_data(self) -> SplitTable:
        from zoo import data as datasets
        from zoo.data.tabular import stratified_split

        cfg = self.config
        table = datasets.load(cfg.data or self.default_data, data_dir=cfg.data_dir, target=cfg.target, impute=cfg.impute)
        if not isinstance(table, TabularDataset):
            raise ZooError(f"deepinsight needs a tabular data set; '{cfg.data}' is {type(table).__name__} (see `zoo data`).")
        self._record_shapes(table)
        splits = stratified_split(table.targets, table.classes, val_size=cfg.val_size, test_size=cfg.test_size, seed=cfg.seed)
        features, medians = fill_missing(table.features, splits["train"])
        return SplitTable(table.name, features.astype(np.float32), table.targets, table.classes, table.feature_names,
                          splits, medians)

    def _record_shapes(self, table: TabularDataset) -> None:
        """Write the data's shapes into the config; a saved config must agree with the data it names."""
        cfg = self.config
        found = {"n_features": table.features.shape[1], "n_classes": table.num_classes,
                 "class_names": table.classes, "feature_names": table.feature_names}
        for key, value in found.items():
            saved = getattr(cfg, key)
            if saved and saved != value:
                raise ZooError(f"the config has {key}={_short(saved)} but data '{cfg.data}' gives {_short(value)}; "
                               "these fields are filled from the data, so drop them from the config.")
        for key, value in found.items():
            setattr(cfg, key, value)

    def fitted_transform(self) -> FittedTransform:
        """Fit the image transform on the training rows only."""
        x_train, _ = self.data.rows("train")
        cfg = self.config
        return fit_transform(x_train, scaler=cfg.scaler, feature_extractor=cfg.feature_extractor, pixels=cfg.pixels, seed=cfg.seed)

    def training_module(self, model: nn.Module) -> DeepInsightTask:
        return DeepInsightTask(model, self.data, self.config)

    def fit(self, run: Any) -> nn.Module:
        from zoo import io as zio

        data = self.data
        if run.dir.exists():
            zio.write_json(run.dir / "splits.json", data.summary())
        model = self.build_model()
        model.transform.load_fitted(self.fitted_transform())  # the transform is learned first, from training rows
        return run.fit_stage(self.training_module(model))

    # -- evaluation ---------------------------------------------------------------------------------------------
    def evaluate(self, predict: Predict) -> dict[str, float]:
        x_test, y_test = self.data.rows("test")
        logits = predict({"features": x_test})[0]
        scores = classification_metrics(y_test, np.argmax(logits, axis=1))
        return {"test/acc": scores["acc"], "test/macro_f1": scores["macro_f1"], "test/rows": float(len(y_test))}

    @cached_property
    def baselines(self) -> dict[str, dict[str, float]]:
        return baseline_scores(self.data, self.config.seed)

    def eval_report(self, metrics: dict[str, float]) -> list[Any]:
        from rich.table import Table

        table = Table(title=f"DeepInsight vs. tree models on {self.data.name} (same split, {len(self.data.splits['test'])} test rows)")
        for col in ("method", "test accuracy", "macro-F1"):
            table.add_column(col, justify="left" if col == "method" else "right")
        table.add_row("DeepInsight (this model)", f"{metrics['test/acc']:.4f}", f"{metrics.get('test/macro_f1', float('nan')):.4f}")
        for method, scores in self.baselines.items():
            table.add_row(method, f"{scores['acc']:.4f}", f"{scores['macro_f1']:.4f}")
        return [table]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        x, _ = self.data.rows(split)
        rows = np.arange(n) % len(x)  # a small split is cycled through to give n rows
        return {"features": np.ascontiguousarray(x[rows], dtype=np.float32)}

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        net: DeepInsightNet = model  # type: ignore[assignment]
        cfg = self.config
        plot_layout(net.transform, run_dir / "deepinsight_layout.png",
                    f"{self.data.name}: {cfg.feature_extractor} layout, {cfg.n_features} features")
        x_test, y_test = self.data.rows("test")
        with torch.no_grad():
            images = net.transform.cpu()(torch.from_numpy(x_test)).squeeze(1).numpy()
        plot_samples(images, y_test, list(cfg.class_names), run_dir / "deepinsight_samples.png")

    def demo(self) -> DemoHook | None:
        self._ensure_shapes()
        cfg = self.config
        return DemoHook(kind="tabular", title="DeepInsight",
                        description=("Upload a CSV (one row per sample, columns as listed) or type one row of values: "
                                     "the model shows the class probabilities and the image the row becomes."),
                        extra={"feature_names": list(cfg.feature_names), "class_names": list(cfg.class_names),
                               "pixels": cfg.pixels, "scaler": cfg.scaler,
                               # torch-free image rendering from model.safetensors buffers
                               "image_from_weights": "zoo.deepinsight_transform:images_from_state"})
