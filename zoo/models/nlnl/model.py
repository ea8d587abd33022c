"""NLNL: Negative Learning for Noisy Labels (Kim, Yun, Yun and Kim, ICCV 2019).

Positive learning (cross-entropy on "this image is class y") memorises wrong labels. Negative learning
(NL) trains on "this image is *not* class ȳ", with ȳ drawn among the other classes afresh every epoch;
a complementary label is wrong far less often than a noisy label, so the network fits the clean
majority and leaves corrupted samples with a low confidence in their given label. The pipeline:

    nl      NL on every training sample, loss -log(1 - p_ȳ)
    selnl   NL only on samples whose given-label confidence exceeds 1/K
    selpl   cross-entropy only on samples whose given-label confidence exceeds gamma
    clean   flag labels whose confidence stays below --clean-threshold as noisy; train a fresh network
            on the rest and relabel the flagged samples with it
    final   a fresh network on all training samples with the cleaned labels (the exported model)

A cross-entropy baseline on the same noisy labels, backbone and epoch budget (stage "ce_baseline")
runs first, so every run reports NLNL next to plain training. Label noise is injected here (seeded,
recorded in noisy_labels.csv), so detection precision/recall are measured against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo import noisy_labels as nlabels
from zoo.engine import is_global_zero
from zoo.errors import ZooError
from zoo.models.nlnl import CARD
from zoo.models.nlnl.config import NlnlConfig
from zoo.tasks.base import StepModule
from zoo.registry import DemoHook, Predict, Preprocessing, TensorSpec, ZooModel, register

if TYPE_CHECKING:
    from zoo.engine import Run

StageLoss = Literal["nl", "selnl", "selpl", "ce"]
NLNL_STAGES = ("nl", "selnl", "selpl", "clean", "final")
HISTOGRAM_STAGES = ("ce_baseline", "nl", "selnl", "selpl")
INK_ON_WHITE = {"omniglot-minimal", "omniglot"}  # data sets drawn dark on white: inverted so ink is 1
NOISY_LABELS_CSV = "noisy_labels.csv"
CLEANED_LABELS_CSV = "cleaned_labels.csv"
CONFIDENCE_PNG = "nlnl_confidence.png"




# -- networks --------------------------------------------------------------------------------------

def conv_block(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """Three blocks of two 3x3 conv-BN-ReLU, max-pooling between blocks, global average pool, linear."""

    def __init__(self, in_channels: int, num_classes: int, width: int, image_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for block in range(3):
            out = width * 2 ** block
            layers += conv_block(channels, out) + conv_block(out, out)
            channels = out
            if block < 2 and size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))


def torchvision_backbone(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """An untrained torchvision ResNet-18 / EfficientNet-B0 taking ``in_channels`` input channels."""
    from torchvision import models as tvm

    if name == "resnet18":
        net = tvm.resnet18(weights=None, num_classes=num_classes)
        if image_size < 64:  # CIFAR-style stem: a 7x7/2 conv and a max-pool would erase small images
            net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        else:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        return net
    net = tvm.efficientnet_b0(weights=None, num_classes=num_classes)
    stem = net.features[0][0]
    net.features[0][0] = nn.Conv2d(in_channels, stem.out_channels, 3, stride=1 if image_size < 64 else 2, padding=1, bias=False)
    return net


def build_backbone(config: NlnlConfig, num_classes: int, in_channels: int = 1) -> nn.Module:
    if config.backbone == "small-cnn":
        return SmallCNN(in_channels, num_classes, config.width, config.image_size)
    return torchvision_backbone(config.backbone, in_channels, num_classes, config.image_size)


# -- data ------------------------------------------------------------------------------------------

@dataclass
class NoisyImageData:
    images: torch.Tensor  # float32 (N, 1, H, W) in [0, 1]
    true_labels: np.ndarray
    given_labels: np.ndarray  # what training sees: noisy in train/val, true in test
    splits: dict[str, np.ndarray]  # "train" | "val" | "test" -> sorted row indices
    classes: list[str]

    @property
    def corrupted(self) -> np.ndarray:
        return self.given_labels != self.true_labels


def to_model_input(images: np.ndarray, invert: bool) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) in [0, 1] (1 - x when the ink is dark)."""
    x = images.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray((1.0 - x if invert else x)[:, None]))


def stratified_take(targets: np.ndarray, pool: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split ``pool`` into (``fraction`` of every class, the rest), both sorted."""
    taken = []
    for c in np.unique(targets[pool]):
        members = rng.permutation(pool[targets[pool] == c])
        taken.append(members[:round(fraction * len(members))])
    chosen = np.sort(np.concatenate(taken)) if taken else np.array([], np.int64)
    return chosen, np.setdiff1d(pool, chosen)


def split_rows(targets: np.ndarray, train_mask: np.ndarray | None, config: NlnlConfig) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([config.seed, 11])
    everything = np.arange(len(targets))
    if train_mask is not None:  # the data set's own test split (MNIST)
        test, pool = np.flatnonzero(~train_mask), np.flatnonzero(train_mask)
        val_share = config.val_fraction
    else:
        test, pool = stratified_take(targets, everything, config.test_fraction, rng)
        val_share = config.val_fraction / (1 - config.test_fraction)  # a share of the whole, taken from what is left
    val, train = stratified_take(targets, pool, val_share, rng)
    for name, rows in (("train", train), ("val", val), ("test", test)):
        if len(rows) == 0:
            raise ZooError(f"the {name} split is empty; the data set is too small for --val-fraction/--test-fraction, raise them or add data.")
    return {"train": train, "val": val, "test": test}


def corrupt_splits(true: np.ndarray, splits: dict[str, np.ndarray], classes: list[str], config: NlnlConfig) -> np.ndarray:
    """Given labels: train and val corrupted independently at the configured rate; test stays clean."""
    given = true.copy()
    flips = nlabels.asymmetric_flips(classes)
    for key, split in enumerate(("train", "val"), start=101):
        rows = splits[split]
        given[rows] = nlabels.inject_noise(true[rows], len(classes), config.noise_rate, config.noise_type,
                                           seed=[config.seed, key], flips=flips)
    return given


# -- training --------------------------------------------------------------------------------------

def predict_logits(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu", chunk: int = 1024) -> np.ndarray:
    was_training = model.training
    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, len(images), chunk):
            outs.append(model(images[start:start + chunk].to(device)).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def given_confidence(model: nn.Module, data: NoisyImageData, rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
    probs = softmax(predict_logits(model, data.images[rows]))
    return probs[np.arange(len(rows)), labels]


def accuracy(model: nn.Module, data: NoisyImageData, split: str = "test") -> float:
    rows = data.splits[split]
    return float(np.mean(predict_logits(model, data.images[rows]).argmax(1) == data.true_labels[rows]))


class NoisyLabelStage(StepModule):
    """One stage of the pipeline: ``loss`` on the training ``rows`` with labels ``targets``.

    Batches and complementary labels are functions of (seed, stage, global step), as the engine
    requires for exact mid-epoch resume."""

    def __init__(self, model: nn.Module, data: NoisyImageData, config: NlnlConfig, loss: StageLoss,
                 rows: np.ndarray, targets: np.ndarray, stage_key: int) -> None:
        super().__init__(model, config)
        if len(rows) == 0:
            raise ZooError("a training stage has no samples: SelPL flagged every label as noisy; lower --clean-threshold "
                           "or train the NL stages longer (--nl-epochs).")
        self.model, self.data, self.config = model.train(), data, config  # the previous stage returns it in eval mode
        self.loss_kind, self.rows, self.targets, self.stage_key = loss, rows, targets, stage_key
        self.num_classes = len(data.classes)
        self._complementary: tuple[int, np.ndarray] | None = None

    def steps_per_epoch(self) -> int:
        """Batches of rank 0, which holds the most rows (``epoch_batches`` deals rows out rank by rank)."""
        return self.rows_steps(len(self.rows))

    def complementary_for_epoch(self, epoch: int) -> np.ndarray:
        if self._complementary is None or self._complementary[0] != epoch:
            rng = np.random.default_rng([self.config.seed, self.stage_key, epoch])
            labels = nlabels.complementary_labels(self.targets, self.num_classes, rng, self.config.complementary_labels)
            self._complementary = (epoch, labels)
        return self._complementary[1]

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        epoch, picked = self.batch_positions(len(self.rows))
        images = self.data.images[self.rows[picked]].to(self.device)
        labels = torch.from_numpy(self.targets[picked]).to(self.device)
        logits = self.model(images)
        loss, selected = self.stage_loss(logits, labels, epoch, picked)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(picked))
        self.log("train/selected", selected.float().mean(), batch_size=len(picked))
        return loss

    def stage_loss(self, logits: torch.Tensor, labels: torch.Tensor, epoch: int, picked: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if self.loss_kind == "ce":
            return F.cross_entropy(logits.float(), labels), torch.ones_like(labels, dtype=torch.bool)
        confidence = nlabels.given_label_confidence(logits.detach(), labels)
        if self.loss_kind == "selpl":
            selected = nlabels.selective_pl_mask(confidence, self.config.gamma)
            return nlabels.masked_mean(F.cross_entropy(logits.float(), labels, reduction="none"), selected), selected
        complementary = torch.from_numpy(self.complementary_for_epoch(epoch)[picked]).to(self.device)
        selected = (nlabels.selective_nl_mask(confidence, self.num_classes) if self.loss_kind == "selnl"
                    else torch.ones_like(labels, dtype=torch.bool))
        return nlabels.negative_learning_loss(logits, complementary, selected), selected

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        rows = self.data.splits["val"]
        predicted = predict_logits(self.model, self.data.images[rows], self.device).argmax(1)
        self.log("val/acc", float(np.mean(predicted == self.data.given_labels[rows])), prog_bar=True, batch_size=1)


@dataclass
class StageProbe:
    """Measures each finished stage: given-label confidence of the training rows, test accuracy."""

    data: NoisyImageData
    rows: np.ndarray
    given: np.ndarray
    confidences: dict[str, np.ndarray] = field(default_factory=dict)
    test_accuracy: dict[str, float] = field(default_factory=dict)

    def __call__(self, stage: str, model: nn.Module) -> nn.Module:
        self.confidences[stage] = given_confidence(model, self.data, self.rows, self.given)
        self.test_accuracy[stage] = accuracy(model, self.data)
        return model


@dataclass
class CleaningOutcome:
    """What the pipeline learnt about the training labels (kept for reports and pictures)."""

    rows: np.ndarray  # training rows of the data set
    confidences: dict[str, np.ndarray]  # stage -> given-label confidence of every training row
    flagged: np.ndarray  # judged noisy after SelPL
    cleaned: np.ndarray  # labels the final network trained on
    report: dict[str, float]


def cleaning_report(data: NoisyImageData, rows: np.ndarray, flagged: np.ndarray, cleaned: np.ndarray,
                    test_accuracy: dict[str, float]) -> dict[str, float]:
    """Metrics of the run besides the final accuracy: per-stage test accuracy, detection, label quality."""
    true, given = data.true_labels[rows], data.given_labels[rows]
    corrupted = true != given
    detection = nlabels.detection_scores(flagged, corrupted)
    return {
        **{f"test/{stage}_acc": acc for stage, acc in test_accuracy.items()},
        "detect/precision": detection["precision"],
        "detect/recall": detection["recall"],
        "detect/flagged_fraction": float(flagged.mean()),
        "labels/noise_rate": float(corrupted.mean()),
        "labels/acc_before_cleaning": float(np.mean(given == true)),
        "labels/acc_after_cleaning": float(np.mean(cleaned == true)),
    }


@register
class Nlnl(ZooModel):
    card = CARD
    Config = NlnlConfig
    config: NlnlConfig

    def __init__(self, config: NlnlConfig | None = None) -> None:
        super().__init__(config)
        self.outcome: CleaningOutcome | None = None

    # -- the network ---------------------------------------------------------------------------
    def num_classes(self) -> int:
        if not self.config.class_names:
            self.data  # noqa: B018  (loading the data fills class_names)
        return len(self.config.class_names)

    def build_model(self) -> nn.Module:
        return self.fresh_network(0)

    def fresh_network(self, key: int) -> nn.Module:
        """A newly initialised classifier; ``key`` separates the stages' initialisations."""
        num_classes = self.num_classes()
        torch.manual_seed(int(np.random.SeedSequence([self.config.seed & 0xFFFFFFFF, key]).generate_state(1)[0]))
        return build_backbone(self.config, num_classes)

    def inputs(self) -> list[TensorSpec]:
        s = self.config.image_size
        ink = "ink = 1" if self.inverts() else "as in the data set"
        return [TensorSpec("image", ("batch", 1, s, s), description=f"grayscale image {s}x{s}, values in [0, 1] ({ink})")]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("logits", ("batch", self.num_classes()), meaning="logits",
                           description="class scores in labels() order; softmax gives probabilities")]

    def inverts(self) -> bool:
        return (self.config.data or self.default_data) in INK_ON_WHITE

    def preprocessing(self) -> Preprocessing:
        s = self.config.image_size
        return Preprocessing(kind="image", size=(s, s), color="L", scale=1 / 255, invert=self.inverts(), layout="NCHW",
                             notes="grayscale, resize (bilinear), x = pixel/255" + (", then 1 - x so ink is 1" if self.inverts() else ""))

    def labels(self) -> list[str] | None:
        self.num_classes()
        return list(self.config.class_names)

    # -- data ------------------------------------------------------------------------------------
    def load_data(self) -> NoisyImageData:
        from zoo import data as datasets

        cfg = self.config
        s = cfg.image_size
        ds = datasets.load(cfg.data or self.default_data, data_dir=cfg.data_dir, size=(s, s), color="L")
        if not hasattr(ds, "images"):
            raise ZooError(f"nlnl needs an image data set; '{cfg.data}' is {type(ds).__name__}.")
        if cfg.class_names and list(cfg.class_names) != list(ds.classes):
            raise ZooError(f"the config's class_names ({len(cfg.class_names)}) do not match data set '{ds.name}' "
                           f"({ds.num_classes} classes); use the data set the model was trained on.")
        if not cfg.class_names:
            cfg.class_names = list(ds.classes)
        splits = split_rows(ds.targets, ds.extra.get("train_mask"), cfg)
        given = corrupt_splits(ds.targets, splits, ds.classes, cfg)
        return NoisyImageData(to_model_input(ds.images, self.inverts()), ds.targets, given, splits, list(ds.classes))

    # -- training --------------------------------------------------------------------------------
    def training_module(self, model: nn.Module) -> NoisyLabelStage:
        rows = self.data.splits["train"]
        return NoisyLabelStage(model, self.data, self.config, "ce", rows, self.data.given_labels[rows], stage_key=0)

    def stage(self, model: nn.Module, loss: StageLoss, rows: np.ndarray, targets: np.ndarray, key: int) -> NoisyLabelStage:
        return NoisyLabelStage(model, self.data, self.config, loss, rows, targets, stage_key=key)

    def fit(self, run: Run) -> nn.Module:
        data, cfg = self.data, self.config
        self.record_labels(run.dir)
        rows = data.splits["train"]
        given = data.given_labels[rows]
        probe = StageProbe(data, rows, given)
        budget = sum(cfg.stage_epochs(s) for s in NLNL_STAGES)
        probe("ce_baseline", run.fit_stage(self.stage(self.fresh_network(1), "ce", rows, given, key=1), name="ce_baseline", epochs=budget))
        net = self.fresh_network(2)
        for key, loss in enumerate(("nl", "selnl", "selpl"), start=2):  # each stage continues the previous network
            net = probe(loss, run.fit_stage(self.stage(net, loss, rows, given, key), name=loss, epochs=cfg.stage_epochs(loss)))

        flagged = probe.confidences["selpl"] < cfg.clean_threshold
        cleaned = self.relabel(run, rows, given, flagged, probe)
        self.outcome = CleaningOutcome(rows, probe.confidences, flagged, cleaned,
                                       cleaning_report(data, rows, flagged, cleaned, probe.test_accuracy))
        self.write_cleaned_labels(run.dir)
        return run.fit_stage(self.stage(self.fresh_network(6), "ce", rows, cleaned, key=6), name="final", epochs=cfg.stage_epochs("final"))

    def relabel(self, run: Run, rows: np.ndarray, given: np.ndarray, flagged: np.ndarray, probe: StageProbe) -> np.ndarray:
        """The paper's cleaning: a fresh network trained on the unflagged samples relabels the flagged ones."""
        clean_net = run.fit_stage(self.stage(self.fresh_network(5), "ce", rows[~flagged], given[~flagged], key=5),
                                  name="clean", epochs=self.config.stage_epochs("clean"))
        probe.test_accuracy["clean"] = accuracy(clean_net, self.data)
        cleaned = given.copy()
        if flagged.any():
            cleaned[flagged] = predict_logits(clean_net, self.data.images[rows[flagged]]).argmax(1)
        return cleaned

    def record_labels(self, run_dir: Path) -> None:
        """Save which labels were corrupted (config.json already holds the classes: the engine loads the
        data, which fills them, before it writes the config)."""
        if not is_global_zero() or not run_dir.exists():
            return
        data = self.data
        rows = [(int(i), split, int(data.true_labels[i]), int(data.given_labels[i]), int(data.corrupted[i]))
                for split in ("train", "val") for i in data.splits[split]]
        nlabels.write_csv(run_dir / NOISY_LABELS_CSV, ("index", "split", "true", "given", "corrupted"), sorted(rows))

    def write_cleaned_labels(self, run_dir: Path) -> None:
        if self.outcome is None or not is_global_zero() or not run_dir.exists():
            return
        out, data = self.outcome, self.data
        rows = [(int(i), int(data.true_labels[i]), int(data.given_labels[i]), int(data.corrupted[i]),
                 f"{out.confidences['selpl'][j]:.6f}", int(out.flagged[j]), int(out.cleaned[j]))
                for j, i in enumerate(out.rows)]
        nlabels.write_csv(run_dir / CLEANED_LABELS_CSV,
                          ("index", "true", "given", "corrupted", "confidence", "flagged_noisy", "cleaned"), rows)

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, predict: Predict) -> dict[str, float]:
        """Test accuracy of ``predict`` on the clean test split; right after training also the CE
        baseline, per-stage accuracies and noisy-label detection recorded by ``fit``."""
        data = self.data
        rows = data.splits["test"]
        logits = predict({"image": data.images[rows].numpy()})[0]
        metrics = {"test/acc": float(np.mean(logits.argmax(1) == data.true_labels[rows]))}
        if self.outcome is not None:
            metrics.update(self.outcome.report)
        return metrics

    def eval_report(self, metrics: dict[str, float]) -> list[Any]:
        from rich.table import Table

        if "test/ce_baseline_acc" not in metrics:
            return ["CE baseline and noisy-label detection figures are recorded at training: metrics.json, "
                    f"{CLEANED_LABELS_CSV} and {CONFIDENCE_PNG} in the run directory."]
        table = Table(title=f"NLNL vs cross-entropy on {metrics.get('labels/noise_rate', 0):.0%} noisy labels")
        table.add_column("")
        table.add_column("value", justify="right")
        rows = [("test acc: NLNL (final)", "test/acc"), ("test acc: CE baseline, same budget", "test/ce_baseline_acc"),
                ("test acc after NL / SelNL / SelPL", None), ("noisy-label detection precision", "detect/precision"),
                ("noisy-label detection recall", "detect/recall"), ("train labels correct before cleaning", "labels/acc_before_cleaning"),
                ("train labels correct after cleaning", "labels/acc_after_cleaning")]
        for label, key in rows:
            if key is None:
                value = " / ".join(f"{metrics.get(f'test/{s}_acc', float('nan')):.4f}" for s in ("nl", "selnl", "selpl"))
            else:
                value = f"{metrics.get(key, float('nan')):.4f}"
            table.add_row(label, value)
        return [table]

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        if self.outcome is not None:
            plot_confidence_histograms(self.outcome, self.data, run_dir / CONFIDENCE_PNG)

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        rows = self.data.splits[split][:n]
        return {"image": self.data.images[rows].numpy()}

    def demo(self) -> DemoHook | None:
        return DemoHook(kind="image-classifier", title="NLNL: trained on noisy labels",
                        description=("A classifier trained with negative learning on deliberately corrupted labels "
                                     "(NL -> SelNL -> SelPL -> label cleaning). Upload or draw an image of one of its classes."))


def plot_confidence_histograms(outcome: CleaningOutcome, data: NoisyImageData, out: Path) -> Path:
    """The paper's figures: given-label confidence of clean vs corrupted training samples per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo import io as zio

    corrupted = data.corrupted[outcome.rows]
    stages = [s for s in HISTOGRAM_STAGES if s in outcome.confidences]
    fig, axes = plt.subplots(1, len(stages), figsize=(3.6 * len(stages), 3.2), squeeze=False)
    bins = np.linspace(0, 1, 21)
    for ax, stage in zip(axes[0], stages):
        conf = outcome.confidences[stage]
        ax.hist(conf[~corrupted], bins=bins, alpha=0.6, label=f"clean ({(~corrupted).sum()})", color="tab:blue")
        ax.hist(conf[corrupted], bins=bins, alpha=0.6, label=f"corrupted ({corrupted.sum()})", color="tab:red")
        ax.set_title(f"after {stage}")
        ax.set_xlabel("confidence of the given label")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("training samples")
    fig.tight_layout()
    with zio.atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
