"""Configuration of `capsnet` (torch-free)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from zoo.tasks.image_config import ImageClassificationConfig

KERNEL = 9  # both convolutions of the paper are 9x9; the primary capsules' has stride 2


def primary_grid(image_size: int) -> int:
    """Side of the primary-capsule grid: a 9x9 convolution, then a 9x9 stride-2 one."""
    return (image_size - KERNEL + 1 - KERNEL) // 2 + 1


class CapsNetConfig(ImageClassificationConfig):
    data: str = Field("digits", description="Image data set: digits (8x8, upscaled), omniglot-minimal, mnist, imagefolder:PATH.")
    image_size: int = Field(28, ge=17, le=256, description="Images are resized to image_size x image_size (at least 17 for the two 9x9 convolutions).")
    augment: bool = Field(True, description="Random translations (up to 10%); the paper shifts MNIST by up to 2 pixels.")
    augment_flip: bool = Field(False, description="Horizontal flips (off: digits and characters are not mirror-symmetric).")
    conv_channels: int = Field(256, ge=1, le=4096, description="Channels of the first 9x9 ReLU convolution.")
    primary_types: int = Field(32, ge=1, le=1024, description="Primary capsule types (each a grid of capsules from the 9x9 stride-2 convolution).")
    primary_dim: int = Field(8, ge=2, le=64, description="Dimensions of a primary capsule.")
    class_dim: int = Field(16, ge=2, le=128, description="Dimensions of a class (digit) capsule.")
    routing_iterations: int = Field(3, ge=1, le=10, description="Routing-by-agreement iterations (unrolled in the graph, so it exports).")
    decoder_hidden: list[int] = Field([512, 1024], description="Hidden widths of the reconstruction decoder (ReLU), then image_size^2 sigmoid pixels.")
    reconstruction_weight: float = Field(0.0005, ge=0, le=10, description="Scale of the summed squared reconstruction error in the loss (the paper's 0.0005).")
    m_plus: float = Field(0.9, gt=0, le=1, description="Margin loss: the present class' capsule should be longer than m+.")
    m_minus: float = Field(0.1, ge=0, lt=1, description="Margin loss: absent classes' capsules should be shorter than m-.")
    margin_lambda: float = Field(0.5, ge=0, le=1, description="Margin loss: down-weighting of the absent classes' term.")
    epochs: int = Field(20, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=1, description="Images per step.")

    @field_validator("decoder_hidden", mode="before")
    @classmethod
    def _split_ints(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "CapsNetConfig":
        if self.m_minus >= self.m_plus:
            raise ValueError(f"m_minus ({self.m_minus}) must be below m_plus ({self.m_plus})")
        if any(w < 1 or w > 65536 for w in self.decoder_hidden):
            raise ValueError("decoder_hidden widths must be between 1 and 65536")
        return self
