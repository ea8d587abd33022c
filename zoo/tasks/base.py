"""The Lightning plumbing every zoo training stage shares."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn

from zoo.engine import StepLoader, configure_optimizer, epoch_batches


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Total, trainable and frozen parameters, plus BatchNorm running statistics (which Keras counts
    as non-trainable parameters), of ``model`` as it is now."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return {"total": total, "trainable": trainable, "frozen": total - trainable, "bn_statistics": stats}


class StepModule(L.LightningModule):
    """A training stage whose batches are a pure function of ``(seed, global step, rank)``.

    Subclasses set ``monitor``/``monitor_mode``, implement ``steps_per_epoch``, ``training_step`` and
    ``validation_step`` (one validation 'batch': the module evaluates its whole validation split),
    and may override ``param_groups`` (e.g. discriminative learning rates)."""

    monitor = "val/acc"
    monitor_mode = "max"

    def __init__(self, model: nn.Module, config: Any) -> None:
        super().__init__()
        self.model, self.config = model, config
        self.parameter_summary: dict[str, int] = {}

    def world(self) -> tuple[int, int]:
        """(rank, world size) of this process."""
        return self.trainer.global_rank, max(1, self.trainer.world_size)

    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def batch_positions(self, n_rows: int, step: int | None = None) -> tuple[int, Any]:
        """(epoch, positions among ``n_rows`` training rows) of the batch of ``step`` (default: the global
        step): a pure function of (seed, step, rank), which is what makes resume exact."""
        step = self.global_step if step is None else step
        rank, world = self.world()
        epoch, position = divmod(step, self.steps_per_epoch())
        batches = epoch_batches(n_rows, self.config.batch_size, self.config.seed, epoch, rank, world)
        return epoch, batches[position % len(batches)]

    def rows_steps(self, rows: int) -> int:
        """Steps per epoch when rank 0 (the rank with most rows) takes ``rows / world`` rows in batches."""
        _, world = self.world()
        return max(1, math.ceil(math.ceil(rows / world) / self.config.batch_size))

    def train_dataloader(self) -> StepLoader:
        return StepLoader(self.steps_per_epoch())

    def val_dataloader(self) -> list[int]:
        return [0]

    def param_groups(self) -> list[dict[str, Any]] | None:
        """Optimiser parameter groups (``{"params": [...], "lr": ...}``); None: one group of every trainable parameter."""
        return None

    def on_fit_start(self) -> None:
        self.parameter_summary = parameter_counts(self.model)
        if self.trainer.is_global_zero:
            from rich.console import Console

            c = self.parameter_summary
            Console(stderr=True).print(f"parameters: {c['total']:,} total, {c['trainable']:,} trainable, {c['frozen']:,} frozen "
                                       f"(+{c['bn_statistics']:,} BatchNorm statistics)", highlight=False)

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimizer(self, self.config, self.monitor, self.monitor_mode, groups=self.param_groups())


def predict_in_chunks(model: nn.Module, x: torch.Tensor, device: torch.device | str, chunk: int = 512) -> torch.Tensor:
    """``model(x)`` in eval-free chunks without gradients (the caller sets the mode)."""
    with torch.no_grad():
        return torch.cat([model(part.to(device)).float().cpu() for part in x.split(chunk)])
