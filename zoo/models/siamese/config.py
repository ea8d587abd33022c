"""Configuration of `siamese` (torch-free: `zoo info siamese` and `zoo train siamese --help` read it without importing torch)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from zoo.config import MAX_WIDTH, TrainConfig, Width


class SiameseConfig(TrainConfig):
    data: str = Field("omniglot-minimal", description="Image data set with many classes: omniglot-minimal (embedded), omniglot, imagefolder:PATH, ...")
    epochs: int = Field(25, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=2, description="Pairs per step (half same-class, half different-class).")
    lr: float = Field(2e-3, gt=0, description="Peak learning rate (AdamW).")
    image_size: int = Field(32, ge=16, le=256, description="Images are resized to image_size x image_size (Koch et al. use 105).")
    channels: list[Width] = Field([32, 64, 96, 128], min_length=2, max_length=16, description="Output channels of each conv stage (Koch et al.: 64,128,128,256).")
    embedding_dim: int = Field(512, ge=8, le=MAX_WIDTH, description="Size of the shared embedding (Koch et al.: 4096).")
    distance: Literal["l1", "l2"] = Field("l1", description="Distance layer: l1 = |a-b| weighted (paper), l2 = squared difference weighted.")
    batch_norm: bool = Field(True, description="Batch normalisation after each convolution (not in the paper; speeds up training).")
    steps_per_epoch: int = Field(150, ge=1, description="Optimiser steps per epoch (pairs are sampled freshly every step).")
    same_alphabet_negatives: float = Field(0.5, ge=0, le=1, description="Share of different-class pairs drawn from the same group (alphabet): harder negatives.")
    augment: bool = Field(True, description="Random affine distortions (rotation, shear, scale, translation) as in the paper.")
    val_trials: int = Field(300, ge=10, description="N-way trials for the validation metric each epoch.")
    val_ways: int = Field(5, ge=2, le=10000, description="N of the validation N-way one-shot task.")
    eval_trials: int = Field(400, ge=10, description="Trials per N-way test task.")
    eval_ways: list[Annotated[int, Field(ge=2, le=10000)]] = Field([5, 20], min_length=1, max_length=16, description="N-way one-shot tasks to evaluate on held-out classes.")
    test_groups: list[str] = Field([], description="Groups (alphabets) held out for testing; empty: chosen by the seed.")
    val_groups: list[str] = Field([], description="Groups (alphabets) held out for validation; empty: chosen by the seed.")

    @field_validator("channels", "eval_ways", "test_groups", "val_groups", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
