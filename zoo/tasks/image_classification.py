"""Image classification: the data module, training stage, metrics and demo every image classifier shares.

A model of this kind subclasses :class:`ImageClassificationTask` and provides a config (with the
fields of :class:`~zoo.tasks.image_config.ImageClassificationFields`) and ``build_network``. The task
owns: loading a named data set or ``imagefolder:PATH`` at the configured size and colour, seeded
stratified train/val/test splits, an optional few-labels training subset, class names stored in the
artifact's config (derived from data, not a user option), normalisation, step-seeded augmentation,
top-1/top-5 accuracy, a confusion-matrix picture, example inputs and the image-classifier demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.engine import step_generator
from zoo.errors import ZooError
from zoo.registry import DemoHook, Predict, Preprocessing, TensorSpec, ZooModel
from zoo.tasks.base import StepModule, predict_in_chunks

CONFUSION_PNG = "confusion_matrix.png"


@dataclass
class ImageSplits:
    """Preprocessed images (float32 N, C, H, W), integer targets, class names and split -> row indices."""

    images: torch.Tensor
    targets: np.ndarray
    classes: list[str]
    splits: dict[str, np.ndarray]

    def summary(self) -> dict[str, Any]:
        return {split: {"images": int(len(rows)), "classes": int(len(np.unique(self.targets[rows])))}
                for split, rows in self.splits.items()}


def stratified_splits(targets: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
                      labels_per_class: int = 0) -> dict[str, np.ndarray]:
    """Per class: a seeded shuffle, then test, val and train shares (at least one image each for val and test
    when a class has 3 or more). ``labels_per_class`` > 0 keeps only that many training images per class."""
    rng = np.random.default_rng([seed, 11])
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for c in np.unique(targets):
        rows = rng.permutation(np.flatnonzero(targets == c))
        n = len(rows)
        n_test = max(1, round(test_fraction * n)) if n >= 3 else 0
        n_val = max(1, round(val_fraction * n)) if n >= 3 else 0
        train = rows[n_test + n_val:]
        if labels_per_class:
            train = train[:labels_per_class]
        out["test"] += rows[:n_test].tolist()
        out["val"] += rows[n_test:n_test + n_val].tolist()
        out["train"] += train.tolist()
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in out.items()}


def augment_batch(images: torch.Tensor, gen: torch.Generator, flip: bool, shift: float) -> torch.Tensor:
    """Random horizontal flips and translations of up to ``shift`` of the side, drawn from ``gen``."""
    n = images.shape[0]
    if flip:
        mask = torch.rand(n, generator=gen) < 0.5
        images = torch.where(mask[:, None, None, None], images.flip(-1), images)
    if shift > 0:
        t = (torch.rand(n, 2, generator=gen) * 2 - 1) * shift * 2
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, :, 2] = t
        grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid.to(images.device), align_corners=False, padding_mode="border")
    return images


class ClassifierStage(StepModule):
    """Cross-entropy on epoch-shuffled batches (a function of seed, epoch and rank), accuracy on val."""

    def __init__(self, model: nn.Module, data: ImageSplits, config: Any) -> None:
        super().__init__(model, config)
        self.data = data
        self.train_rows = data.splits["train"]
        self.teacher: list[nn.Module] = []  # a list, so the teacher is not part of the student's state_dict
        if len(self.train_rows) == 0:
            raise ZooError("the training split is empty; use a data set with more images per class or lower --test-fraction/--val-fraction.")

    def steps_per_epoch(self) -> int:
        return self.rows_steps(len(self.train_rows))

    def train_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's training images (augmented when configured) and labels, on the module's device."""
        cfg = self.config
        rank, _ = self.world()
        picked = self.train_rows[self.batch_positions(len(self.train_rows))[1]]
        x = self.data.images[picked]
        if cfg.augment:
            x = augment_batch(x, step_generator(cfg.seed, self.global_step, rank), cfg.augment_flip, 0.1)
        return x.to(self.device), torch.from_numpy(self.data.targets[picked]).to(self.device)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        cfg = self.config
        x, y = self.train_batch()
        logits = self.model(x)
        if self.teacher:
            from zoo.tasks.distill import distillation_loss

            with torch.no_grad():
                teacher_logits = self.teacher[0].to(self.device)(x).float()
            loss = distillation_loss(logits.float(), teacher_logits, y, cfg.distill_temperature, cfg.distill_alpha,
                                     cfg.label_smoothing)
        else:
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(y))
        self.log("train/acc", (logits.argmax(1) == y).float().mean(), batch_size=len(y))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        rows = self.data.splits["val"] if len(self.data.splits["val"]) else self.train_rows
        logits = predict_in_chunks(self.model, self.data.images[rows], self.device)
        y = torch.from_numpy(self.data.targets[rows])
        self.log("val/loss", F.cross_entropy(logits, y), batch_size=len(rows))
        self.log("val/acc", (logits.argmax(1) == y).float().mean(), prog_bar=True, batch_size=len(rows))


def topk_accuracy(logits: np.ndarray, targets: np.ndarray, k: int) -> float:
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1)[:, :k]
    return float(np.mean((top == targets[:, None]).any(axis=1)))


class ImageClassificationTask(ZooModel):
    """Base of image classifiers: subclasses give ``build_network`` and may override ``mean_std``."""

    def build_network(self, num_classes: int, in_channels: int) -> nn.Module:
        raise NotImplementedError

    # -- description -------------------------------------------------------------------------------
    def in_channels(self) -> int:
        return 3 if self.color() == "RGB" else 1

    def color(self) -> str:
        """"L" or "RGB": the configured colour, or (auto) what the data set is."""
        if self.config.color != "auto":
            return self.config.color
        if self.config.in_channels:
            return "RGB" if self.config.in_channels == 3 else "L"
        self.data  # noqa: B018  (loading fills in_channels)
        return "RGB" if self.config.in_channels == 3 else "L"

    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Normalisation of [0, 1] pixels (per channel)."""
        return (0.5,) * self.in_channels(), (0.5,) * self.in_channels()

    def num_classes(self) -> int:
        if not self.config.class_names:
            self.data  # noqa: B018  (loading fills class_names)
        return len(self.config.class_names)

    def build_model(self) -> nn.Module:
        torch.manual_seed(self.config.seed)
        return self.build_network(self.num_classes(), self.in_channels())

    def inputs(self) -> list[TensorSpec]:
        s, c = self.config.image_size, self.in_channels()
        mean, std = self.mean_std()
        return [TensorSpec("image", ("batch", c, s, s),
                           description=f"{'RGB' if c == 3 else 'grey'} image {s}x{s}, (pixel/255 - mean) / std with mean {mean}, std {std}")]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("logits", ("batch", self.num_classes()), meaning="logits",
                           description="class scores in labels() order; softmax gives probabilities")]

    def preprocessing(self) -> Preprocessing:
        s = self.config.image_size
        mean, std = self.mean_std()
        return Preprocessing(kind="image", size=(s, s), color=self.color(), scale=1 / 255, mean=mean, std=std, layout="NCHW",
                             notes=f"{self.color()}, resize to {s}x{s} (bilinear), x = (pixel/255 - mean) / std")

    def labels(self) -> list[str] | None:
        self.num_classes()
        return list(self.config.class_names)

    # -- data --------------------------------------------------------------------------------------
    def load_data(self) -> ImageSplits:
        from zoo import data as datasets

        cfg = self.config
        name = cfg.data or self.default_data
        color = cfg.color if cfg.color != "auto" else ("RGB" if cfg.in_channels == 3 else None)
        if color is None:
            color = "RGB" if datasets.info(datasets.resolve_name(name)[0]).name in ("cifar10", "imagefolder") else "L"
        s = cfg.image_size
        ds = datasets.load(name, data_dir=cfg.data_dir, size=(s, s), color=color)
        if not hasattr(ds, "images"):
            raise ZooError(f"{self.name} needs an image data set; '{name}' is {type(ds).__name__}.")
        if ds.num_classes < 2:
            raise ZooError(f"data set {ds.name} has {ds.num_classes} class; a classifier needs at least 2 class folders.")
        if cfg.class_names and list(cfg.class_names) != list(ds.classes):
            raise ZooError(f"the config's class_names ({len(cfg.class_names)}) do not match data set '{ds.name}' "
                           f"({ds.num_classes} classes); evaluate on the data set the model was trained on.")
        if not cfg.class_names:
            cfg.class_names = list(ds.classes)
        cfg.in_channels = 3 if color == "RGB" else 1
        x = ds.images.astype(np.float32) / 255.0
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        if getattr(ds, "name", "").startswith("omniglot"):
            x = 1.0 - x  # ink on white -> ink = 1, as the other grey data sets
        mean, std = self.mean_std()
        x = (x - np.asarray(mean, np.float32)[:, None, None]) / np.asarray(std, np.float32)[:, None, None]
        splits = stratified_splits(ds.targets, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.labels_per_class)
        if len(splits["test"]) == 0:
            raise ZooError(f"data set {ds.name} leaves no test images (classes need at least 3 images each); add images.")
        return ImageSplits(torch.from_numpy(np.ascontiguousarray(x)), ds.targets.astype(np.int64), list(ds.classes), splits)

    # -- training and evaluation ------------------------------------------------------------------
    def training_module(self, model: nn.Module) -> ClassifierStage:
        return self.with_teacher(ClassifierStage(model, self.data, self.config))

    def check_sources(self) -> None:
        if getattr(self.config, "teacher", None):
            from zoo.tasks.distill import load_teacher

            load_teacher(self)  # a mismatched teacher fails here, before the run directory is written

    def with_teacher(self, stage: ClassifierStage) -> ClassifierStage:
        """``stage`` distilling from ``--teacher`` when one is configured (see zoo.tasks.distill)."""
        if getattr(self.config, "teacher", None):
            from zoo.tasks.distill import load_teacher

            stage.teacher = [load_teacher(self)]
        return stage

    def evaluate(self, predict: Predict) -> dict[str, float]:
        rows = self.data.splits["test"]
        logits = np.concatenate([predict({"image": self.data.images[rows[i:i + 256]].numpy()})[0]
                                 for i in range(0, len(rows), 256)])
        y = self.data.targets[rows]
        metrics = {"test/acc": topk_accuracy(logits, y, 1), "test/top5_acc": topk_accuracy(logits, y, 5),
                   "test/images": float(len(rows))}
        from sklearn.metrics import f1_score

        metrics["test/macro_f1"] = float(f1_score(y, logits.argmax(1), average="macro", labels=np.arange(logits.shape[1])))
        self._last_test = (y, logits.argmax(1))
        return metrics

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        rows = self.data.splits[split] if len(self.data.splits[split]) else self.data.splits["train"]
        picked = np.resize(rows, max(n, 1))[:n]
        return {"image": self.data.images[picked].numpy()}

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        if getattr(self, "_last_test", None) is None:
            return
        from zoo import io as zio

        y, pred = self._last_test
        zio.write_json(run_dir / "splits.json", self.data.summary())
        plot_confusion(y, pred, list(self.config.class_names), run_dir / CONFUSION_PNG)

    def demo(self) -> DemoHook | None:
        return DemoHook(kind="image-classifier", title=f"{self.name}: image classifier",
                        description="Upload an image: the top-5 classes with their probabilities.")


def plot_confusion(y: np.ndarray, pred: np.ndarray, classes: list[str], out: Path) -> Path:
    """A confusion matrix (rows: true class, columns: predicted), counts in the cells (up to 30 classes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    from zoo import io as zio

    k = len(classes)
    matrix = confusion_matrix(y, pred, labels=np.arange(k))
    side = min(12, 2 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(matrix, cmap="Blues")
    if k <= 30:
        ax.set_xticks(range(k), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(k), classes, fontsize=7)
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"test confusion matrix ({int(matrix.trace())}/{int(matrix.sum())} right)")
    fig.tight_layout()
    with zio.atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
