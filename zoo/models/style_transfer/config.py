"""Configuration of `style-transfer` (torch-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from zoo.config import LOCAL_PATH, TrainConfig


class StyleTransferConfig(TrainConfig):
    data: str = Field("sample-photos", description="Content images: sample-photos (random crops of scikit-learn's two sample "
                                                   "photos, CC BY 2.0, plus generated scenes; offline).")
    style: str = Field("", description="Style image file (PNG/JPEG). Empty: a procedurally generated marbled pattern.",
                       json_schema_extra=LOCAL_PATH)
    images: int = Field(400, ge=8, le=20000, description="Content images made (half photo crops, half generated scenes).")
    image_size: int = Field(64, ge=16, le=512, description="Side of the square content images the network is trained and exported at (a multiple of 4).")
    width: int = Field(16, ge=2, le=256, description="Channels of the first convolution (x2, x4 after the two down-samplings); Johnson et al. use 32.")
    res_blocks: int = Field(3, ge=0, le=10, description="Residual blocks (instance norm) at 1/4 resolution; Johnson et al. use 5.")
    upsample: Literal["nearest", "transpose"] = Field("nearest", description="Up-sampling: nearest x2 + convolution (no checkerboard artefacts) or a stride-2 transposed convolution (the paper's).")
    loss_backbone: str = Field("vgg11", description="Fixed loss network: any zoo backbone (`zoo info transfer` lists them).")
    loss_weights: str = Field("none", description="Its weights: none (seeded random init), imagenet (local cache only) or a .safetensors file.")
    content_layer: str = Field("", description="Loss-network stage of the content loss (empty: the middle stage).")
    style_layers: str = Field("", description="Comma-separated stages of the style loss (empty: every stage but the last).")
    content_weight: float = Field(1.0, ge=0, le=1e6, description="Weight of the relative content (feature reconstruction) loss.")
    style_weight: float = Field(2.0, ge=0, le=1e6, description="Weight of the relative Gram (style reconstruction) loss.")
    tv_weight: float = Field(0.01, ge=0, le=1e6, description="Weight of the total-variation loss.")
    epochs: int = Field(5, ge=1, description="Training epochs.")
    batch_size: int = Field(4, ge=1, description="Content images per step (Johnson et al.: 4).")
    lr: float = Field(3e-3, gt=0, le=10, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.0, ge=0, le=10, description="AdamW weight decay.")

    @field_validator("loss_backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        from zoo.backbones import check_name

        return check_name(value)

    @model_validator(mode="after")
    def _sizes(self) -> "StyleTransferConfig":
        from zoo.backbones import check_size

        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two stride-2 stages), got {self.image_size}")
        check_size(self.loss_backbone, self.image_size)
        return self
