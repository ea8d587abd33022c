"""Siamese network for one-shot image recognition (Koch, Zemel and Salakhutdinov, 2015).

One convolutional branch embeds both images (weight sharing is real: it is one module), a distance
layer compares the embeddings (L1 as in the paper, L2 as an option), and a sigmoid unit says whether
the two images show the same class. Trained with binary cross-entropy on balanced same/different
pairs with the paper's random affine distortions; evaluated by N-way one-shot classification on
classes (whole alphabets for Omniglot) never seen in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.engine import step_generator
from zoo.errors import ZooError
from zoo.models.siamese import CARD
from zoo.models.siamese.config import SiameseConfig
from zoo.tasks.base import StepModule
from zoo.registry import DemoHook, Predict, Preprocessing, TensorSpec, ZooModel, register




class ConvBranch(nn.Module):
    """The shared embedding network: conv stages (ReLU, max-pool) and a sigmoid dense layer, as in Koch et al."""

    def __init__(self, image_size: int, channels: list[int], embedding_dim: int, batch_norm: bool) -> None:
        super().__init__()
        # Koch et al. use 10x10, 7x7, 4x4, 4x4 kernels on 105x105 inputs; scale them with the input.
        paper_kernels = [10, 7, 4, 4] + [3] * max(0, len(channels) - 4)
        layers: list[nn.Module] = []
        in_ch, size = 1, image_size
        for i, out_ch in enumerate(channels):
            k = max(3, round(paper_kernels[i] * image_size / 105)) | 1  # odd kernels keep "same" padding exact
            layers += [nn.Conv2d(in_ch, out_ch, k, padding=k // 2, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            in_ch = out_ch
        if size < 1:
            raise ZooError(f"image_size {image_size} is too small for {len(channels)} conv stages; raise --image-size or drop stages.")
        self.features = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * size * size, embedding_dim), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x))


class SiameseNet(nn.Module):
    """forward(left, right) -> probability that both images show the same class, shape (batch, 1)."""

    def __init__(self, config: SiameseConfig) -> None:
        super().__init__()
        self.distance = config.distance
        self.branch = ConvBranch(config.image_size, config.channels, config.embedding_dim, config.batch_norm)
        self.head = nn.Linear(config.embedding_dim, 1)

    def logits(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        a, b = self.branch(left), self.branch(right)
        diff = torch.abs(a - b) if self.distance == "l1" else (a - b) ** 2
        return self.head(diff)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(left, right))


# -- data: class splits, pair sampling, augmentation, N-way trials ------------------------------------

@dataclass
class PairData:
    images: torch.Tensor  # float32 (N, 1, H, W), ink = 1
    targets: np.ndarray
    classes: list[str]
    groups: list[str]  # per class
    split_classes: dict[str, np.ndarray]  # split -> class ids
    by_class: dict[int, np.ndarray]  # class id -> image indices

    def splits_summary(self) -> dict[str, Any]:
        return {split: {"classes": len(ids), "groups": sorted({self.groups[c] for c in ids})}
                for split, ids in self.split_classes.items()}


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) white-background images -> float32 (N, 1, H, W) in [0, 1] with ink = 1."""
    return (1.0 - images.astype(np.float32) / 255.0)[:, None]


def split_classes(groups: list[str], hints: list[str] | None, config: SiameseConfig) -> dict[str, np.ndarray]:
    """Hold out whole groups (alphabets) for validation and test; classes when there are no groups."""
    rng = np.random.default_rng(config.seed)
    num_classes = len(groups)
    by_group: dict[str, list[int]] = {}
    for c, g in enumerate(groups):
        by_group.setdefault(g, []).append(c)
    names = sorted(by_group)
    unknown = [g for g in config.test_groups + config.val_groups if g not in by_group]
    if unknown:
        raise ZooError(f"unknown group '{unknown[0]}' in --test-groups/--val-groups; the data set has: {', '.join(names)}.")

    if len(names) < 3:  # no usable groups: hold out classes
        order = rng.permutation(num_classes)
        n_test, n_val = max(2, round(0.25 * num_classes)), max(2, round(0.1 * num_classes))
        if num_classes - n_test - n_val < 2:
            raise ZooError(f"only {num_classes} classes; one-shot training needs at least 6 (2 train, 2 val, 2 test).")
        return {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
                "train": np.sort(order[n_test + n_val:])}

    test = list(config.test_groups)
    val = list(config.val_groups)
    if hints and not test:
        test = [g for g in names if hints[by_group[g][0]] == "test"]
    pool = [g for g in rng.permutation(names).tolist() if g not in test and g not in val]
    widest = max(config.eval_ways)
    if not test:  # prefer groups wide enough for within-group widest-way trials
        for g in sorted(pool, key=lambda g: (len(by_group[g]) < widest, pool.index(g))):
            if sum(len(by_group[t]) for t in test) >= 0.25 * num_classes:
                break
            test.append(g)
        pool = [g for g in pool if g not in test]
    if not val:
        for g in sorted(pool, key=lambda g: (len(by_group[g]) < config.val_ways, -pool.index(g)), reverse=False):
            if sum(len(by_group[v]) for v in val) >= 0.08 * num_classes:
                break
            val.append(g)
    train = [g for g in names if g not in test and g not in val]
    if not train:
        raise ZooError("no groups left for training after the validation and test hold-outs; hold out fewer groups.")
    ids = lambda gs: np.array(sorted(c for g in gs for c in by_group[g]), dtype=np.int64)  # noqa: E731
    return {"train": ids(train), "val": ids(val), "test": ids(test)}


def check_ways(config: SiameseConfig, split_sizes: dict[str, int]) -> None:
    """N-way tasks need N classes in their split: refused with the data, before anything is written."""
    if split_sizes["val"] < config.val_ways:
        raise ZooError(f"--val-ways {config.val_ways} needs {config.val_ways} validation classes, the data's validation "
                       f"split has {split_sizes['val']}; lower --val-ways or hold out more groups.")
    too_wide = [w for w in config.eval_ways if w > split_sizes["test"]]
    if too_wide:
        raise ZooError(f"--eval-ways {too_wide[0]} needs {too_wide[0]} test classes, the data's test split has "
                       f"{split_sizes['test']}; use --eval-ways of at most {split_sizes['test']}.")


def sample_pairs(data: PairData, class_ids: np.ndarray, n: int, gen: np.random.Generator,
                 same_group_share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` index pairs (first half same class, second half different class) and their 0/1 labels."""
    n_same = n // 2
    left, right = np.empty(n, np.int64), np.empty(n, np.int64)
    group_of = np.array([data.groups[c] for c in class_ids])
    for i in range(n):
        c1 = class_ids[gen.integers(len(class_ids))]
        if i < n_same:
            a, b = gen.choice(data.by_class[c1], 2, replace=False)
        else:
            same_group = np.flatnonzero((group_of == data.groups[c1]) & (class_ids != c1))
            pool = same_group if len(same_group) and gen.random() < same_group_share else np.flatnonzero(class_ids != c1)
            c2 = class_ids[pool[gen.integers(len(pool))]]
            a, b = gen.choice(data.by_class[c1]), gen.choice(data.by_class[c2])
        left[i], right[i] = a, b
    labels = np.r_[np.ones(n_same), np.zeros(n - n_same)].astype(np.float32)
    return left, right, labels


def random_affine(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Koch et al.'s distortions, each component applied with probability 0.5: rotation +-10 deg,
    shear +-0.3, scale 0.8-1.2, translation +-2 px (at 105 px; scaled to the input size)."""
    n, _, h, _ = images.shape
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen)  # noqa: E731
    on = lambda: (torch.rand(n, generator=gen) < 0.5).float()  # noqa: E731
    theta = math.pi / 180 * 10 * (2 * torch.rand(n, generator=gen) - 1) * on()
    shear_x, shear_y = u(-0.3, 0.3) * on(), u(-0.3, 0.3) * on()
    scale_x, scale_y = 1 + (u(0.8, 1.2) - 1) * on(), 1 + (u(0.8, 1.2) - 1) * on()
    shift = 2.0 * 2 / 105  # 2 px at 105 px, in normalised [-1, 1] coordinates
    tx, ty = u(-shift, shift) * on(), u(-shift, shift) * on()
    cos, sin = torch.cos(theta), torch.sin(theta)
    a = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shear = torch.stack([torch.stack([torch.ones(n), shear_x], -1), torch.stack([shear_y, torch.ones(n)], -1)], -2)
    scale = torch.diag_embed(torch.stack([1 / scale_x, 1 / scale_y], -1))
    mat = a @ shear @ scale
    affine = torch.cat([mat, torch.stack([tx, ty], -1)[..., None]], -1)
    grid = F.affine_grid(affine.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid.to(images.device), align_corners=False, padding_mode="zeros")


def one_shot_trials(data: PairData, class_ids: np.ndarray, ways: int, trials: int, seed: int) -> list[tuple[int, np.ndarray]] | None:
    """N-way one-shot trials: (query image, support images with the true class first). Within a group
    (alphabet) when it has enough classes, as in Lake et al.'s protocol; else across the split."""
    gen = np.random.default_rng([seed, ways, 7])
    by_group: dict[str, list[int]] = {}
    for c in class_ids:
        by_group.setdefault(data.groups[c], []).append(int(c))
    wide = [g for g, cs in by_group.items() if len(cs) >= ways]
    if not wide and len(class_ids) < ways:
        return None
    out = []
    for _ in range(trials):
        pool = by_group[wide[gen.integers(len(wide))]] if wide else list(class_ids)
        chosen = gen.choice(pool, ways, replace=False)
        support = []
        query = -1
        for j, c in enumerate(chosen):
            a, b = gen.choice(data.by_class[int(c)], 2, replace=False)
            support.append(a)
            if j == 0:
                query = int(b)
        out.append((query, np.asarray(support)))
    return out


def n_way_accuracy(predict: Predict, images: np.ndarray, trials: list[tuple[int, np.ndarray]]) -> float:
    ways = len(trials[0][1])
    left = np.concatenate([np.repeat(images[[q]], ways, axis=0) for q, _ in trials])
    right = np.concatenate([images[s] for _, s in trials])
    scores = predict({"left": left, "right": right})[0].reshape(len(trials), ways)
    return float(np.mean(np.argmax(scores, axis=1) == 0))


def ci95(p: float, n: int) -> float:
    return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / n)


# -- training ----------------------------------------------------------------------------------------

class SiameseTask(StepModule):
    """Pair similarity: balanced same/different pairs sampled per step; N-way one-shot validation."""

    def __init__(self, model: SiameseNet, data: PairData, config: SiameseConfig) -> None:
        super().__init__(model, config)
        self.data = data
        self._val_trials = one_shot_trials(data, data.split_classes["val"], config.val_ways, config.val_trials, config.seed + 1)
        if self._val_trials is None:
            raise ZooError(f"the validation split has fewer than {config.val_ways} classes; lower --val-ways or hold out more groups.")

    def steps_per_epoch(self) -> int:
        return max(1, self.config.steps_per_epoch // self.world()[1])

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        cfg = self.config
        rank = self.trainer.global_rank
        gen = np.random.default_rng([cfg.seed, self.global_step, rank])
        left, right, labels = sample_pairs(self.data, self.data.split_classes["train"], cfg.batch_size, gen, cfg.same_alphabet_negatives)
        xl, xr = self.data.images[left], self.data.images[right]
        if cfg.augment:
            tgen = step_generator(cfg.seed, self.global_step, rank)
            xl, xr = random_affine(xl, tgen), random_affine(xr, tgen)
        y = torch.from_numpy(labels)
        logits = self.model.logits(xl.to(self.device), xr.to(self.device)).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(logits, y.to(self.device))
        acc = ((logits > 0).float() == y.to(self.device)).float().mean()
        self.log("train/loss", loss, prog_bar=True, batch_size=cfg.batch_size)
        self.log("train/pair_acc", acc, batch_size=cfg.batch_size)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images = self.data.images.numpy()
        predict = _module_predict(self.model, self.device)
        acc = n_way_accuracy(predict, images, self._val_trials)
        self.log("val/acc", acc, prog_bar=True, batch_size=1)


def _module_predict(model: nn.Module, device: torch.device) -> Predict:
    def predict(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        outs = []
        with torch.no_grad():
            for s in range(0, len(inputs["left"]), 2048):
                l = torch.from_numpy(inputs["left"][s:s + 2048]).to(device)  # noqa: E741
                r = torch.from_numpy(inputs["right"][s:s + 2048]).to(device)
                outs.append(model.logits(l, r).float().cpu().numpy())
        return [np.concatenate(outs)]
    return predict


@register
class Siamese(ZooModel):
    card = CARD
    Config = SiameseConfig
    config: SiameseConfig

    def build_model(self) -> SiameseNet:
        torch.manual_seed(self.config.seed)
        return SiameseNet(self.config)

    def inputs(self) -> list[TensorSpec]:
        s = self.config.image_size
        return [TensorSpec(n, ("batch", 1, s, s), description=f"{n} image: grayscale, {s}x{s}, values in [0, 1], ink = 1")
                for n in ("left", "right")]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("same", ("batch", 1), meaning="probability", description="probability that left and right show the same class")]

    def preprocessing(self) -> Preprocessing:
        s = self.config.image_size
        return Preprocessing(kind="image", size=(s, s), color="L", scale=1 / 255, invert=True, layout="NCHW",
                             notes="grayscale, resize (bilinear), x = 1 - pixel/255 so ink is 1 and paper is 0")

    def load_data(self) -> PairData:
        from zoo import data as datasets

        s = self.config.image_size
        ds = datasets.load(self.config.data or self.default_data, data_dir=self.config.data_dir, size=(s, s), color="L")
        if not hasattr(ds, "images"):
            raise ZooError(f"siamese needs an image data set; '{self.config.data}' is {type(ds).__name__}.")
        groups = ds.groups or [""] * ds.num_classes
        splits = split_classes(groups, ds.split_hint, self.config)
        check_ways(self.config, {k: len(v) for k, v in splits.items()})
        by_class = {c: np.flatnonzero(ds.targets == c) for c in range(ds.num_classes)}
        thin = [ds.classes[c] for c, idx in by_class.items() if len(idx) < 2]
        if thin:
            raise ZooError(f"class '{thin[0]}' has fewer than 2 images; one-shot pairs need at least 2 per class.")
        return PairData(torch.from_numpy(to_model_input(ds.images)), ds.targets, ds.classes, groups, splits, by_class)

    def training_module(self, model: nn.Module) -> SiameseTask:
        return SiameseTask(model, self.data, self.config)

    def fit(self, run: Any) -> nn.Module:
        from zoo import io as zio

        if run.dir.exists():
            zio.write_json(run.dir / "splits.json", self.data.splits_summary())
        return super().fit(run)

    def evaluate(self, predict: Predict) -> dict[str, float]:
        from sklearn.metrics import roc_auc_score

        data, cfg = self.data, self.config
        images = data.images.numpy()
        test = data.split_classes["test"]
        metrics: dict[str, float] = {}
        for ways in cfg.eval_ways:
            trials = one_shot_trials(data, test, ways, cfg.eval_trials, cfg.seed + 2)
            if trials is None:
                continue
            acc = n_way_accuracy(predict, images, trials)
            metrics[f"test/{ways}way_acc"] = acc
            metrics[f"test/{ways}way_ci95"] = ci95(acc, len(trials))
            metrics[f"test/{ways}way_trials"] = float(len(trials))
        gen = np.random.default_rng([cfg.seed, 99])
        left, right, labels = sample_pairs(data, test, 2000, gen, cfg.same_alphabet_negatives)
        scores = predict({"left": images[left], "right": images[right]})[0].reshape(-1)
        metrics["test/pair_auc"] = float(roc_auc_score(labels, scores))
        return metrics

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        gen = np.random.default_rng([self.config.seed, 5, n])
        left, right, _ = sample_pairs(self.data, self.data.split_classes[split], max(n, 2), gen, 0.5)
        order = gen.permutation(len(left))[:n]  # mix same and different pairs
        images = self.data.images.numpy()
        return {"left": images[left[order]], "right": images[right[order]]}

    def demo(self) -> DemoHook | None:
        return DemoHook(kind="image-pair", title="Siamese one-shot",
                        description="Same character? Compare two drawings, or classify a query against one example per class.")
