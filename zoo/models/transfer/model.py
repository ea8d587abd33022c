"""Transfer learning with layer freezing over the zoo's backbones.

The network is the backbone's ordered stages, a global pool and a new head. Freezing is real: frozen
stages' parameters have ``requires_grad=False`` (no gradient, not in the optimiser) and their
BatchNorm layers stay in eval mode, so their running statistics do not move. Gradual unfreezing is a
Lightning ``BaseFinetuning`` callback; discriminative learning rates are optimiser parameter groups.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn

from zoo.backbones import BACKBONES
from zoo.backbones.build import build_parts
from zoo.errors import ZooError
from zoo.models.transfer import CARD
from zoo.models.transfer.config import TransferConfig
from zoo.registry import ExportSpec, register
from zoo.tasks.image_classification import ClassifierStage, ImageClassificationTask


class TransferNet(nn.Module):
    """forward(image) -> logits. ``stages`` (stem first) are what freezing acts on; ``head`` is new."""

    def __init__(self, config: TransferConfig, num_classes: int, in_channels: int) -> None:
        super().__init__()
        parts = build_parts(config.backbone, in_channels=in_channels, pretrained=config.pretrained)
        self.stage_names = [name for name, _ in parts.stages]
        self.stages = nn.ModuleList([module for _, module in parts.stages])
        self.single_logit = config.binary_single_logit
        if self.single_logit and num_classes != 2:
            raise ZooError(f"--binary-single-logit needs 2 classes; the data has {num_classes}. Drop the option.")
        outputs = 1 if self.single_logit else num_classes
        if config.head == "original":
            self.pool = parts.top
            layers: list[nn.Module] = [nn.Dropout(config.dropout)] if config.dropout else []
            self.head = nn.Sequential(*layers, nn.Linear(parts.top_features, outputs))
        else:
            self.pool = parts.pool
            widths = [parts.features, *(config.head_hidden if config.head == "mlp" else [])]
            layers = []
            for a, b in zip(widths, widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU(inplace=True)] + ([nn.Dropout(config.dropout)] if config.dropout else [])
            if config.dropout and config.head == "linear":
                layers.append(nn.Dropout(config.dropout))
            self.head = nn.Sequential(*layers, nn.Linear(widths[-1], outputs))

    def features(self, image: torch.Tensor) -> torch.Tensor:
        x = image
        for stage in self.stages:
            x = stage(x)
        return self.pool(x)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.features(image))
        if self.single_logit:  # one sigmoid unit z == softmax over [0, z]
            logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
        return logits

    def freeze(self, first: int) -> None:
        """Freeze the first ``first`` stages (and unfreeze the rest)."""
        for i, stage in enumerate(self.stages):
            for p in stage.parameters():
                p.requires_grad_(i >= first)
        self.train(self.training)

    def frozen(self, index: int) -> bool:
        params = list(self.stages[index].parameters())
        return bool(params) and not any(p.requires_grad for p in params)

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        for i, stage in enumerate(self.stages):
            if mode and self.frozen(i):
                stage.eval()  # BatchNorm statistics of a frozen stage must not move
        return self


class GradualUnfreezing(BaseFinetuning):
    """Starts with every stage frozen; every ``every`` epochs unfreezes the next stage from the top,
    adding it to the optimiser at ``lr * decay**depth`` (Lightning's BaseFinetuning does the bookkeeping)."""

    def __init__(self, every: int, lr: float, decay: float) -> None:
        super().__init__()
        self.every, self.lr, self.decay = every, lr, decay

    def freeze_before_training(self, pl_module: Any) -> None:
        self.freeze(list(pl_module.model.stages), train_bn=False)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Any) -> None:
        stages = pl_module.model.stages
        if epoch == 0 or epoch % self.every:
            return
        depth = epoch // self.every - 1  # 0 = the top stage
        if depth < len(stages):
            index = len(stages) - 1 - depth
            self.unfreeze_and_add_param_group(stages[index], optimizer, lr=self.lr * self.decay ** (depth + 1), train_bn=True)
            pl_module.model.train(pl_module.model.training)
            extend_schedules(pl_module.trainer, optimizer)


def extend_schedules(trainer: Any, optimizer: Any) -> None:
    """Give a parameter group added mid-training the same schedule as the first group (torch's schedulers
    keep one entry per group, fixed when they are built)."""
    group = optimizer.param_groups[-1]
    group.setdefault("initial_lr", group["lr"])
    for config in trainer.lr_scheduler_configs:
        scheduler = config.scheduler
        if hasattr(scheduler, "lr_lambdas") and len(scheduler.lr_lambdas) < len(optimizer.param_groups):
            scheduler.lr_lambdas.append(scheduler.lr_lambdas[0])
        if hasattr(scheduler, "base_lrs") and len(scheduler.base_lrs) < len(optimizer.param_groups):
            scheduler.base_lrs.append(group["initial_lr"])
        if hasattr(scheduler, "min_lrs") and len(scheduler.min_lrs) < len(optimizer.param_groups):
            scheduler.min_lrs.append(scheduler.min_lrs[0])
        if hasattr(scheduler, "_last_lr") and len(scheduler._last_lr) < len(optimizer.param_groups):
            scheduler._last_lr.append(group["lr"])


class TransferStage(ClassifierStage):
    """The classifier stage with freezing, discriminative learning rates and gradual unfreezing."""

    model: TransferNet

    def __init__(self, model: TransferNet, data: Any, config: TransferConfig) -> None:
        super().__init__(model, data, config)
        n = len(model.stages)
        if config.freeze == "first-k" and config.freeze_stages > n:
            raise ZooError(f"--freeze-stages {config.freeze_stages} exceeds the {n} stages of {config.backbone} "
                           f"({', '.join(model.stage_names)}); pick 0 to {n}.")
        first = {"none": 0, "all": n, "first-k": config.freeze_stages, "gradual": n}[config.freeze]
        model.freeze(first)

    def configure_callbacks(self) -> list[Any]:
        if self.config.freeze == "gradual":
            return [GradualUnfreezing(self.config.unfreeze_every, self.config.lr, self.config.lr_decay)]
        return []

    def param_groups(self) -> list[dict[str, Any]] | None:
        cfg, model = self.config, self.model
        groups = [{"params": [p for p in model.head.parameters() if p.requires_grad] +
                   [p for p in model.pool.parameters() if p.requires_grad], "lr": cfg.lr}]
        for depth, stage in enumerate(reversed(model.stages)):
            params = [p for p in stage.parameters() if p.requires_grad]
            if params:
                groups.append({"params": params, "lr": cfg.lr * cfg.lr_decay ** (depth + 1)})
        return groups


@register
class Transfer(ImageClassificationTask):
    card = CARD
    Config = TransferConfig
    config: TransferConfig

    def build_network(self, num_classes: int, in_channels: int) -> TransferNet:
        return TransferNet(self.config, num_classes, in_channels)

    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        info = BACKBONES.get(self.config.backbone)
        if info is None or info.family == "zoo" or self.config.pretrained == "none":
            return super().mean_std()
        if self.in_channels() == 1:  # summed RGB kernels see grey as R = G = B
            return (sum(info.mean) / 3,), (sum(info.std) / 3,)
        return info.mean, info.std

    def training_module(self, model: torch.nn.Module) -> TransferStage:
        return self.with_teacher(TransferStage(model, self.data, self.config))  # type: ignore[arg-type]

    def export_spec(self) -> ExportSpec:
        return ExportSpec(atol=1e-4)

    # -- --init-from another zoo artifact's backbone ------------------------------------------------
    def backbone_weights(self, state: dict[str, torch.Tensor]) -> tuple[str, dict[str, torch.Tensor]] | None:
        return self.config.backbone, {k: v for k, v in state.items() if k.startswith("stages.")}

    def init_state(self, source: Any) -> dict[str, torch.Tensor]:
        held = source.spec.backbone_weights(source.state_dict())
        if held is None:
            raise ZooError(f"--init-from {self.config.init_from} is a '{source.spec.name}' model, which holds no zoo backbone; "
                           "use a transfer run or a pretext run (rotnet, ...) made with a --backbone.")
        name, weights = held
        if name != self.config.backbone:
            raise ZooError(f"--init-from {self.config.init_from} holds a {name} backbone, not {self.config.backbone}; "
                           f"pass --backbone {name}.")
        return weights
