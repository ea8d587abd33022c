"""Noise-level pretext task: classify which of ``--noise-levels`` was added to an image."""

from __future__ import annotations

import torch

from zoo.models.noise_level import CARD
from zoo.models.noise_level.config import NoiseLevelConfig
from zoo.registry import register
from zoo.tasks.pretext import PretextTask


@register
class NoiseLevel(PretextTask):
    card = CARD
    Config = NoiseLevelConfig
    config: NoiseLevelConfig

    def pretext_labels(self) -> list[str]:
        return [f"sigma {v:g}" for v in self.config.noise_levels]

    def pretext_batch(self, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(len(self.config.noise_levels), (len(images),), generator=gen)
        sigma = torch.tensor(self.config.noise_levels, dtype=images.dtype)[y].view(-1, *([1] * (images.dim() - 1)))
        return images + sigma * torch.randn(images.shape, generator=gen, dtype=images.dtype), y
