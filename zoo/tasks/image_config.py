"""Config fields every image classifier shares (torch-free: read by `zoo info` and `--help`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from zoo.config import DERIVED, TrainConfig


class ImageClassificationConfig(TrainConfig):
    image_size: int = Field(32, ge=8, le=1024, description="Images are resized to image_size x image_size.")
    color: Literal["auto", "L", "RGB"] = Field("auto", description="Input colour: auto (RGB for photos and image folders, grey for digit/character sets), L or RGB.")
    augment: bool = Field(True, description="Random translations (up to 10%) and, with --augment-flip, horizontal flips.")
    augment_flip: bool = Field(True, description="Horizontal flips as augmentation (turn off for digits and characters).")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of the cross-entropy.")
    val_fraction: float = Field(0.15, ge=0, lt=0.5, description="Share of each class held out for validation (model selection).")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="Share of each class held out for the test metrics.")
    labels_per_class: int = Field(0, ge=0, description="Keep only this many training images per class (few-label transfer); 0 keeps all.")
    teacher: str | None = Field(None, description="Knowledge distillation: a finished image-classifier run (same classes and input) whose soft targets the student also learns.")
    distill_temperature: float = Field(4.0, gt=0, description="Distillation temperature T of the soft targets.")
    distill_alpha: float = Field(0.5, ge=0, le=1, description="Weight of the soft-target loss (1 - alpha: hard labels).")
    class_names: list[str] = Field([], description="Output classes in order; filled from the data set at training.", json_schema_extra=DERIVED)
    in_channels: int = Field(0, ge=0, le=3, description="Input channels; filled from the data set at training.", json_schema_extra=DERIVED)

    @field_validator("class_names", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
