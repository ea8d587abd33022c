"""Config fields every self-supervised pretext model shares (torch-free)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from zoo.backbones import BACKBONES, check_name, check_size
from zoo.tasks.image_config import ImageClassificationConfig


class PretextConfig(ImageClassificationConfig):
    data: str = Field("digits", description="Unlabelled images (their labels are ignored): digits, omniglot-minimal, mnist, cifar10 or imagefolder:PATH.")
    backbone: str = Field("lenet5", description=f"Encoder architecture: {', '.join(BACKBONES)}, or timm:NAME.")
    pretrained: str = Field("none", description="Encoder start weights: none (self-supervised from scratch), imagenet or a .safetensors file.")
    image_size: int = Field(32, ge=8, le=1024, description="Images are resized to image_size x image_size.")
    augment: bool = Field(False, description="Random translations on top of the pretext transform.")
    augment_flip: bool = Field(False, description="Horizontal flips as augmentation.")
    epochs: int = Field(10, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=1, description="Images per step.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate.")

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        return check_name(value)

    @model_validator(mode="after")
    def _fits_backbone(self) -> "PretextConfig":
        check_size(self.backbone, self.image_size)
        return self
