"""CapsNet (Sabour, Frosst & Hinton 2017) on the image-classification task.

A 9x9 ReLU convolution, primary capsules (a 9x9 stride-2 convolution cut into ``primary_dim``-vectors,
squashed), and one class capsule per class computed by routing by agreement. The routing iterations
are unrolled in ``forward`` (a Python loop over a fixed count), so the graph is plain Softmax, Mul,
ReduceSum and MatMul nodes that ONNX, onnx2torch and our Keras converter all read. The class
capsules' lengths are the exported class scores (meaning ``probabilities``: each is the probability
that its class is present; they need not sum to one). A decoder reconstructs the input from the class
capsules with all but one masked: the true class while training, the longest capsule at inference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError
from zoo.models.capsnet import CARD
from zoo.models.capsnet.config import KERNEL, CapsNetConfig, primary_grid
from zoo.registry import DemoHook, ExportSpec, TensorSpec, register
from zoo.tasks.image_classification import ClassifierStage, ImageClassificationTask

EPS = 1e-8


def squash(s: torch.Tensor) -> torch.Tensor:
    """v = |s|^2 / (1 + |s|^2) * s / |s| along the last axis: short vectors shrink to ~0, long ones to just under 1."""
    norm2 = (s * s).sum(-1, keepdim=True)
    return s * (norm2 / (1 + norm2)) / torch.sqrt(norm2 + EPS)


def capsule_lengths(v: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((v * v).sum(-1) + EPS)


class CapsuleNet(nn.Module):
    """forward(image[, target]) -> (class capsule lengths (B, J), reconstruction (B, C, S, S) in [0, 1])."""

    def __init__(self, config: CapsNetConfig, num_classes: int, in_channels: int,
                 mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        grid = primary_grid(config.image_size)
        self.image_shape = (in_channels, config.image_size, config.image_size)
        self.primary_types, self.primary_dim = config.primary_types, config.primary_dim
        self.num_classes, self.class_dim = num_classes, config.class_dim
        self.iterations = config.routing_iterations
        self.conv = nn.Conv2d(in_channels, config.conv_channels, KERNEL)
        self.primary = nn.Conv2d(config.conv_channels, config.primary_types * config.primary_dim, KERNEL, stride=2)
        self.inputs_count = config.primary_types * grid * grid
        # W_ij: one (primary_dim -> class_dim) map per (primary capsule i, class j), stored as (i, primary_dim, j*class_dim)
        # scaled so that the first iteration's sum over inputs (coupling 1/J) starts near unit length, where squash has slope
        scale = num_classes / float(np.sqrt(self.inputs_count * config.class_dim))
        self.weight = nn.Parameter(scale * torch.randn(self.inputs_count, config.primary_dim, num_classes * config.class_dim))
        widths = [num_classes * config.class_dim, *config.decoder_hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        self.decoder = nn.Sequential(*layers, nn.Linear(widths[-1], int(np.prod(self.image_shape))), nn.Sigmoid())
        self.register_buffer("pixel_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def primary_capsules(self, image: torch.Tensor) -> torch.Tensor:
        """(B, primary_types * grid * grid, primary_dim), squashed."""
        x = self.primary(F.relu(self.conv(image)))
        b, _, h, w = x.shape
        x = x.view(b, self.primary_types, self.primary_dim, h, w).permute(0, 1, 3, 4, 2)
        return squash(x.reshape(b, self.inputs_count, self.primary_dim))

    def class_capsules(self, u: torch.Tensor) -> torch.Tensor:
        """Routing by agreement, unrolled: (B, inputs, primary_dim) -> (B, classes, class_dim).

        Predictions are kept as (B, classes, inputs, class_dim), so that agreement and the weighted sums over
        inputs are batched MatMuls rather than broadcast products (several times faster on a CPU)."""
        j, e, n = self.num_classes, self.class_dim, self.inputs_count
        # one (batch x primary_dim) @ (primary_dim x J*E) product per input capsule: a single batched MatMul
        u_hat = torch.matmul(u.transpose(0, 1), self.weight).reshape(n, -1, j, e).permute(1, 2, 0, 3)
        v = squash(u_hat.sum(2) / j)  # first iteration: logits b = 0, so coupling c = 1/J everywhere
        logits: torch.Tensor | None = None
        for _ in range(self.iterations - 1):
            agreement = torch.matmul(u_hat, v.unsqueeze(-1))  # (B, J, inputs, 1): u_hat_j|i . v_j
            logits = agreement if logits is None else logits + agreement
            coupling = torch.softmax(logits, dim=1)  # over the classes
            v = squash(torch.matmul(coupling.transpose(2, 3), u_hat).squeeze(2))  # (B, J, 1, E) -> (B, J, E)
        return v

    def reconstruct(self, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        flat = (v * mask.unsqueeze(-1)).flatten(1)
        return self.decoder(flat).view(-1, *self.image_shape)

    def forward(self, image: torch.Tensor, target: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.class_capsules(self.primary_capsules(image))
        lengths = capsule_lengths(v)
        if target is None:  # the longest capsule (Equal + Cast: exports where a one-hot of ArgMax would not)
            mask = (lengths == lengths.max(dim=1, keepdim=True).values).to(v.dtype)
        else:
            mask = F.one_hot(target, self.num_classes).to(v.dtype)
        return lengths, self.reconstruct(v, mask)

    def pixels(self, image: torch.Tensor) -> torch.Tensor:
        """The [0, 1] pixels the decoder should reproduce (the input before normalisation)."""
        return image * self.pixel_std + self.pixel_mean


def margin_loss(lengths: torch.Tensor, targets: torch.Tensor, m_plus: float, m_minus: float, lam: float) -> torch.Tensor:
    """Sum over classes of T max(0, m+ - |v|)^2 + lambda (1 - T) max(0, |v| - m-)^2, mean over the batch."""
    present = F.one_hot(targets, lengths.shape[1]).to(lengths.dtype)
    loss = present * F.relu(m_plus - lengths) ** 2 + lam * (1 - present) * F.relu(lengths - m_minus) ** 2
    return loss.sum(1).mean()


def reconstruction_loss(reconstruction: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Summed squared error per image, mean over the batch (the paper scales it by 0.0005)."""
    return ((reconstruction - pixels) ** 2).flatten(1).sum(1).mean()


class CapsuleStage(ClassifierStage):
    """Margin loss plus the scaled reconstruction loss of the true class' capsule; validation accuracy of the lengths."""

    model: CapsuleNet

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        lengths, reconstruction = self.model(x, y)
        margin = margin_loss(lengths.float(), y, cfg.m_plus, cfg.m_minus, cfg.margin_lambda)
        recon = reconstruction_loss(reconstruction.float(), self.model.pixels(x).float())
        return lengths, margin, recon

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        cfg = self.config
        x, y = self.train_batch()
        lengths, margin, recon = self.losses(x, y)
        loss = margin + cfg.reconstruction_weight * recon
        n = len(y)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/margin_loss", margin, batch_size=n)
        self.log("train/reconstruction_loss", recon, batch_size=n)
        self.log("train/acc", (lengths.argmax(1) == y).float().mean(), batch_size=n)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        cfg = self.config
        rows = self.data.splits["val"] if len(self.data.splits["val"]) else self.train_rows
        with torch.no_grad():
            parts = [self.losses(self.data.images[rows[i:i + 512]].to(self.device),
                                 torch.from_numpy(self.data.targets[rows[i:i + 512]]).to(self.device))
                     for i in range(0, len(rows), 512)]
        lengths = torch.cat([p[0].float().cpu() for p in parts])
        weights = [len(rows[i:i + 512]) / len(rows) for i in range(0, len(rows), 512)]
        margin = sum(w * p[1].float().cpu() for w, p in zip(weights, parts))
        recon = sum(w * p[2].float().cpu() for w, p in zip(weights, parts))
        y = torch.from_numpy(self.data.targets[rows])
        self.log("val/loss", margin + cfg.reconstruction_weight * recon, batch_size=len(rows))
        self.log("val/reconstruction_loss", recon, batch_size=len(rows))
        self.log("val/acc", (lengths.argmax(1) == y).float().mean(), prog_bar=True, batch_size=len(rows))


@register
class CapsNet(ImageClassificationTask):
    card = CARD
    Config = CapsNetConfig
    config: CapsNetConfig

    def build_network(self, num_classes: int, in_channels: int) -> CapsuleNet:
        mean, std = self.mean_std()
        return CapsuleNet(self.config, num_classes, in_channels, mean, std)

    def outputs(self) -> list[TensorSpec]:
        c, s = self.in_channels(), self.config.image_size
        return [TensorSpec("capsule_lengths", ("batch", self.num_classes()), meaning="probabilities",
                           description="length of each class capsule in labels() order: the probability that the class is present"),
                TensorSpec("reconstruction", ("batch", c, s, s), meaning="image",
                           description="the input redrawn by the decoder from the longest class capsule, pixels in [0, 1]")]

    def check_sources(self) -> None:
        if self.config.teacher:
            raise ZooError("capsnet does not learn from a --teacher (its scores are capsule lengths, not logits); drop --teacher.")

    def training_module(self, model: nn.Module) -> CapsuleStage:
        self.check_sources()
        return CapsuleStage(model, self.data, self.config)

    def export_spec(self) -> ExportSpec:
        return ExportSpec(atol=1e-4)

    def demo(self) -> DemoHook | None:
        return DemoHook(kind="image-classifier", title="capsnet: capsule classifier",
                        description="Upload or draw an image: the class capsules' lengths (longest first) and the "
                                    "decoder's reconstruction from the longest capsule.",
                        extra={"scores_label": "class capsule lengths"})
