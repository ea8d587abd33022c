"""Configuration of `context` (torch-free)."""

from __future__ import annotations

from pydantic import Field, model_validator

from zoo.backbones import check_size
from zoo.tasks.pretext_config import PretextConfig


class ContextConfig(PretextConfig):
    image_size: int = Field(112, ge=8, le=1024, description="Images are resized to image_size x image_size; the 3x3 patch grid is cut from them.")
    patch_size: int = Field(32, ge=4, le=1024, description="Side of each square patch in pixels (the encoder's input; at least the backbone's minimum).")
    gap: int = Field(4, ge=0, le=512, description="Defence: pixels left out between neighbouring patches, so edges cannot simply be continued (0 = touching patches).")
    jitter: int = Field(4, ge=0, le=256, description="Defence: each patch moves by up to this many pixels in x and y, so exact alignment gives nothing away (0 = a rigid grid).")
    drop_channels: bool = Field(True, description="Defence: RGB: keep one random colour channel per patch, replace the other two with faint Gaussian noise (no chromatic aberration cue); grey: independent random contrast and brightness per patch (grey has no colour fringes, this removes the nearest low-level cue, matching intensity levels across patches).")
    head_hidden: int = Field(128, ge=1, le=65536, description="Width of the hidden layer that merges the two patch encodings.")

    @model_validator(mode="after")
    def _grid_fits(self) -> "ContextConfig":
        check_size(self.backbone, self.patch_size)
        extent = 3 * self.patch_size + 2 * self.gap + 2 * self.jitter
        if extent > self.image_size:
            raise ValueError(f"the 3x3 patch grid (3 x {self.patch_size} px patches + 2 x {self.gap} px gaps + 2 x {self.jitter} px jitter "
                             f"= {extent} px) is larger than image_size {self.image_size}; lower --patch-size/--gap/--jitter or raise --image-size")
        return self
