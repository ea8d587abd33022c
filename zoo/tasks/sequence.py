"""Sequence tasks: recurrent networks over right-padded token ids and over windows of a numeric series.

**Padding, the same in every runtime.** Token inputs are int64 ids of shape (batch, time), right-padded
with id 0. The network derives each row's length *inside the graph* from ``ids != 0`` and never lets a
pad reach a real position's state:

* the forward direction runs over the padded row; its output at the last real step (picked with a
  one-hot mask, no data-dependent indexing) depends only on the real tokens before it;
* the backward direction runs over the row *reversed within its length* (a per-row permutation matrix
  built from the length: real tokens reversed, pads left at the end), so it too reads pads only after
  the real tokens; its outputs are permuted back before the next layer.

So appending pads never changes a prediction (tested), and the exported graph needs only standard
LSTM/GRU ops run forward, plus MatMul/Where/Range: no packed sequences and no ``sequence_lens`` input,
which runtimes and converters treat differently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.tasks.base import StepModule

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def length_masks(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(reversal permutation (B, T, T), one-hot of the last real step (B, T, 1)) for right-padded ``ids``."""
    lengths = (ids != 0).sum(dim=1, keepdim=True).clamp(min=1)  # an all-pad row reads as length 1
    positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
    reversed_positions = torch.where(positions < lengths, lengths - 1 - positions, positions)
    permutation = (reversed_positions[:, :, None] == positions[:, None, :]).float()
    last = (positions == lengths - 1).float()[:, :, None]
    return permutation, last


class MaskedRecurrent(nn.Module):
    """A stack of (bi)directional LSTM/GRU layers over right-padded sequences (see module docstring).

    forward(x (B, T, E), permutation, last) -> (B, H * directions): the forward state at each row's last
    real step, concatenated with the backward state after reading the row from its last real step back."""

    def __init__(self, input_size: int, hidden: int, layers: int, cell: str, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        rnn = CELLS[cell]
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList()
        width = input_size
        for _ in range(layers):
            self.forward_layers.append(rnn(width, hidden, batch_first=True))
            if bidirectional:
                self.backward_layers.append(rnn(width, hidden, batch_first=True))
            width = hidden * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.hidden = hidden
        self.out_features = width

    def forward(self, x: torch.Tensor, permutation: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        for i, forward_rnn in enumerate(self.forward_layers):
            if i:
                x = self.dropout(x)
            ahead, _ = forward_rnn(x)
            if self.backward_layers:
                back, _ = self.backward_layers[i](permutation @ x)
                x = torch.cat([ahead, permutation @ back], dim=-1)  # the permutation is its own inverse
            else:
                x = ahead
        if not self.backward_layers:
            return (x * last).sum(dim=1)
        # forward half at the last real step; backward half at position 0 (it has read the whole row)
        return torch.cat([(x[..., : self.hidden] * last).sum(dim=1), x[:, 0, self.hidden:]], dim=-1)


class TextRNNNet(nn.Module):
    """forward(tokens (B, T) int64, right-padded with 0) -> class probabilities (B, K)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, layers: int, cell: str, bidirectional: bool,
                 dropout: float, num_classes: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.recurrent = MaskedRecurrent(embed_dim, hidden, layers, cell, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.recurrent.out_features, num_classes)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        permutation, last = length_masks(tokens)
        return self.head(self.dropout(self.recurrent(self.embedding(tokens), permutation, last)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(tokens), dim=-1)


def trim_padding(ids: np.ndarray) -> np.ndarray:
    """Drop the columns that are padding in every row (faster batches; predictions are unchanged)."""
    used = int((ids != 0).sum(axis=1).max(initial=1))
    return ids[:, :max(1, used)]


class TextClassificationModule(StepModule):
    """Mini-batches of padded ids, cross-entropy; selects on validation accuracy."""

    def __init__(self, model: TextRNNNet, ids: np.ndarray, labels: np.ndarray, splits: dict[str, np.ndarray], config: Any) -> None:
        super().__init__(model, config)
        self.ids, self.labels = ids, labels
        self.train_rows, self.val_rows = splits["train"], splits["val"]

    def steps_per_epoch(self) -> int:
        return self.rows_steps(len(self.train_rows))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        rows = self.train_rows[self.batch_positions(len(self.train_rows))[1]]
        x = torch.from_numpy(trim_padding(self.ids[rows])).to(self.device)
        y = torch.from_numpy(self.labels[rows]).to(self.device)
        loss = F.cross_entropy(self.model.logits(x), y)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(rows))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        correct, total, loss = 0.0, 0, 0.0
        for part in np.array_split(self.val_rows, max(1, len(self.val_rows) // 512)):
            x = torch.from_numpy(trim_padding(self.ids[part])).to(self.device)
            y = torch.from_numpy(self.labels[part]).to(self.device)
            z = self.model.logits(x)
            loss += float(F.cross_entropy(z, y, reduction="sum"))
            correct += float((z.argmax(1) == y).sum())
            total += len(part)
        self.log("val/acc", correct / total, prog_bar=True, batch_size=total)
        self.log("val/loss", loss / total, batch_size=total)


# -- forecasting -------------------------------------------------------------------------------------------

class ForecastGRUNet(nn.Module):
    """forward(series (B, T, 1) raw values, oldest first) -> forecast (B, 1) in the series' units.

    The series is standardised with the training split's mean/std (buffers); a GRU reads it and a linear
    head predicts the change from the last value, so the untrained network starts as the naive forecast.
    ``recurrent_dropout`` drops recurrent (hidden-to-hidden) weights while training (DropConnect, as in
    AWD-LSTM); the exported graph is the plain GRU."""

    def __init__(self, hidden: int, layers: int, dropout: float, recurrent_dropout: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(1))
        self.register_buffer("std", torch.ones(1))
        self.gru = nn.GRU(1, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.recurrent_dropout = recurrent_dropout
        self.head = nn.Linear(hidden, 1)

    def forward(self, series: torch.Tensor) -> torch.Tensor:
        x = (series - self.mean) / self.std
        if self.training and self.recurrent_dropout > 0:
            weights = {name: F.dropout(p, self.recurrent_dropout, True) if name.startswith("weight_hh") else p
                       for name, p in self.gru.named_parameters()}
            _, state = torch.func.functional_call(self.gru, weights, (x,))
        else:
            _, state = self.gru(x)
        return series[:, -1, :] + self.head(state[-1]) * self.std


class ForecastModule(StepModule):
    """Mini-batches of windows, MSE on standardised values; selects on validation MAE."""

    monitor = "val/mae"
    monitor_mode = "min"

    def __init__(self, model: ForecastGRUNet, windows: Any, config: Any) -> None:
        super().__init__(model, config)
        self.windows = windows

    def steps_per_epoch(self) -> int:
        return self.rows_steps(len(self.windows.splits["train"]))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        train = self.windows.splits["train"]
        x, y = self.windows.take(train[self.batch_positions(len(train))[1]])
        pred = self.model(torch.from_numpy(x).to(self.device))
        loss = F.mse_loss(pred / self.model.std, torch.from_numpy(y).to(self.device) / self.model.std)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(y))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = self.windows.take(self.windows.splits["val"])
        pred = torch.cat([self.model(torch.from_numpy(part).to(self.device)).cpu() for part in np.array_split(x, max(1, len(x) // 1024))])
        self.log("val/mae", float((pred - torch.from_numpy(y)).abs().mean()), prog_bar=True, batch_size=len(y))
