"""Configuration of `nlnl` (torch-free: `zoo info nlnl` and `zoo train nlnl --help` read it without importing torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from zoo.config import DERIVED, MAX_WIDTH, TrainConfig


class NlnlConfig(TrainConfig):
    data: str = Field("digits", description="Image classification data set: digits, omniglot-minimal (characters as classes; both offline), mnist, imagefolder:PATH.")
    epochs: int = Field(15, ge=1, description="Epochs of every stage whose own --STAGE-epochs is 0; the CE baseline trains for the sum of all stages.")
    lr: float = Field(3e-3, gt=0, description="Peak learning rate (AdamW) of every stage.")
    noise_rate: float = Field(0.4, description="Fraction of training and validation labels to corrupt, in [0, 1). 0: keep the labels as they are (already noisy data).")
    noise_type: Literal["symmetric", "asymmetric"] = Field("symmetric", description="symmetric: to a uniformly drawn other class; asymmetric: to a look-alike class (digits 2->7, 3->8, 5<->6, 7->1).")
    backbone: Literal["small-cnn", "resnet18", "efficientnet_b0"] = Field("small-cnn", description="Classifier network: small-cnn (CPU), resnet18 or efficientnet_b0 (torchvision, untrained; for GPUs).")
    width: int = Field(16, ge=4, le=MAX_WIDTH // 4, description="small-cnn: channels of the first block (doubled in each of the next two).")
    image_size: int = Field(16, ge=8, le=512, description="Images are resized to image_size x image_size (digits are 8x8, MNIST 28x28).")
    nl_epochs: int = Field(30, ge=0, description="Epochs of negative learning on all samples (0: --epochs).")
    selnl_epochs: int = Field(20, ge=0, description="Epochs of selective NL (samples with given-label confidence > 1/K) (0: --epochs).")
    selpl_epochs: int = Field(20, ge=0, description="Epochs of selective PL (samples with given-label confidence > gamma) (0: --epochs).")
    clean_epochs: int = Field(0, ge=0, description="Epochs of the fresh network trained on the samples judged clean (0: --epochs).")
    final_epochs: int = Field(0, ge=0, description="Epochs of the final network on all samples with cleaned labels (0: --epochs).")
    complementary_labels: int = Field(5, ge=1, description="Complementary labels drawn per image and epoch. Kim et al. use 1 for CIFAR-10 (with 720 NL epochs) and 110 for CIFAR-100; more labels per image reach the same NL fit in far fewer epochs.")
    gamma: float = Field(0.5, gt=0, lt=1, description="SelPL trains with the given label only where its confidence exceeds gamma.")
    clean_threshold: float = Field(0.5, gt=0, lt=1, description="After SelPL, labels whose confidence is below this are flagged noisy and relabelled.")
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of each class held out for validation (noisy too: checkpoints are chosen without clean labels).")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="Share of each class held out (clean) for testing; MNIST uses its own test set.")
    class_names: list[str] = Field([], description="Output classes in order; filled from the data set at training.", json_schema_extra=DERIVED)

    @field_validator("noise_rate")
    @classmethod
    def _rate_in_unit_interval(cls, value: float) -> float:
        if not 0.0 <= value < 1.0:
            raise ValueError("the noise rate must be in [0, 1): the fraction of labels to corrupt, e.g. 0.4")
        return value

    @field_validator("class_names", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def stage_epochs(self, stage: str) -> int:
        return getattr(self, f"{stage}_epochs") or self.epochs
