"""Configuration of `transfer` (torch-free)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from zoo.backbones import BACKBONES, check_name, check_size
from zoo.tasks.image_config import ImageClassificationConfig


class TransferConfig(ImageClassificationConfig):
    data: str = Field("digits", description="Image data set: imagefolder:PATH (one sub-folder per class), digits, omniglot-minimal, mnist, cifar10.")
    backbone: str = Field("resnet18", description=f"Backbone architecture: {', '.join(BACKBONES)}, or timm:NAME.")
    pretrained: str = Field("none", description="Backbone weights: none, imagenet (from the local torch/HF cache), or a .safetensors file.")
    freeze: Literal["none", "all", "first-k", "gradual"] = Field("none", description="none: full fine-tuning; all: feature extraction (only the head trains); first-k: freeze the first --freeze-stages stages; gradual: start frozen, unfreeze one stage from the top every --unfreeze-every epochs.")
    freeze_stages: int = Field(1, ge=0, description="Stages frozen with --freeze first-k (stem first; `zoo info transfer` lists each backbone's stages).")
    unfreeze_every: int = Field(1, ge=1, description="With --freeze gradual: epochs between unfreezing the next stage (Lightning BaseFinetuning).")
    lr_decay: float = Field(1.0, gt=0, le=1, description="Discriminative learning rates: stage i from the top trains at lr * lr_decay**i (1 = one rate).")
    head: Literal["linear", "mlp", "original"] = Field("linear", description="linear: dropout + a new linear layer on pooled features; mlp: --head-hidden dense layers (ReLU, dropout) first; original: the architecture's own top with its last layer replaced.")
    head_hidden: list[int] = Field([256], max_length=16, description="Hidden widths of the mlp head.")
    dropout: float = Field(0.2, ge=0, lt=1, description="Dropout before each head layer.")
    binary_single_logit: bool = Field(False, description="Two classes: one sigmoid unit (as Keras' binary examples) exported as the logits [0, z].")
    image_size: int = Field(32, ge=8, le=1024, description="Images are resized to image_size x image_size (the backbone's minimum applies).")
    epochs: int = Field(10, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=1, description="Images per step.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW) of the head; stages get lr * lr_decay**depth.")

    @field_validator("head_hidden", mode="before")
    @classmethod
    def _split_ints(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        return check_name(value)

    @model_validator(mode="after")
    def _fits_backbone(self) -> "TransferConfig":
        check_size(self.backbone, self.image_size)
        if any(w < 1 or w > 65536 for w in self.head_hidden):
            raise ValueError("head_hidden widths must be between 1 and 65536")
        return self
