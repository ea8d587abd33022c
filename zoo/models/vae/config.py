"""Configuration of `vae` (torch-free)."""

from __future__ import annotations

from pydantic import Field

from zoo.tasks.generative_config import GenerativeImageConfig


class VAEConfig(GenerativeImageConfig):
    beta: float = Field(1.0, ge=0, le=100, description="Weight of the KL term (1: the ELBO of Kingma & Welling; >1: a beta-VAE).")
    epochs: int = Field(30, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=1, description="Images per step.")
    lr: float = Field(2e-3, gt=0, le=10, description="Peak learning rate.")
    elbo_samples: int = Field(8, ge=1, le=256, description="Latent samples per held-out image in the ELBO estimate.")
