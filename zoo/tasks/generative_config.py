"""Config fields every image generator shares (torch-free: read by `zoo info` and `--help`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from zoo.tasks.image_config import ImageClassificationConfig


class GenerativeImageConfig(ImageClassificationConfig):
    data: str = Field("digits", description="Images to model (their labels are only used to split and to score samples): digits, omniglot-minimal, mnist or imagefolder:PATH.")
    image_size: int = Field(16, ge=8, le=256, description="Images are resized to image_size x image_size (a multiple of 4).")
    color: Literal["auto", "L", "RGB"] = Field("L", description="Image colour: L (grey) or RGB; auto as the data set is.")
    augment: bool = Field(False, description="Random translations of the training images.")
    augment_flip: bool = Field(False, description="Horizontal flips as augmentation (off for digits and characters).")
    latent_dim: int = Field(2, ge=1, le=256, description="Dimensions of the latent code (2 gives a latent-space picture of the whole code).")
    width: int = Field(32, ge=4, le=512, description="Channels of the first convolution (doubled per down-sampling).")
    grid: int = Field(12, ge=2, le=32, description="Side of the picture grids saved with a run (grid x grid images).")

    @model_validator(mode="after")
    def _size_multiple_of_four(self) -> "GenerativeImageConfig":
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two stride-2 stages), got {self.image_size}")
        return self
