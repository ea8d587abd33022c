"""Configuration of `dcgan` (torch-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zoo.tasks.generative_config import GenerativeImageConfig


class DCGANConfig(GenerativeImageConfig):
    latent_dim: int = Field(32, ge=1, le=512, description="Dimensions of the generator's latent input (the paper uses 100).")
    epochs: int = Field(40, ge=1, description="Training epochs (each: one discriminator and one generator step per batch).")
    batch_size: int = Field(64, ge=1, description="Real images per step (and as many generated ones).")
    lr: float = Field(2e-4, gt=0, le=10, description="Adam learning rate of both networks (the paper's 0.0002).")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam's beta1 for both networks (the paper's 0.5).")
    weight_decay: float = Field(0.0, ge=0, le=10, description="Weight decay of both optimisers.")
    scheduler: Literal["none"] = Field("none", description="Learning rates stay constant, as in the paper (only 'none').")
    grad_clip: float = Field(0.0, ge=0, description="Gradient-norm clipping of each network's step (0 disables).")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="One-sided label smoothing: real targets are 1 - this.")
    scorer_epochs: int = Field(6, ge=1, le=100, description="Epochs of the small classifier whose features score samples (trained at evaluation).")
