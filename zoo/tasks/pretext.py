"""Self-supervised pretext tasks on unlabelled images: the shared network, stage and evaluation.

A pretext model subclasses :class:`PretextTask` and gives ``pretext_labels`` and ``pretext_batch``
(images -> transformed images and pretext targets, drawn from a generator). The network is a zoo
backbone's ``stages`` + ``pool`` (the encoder, exported as its own graph and offered to
``zoo train transfer --init-from``) and a linear pretext head. The data set's own labels are never used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.backbones.build import build_parts
from zoo.engine import step_generator
from zoo.registry import DemoHook, ExportSpec, GraphSpec, Predict, TensorSpec
from zoo.tasks.base import predict_in_chunks
from zoo.tasks.image_classification import ClassifierStage, ImageClassificationTask, augment_batch

EVAL_SEED = 1234  # the fixed pretext draw of validation and test images


class Encoder(nn.Module):
    """forward(image) -> pooled features: the backbone stages and pool of a :class:`PretextNet`."""

    def __init__(self, stages: nn.ModuleList, pool: nn.Module) -> None:
        super().__init__()
        self.stages, self.pool = stages, pool

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image
        for stage in self.stages:
            x = stage(x)
        return self.pool(x)


class PretextNet(nn.Module):
    """forward(image) -> pretext logits. Keys ``stages.*`` are the backbone (what transfer loads)."""

    def __init__(self, backbone: str, pretrained: str, in_channels: int, outputs: int) -> None:
        super().__init__()
        parts = build_parts(backbone, in_channels=in_channels, pretrained=pretrained)
        self.stage_names = [name for name, _ in parts.stages]
        self.stages = nn.ModuleList([module for _, module in parts.stages])
        self.pool = parts.pool
        self.features_dim = parts.features
        self.head = nn.Linear(parts.features, outputs)

    @property
    def encoder(self) -> Encoder:
        """The encoder as a module of its own (shares this network's parameters; not a registered child,
        so the state dict keeps one copy)."""
        return Encoder(self.stages, self.pool).train(self.training)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(Encoder.forward(self, image))  # type: ignore[arg-type]


class PretextStage(ClassifierStage):
    """Cross-entropy on the pretext targets of step-seeded transforms of epoch-shuffled images."""

    def __init__(self, model: nn.Module, task: "PretextTask") -> None:
        super().__init__(model, task.data, task.config)
        self.task = task
        rows = self.data.splits["val"] if len(self.data.splits["val"]) else self.train_rows
        self.val_x, self.val_y = task.pretext_batch(self.data.images[rows], torch.Generator().manual_seed(EVAL_SEED))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        cfg = self.config
        rank, _ = self.world()
        picked = self.train_rows[self.batch_positions(len(self.train_rows))[1]]
        gen = step_generator(cfg.seed, self.global_step, rank)
        x = self.data.images[picked]
        if cfg.augment:
            x = augment_batch(x, gen, cfg.augment_flip, 0.1)
        x, y = self.task.pretext_batch(x, gen)
        logits = self.model(x.to(self.device))
        loss = F.cross_entropy(logits.float(), y.to(self.device))
        self.log("train/loss", loss, prog_bar=True, batch_size=len(picked))
        self.log("train/acc", (logits.argmax(1).cpu() == y).float().mean(), batch_size=len(picked))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        logits = predict_in_chunks(self.model, self.val_x, self.device)
        self.log("val/loss", F.cross_entropy(logits, self.val_y), batch_size=len(self.val_y))
        self.log("val/acc", (logits.argmax(1) == self.val_y).float().mean(), prog_bar=True, batch_size=len(self.val_y))


class PretextTask(ImageClassificationTask):
    """Base of pretext models: the outputs are pretext classes, not the data set's classes."""

    def pretext_labels(self) -> list[str]:
        raise NotImplementedError

    def pretext_batch(self, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(transformed images, int64 pretext targets) for preprocessed ``images``, drawn from ``gen``."""
        raise NotImplementedError

    def num_classes(self) -> int:
        return len(self.pretext_labels())

    def labels(self) -> list[str]:
        return self.pretext_labels()

    def build_model(self) -> PretextNet:
        self.data  # noqa: B018  (loading fills in_channels)
        torch.manual_seed(self.config.seed)
        return PretextNet(self.config.backbone, self.config.pretrained, self.in_channels(), self.num_classes())

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("logits", ("batch", self.num_classes()), meaning="logits",
                           description=f"pretext scores over {', '.join(self.pretext_labels())}")]

    def training_module(self, model: nn.Module) -> PretextStage:
        return PretextStage(model, self)

    def evaluate(self, predict: Predict) -> dict[str, float]:
        rows = self.data.splits["test"]
        x, y = self.pretext_batch(self.data.images[rows], torch.Generator().manual_seed(EVAL_SEED))
        logits = np.concatenate([predict({"image": x[i:i + 256].numpy()})[0] for i in range(0, len(x), 256)])
        self._last_test = None
        return {"test/pretext_acc": float(np.mean(logits.argmax(1) == y.numpy())), "test/images": float(len(rows))}

    def write_extras(self, run_dir: Any, model: nn.Module, metrics: dict[str, float]) -> None:
        from zoo import io as zio

        zio.write_json(run_dir / "splits.json", self.data.summary())

    def export_spec(self) -> ExportSpec:
        """The whole pretext network, plus the encoder (backbone + pool) as its own graph."""
        width = build_parts(self.config.backbone, in_channels=self.in_channels(), pretrained="none").features
        features = TensorSpec("features", ("batch", width),
                              description="pooled encoder features (what a transfer-learned model starts from)")
        encoder = GraphSpec("encoder", module="encoder", inputs=(self.inputs()[0],), outputs=(features,))
        return ExportSpec(graphs=(GraphSpec("model"), encoder), atol=1e-4)

    def backbone_weights(self, state: dict[str, torch.Tensor]) -> tuple[str, dict[str, torch.Tensor]] | None:
        return self.config.backbone, {k: v for k, v in state.items() if k.startswith("stages.")}

    def demo(self) -> DemoHook | None:
        return DemoHook(kind="image-classifier", title=f"{self.name}: {self.card.task}",
                        description="Upload an image: the network's pretext prediction (top classes with probabilities).")
