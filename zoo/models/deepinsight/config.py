"""Configuration of `deepinsight` (torch-free: `zoo info deepinsight` and `zoo train deepinsight --help` read it without importing torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from zoo.config import DERIVED, TrainConfig, Width


class DeepInsightConfig(TrainConfig):
    data: str = Field("ringnorm", description="Tabular data set: ringnorm, madelon-like, breast-cancer, wine, iris, mouse-protein, or a CSV file (with --target).")
    target: str = Field("", description="Class column of a CSV file given as --data.")
    impute: bool = Field(False, description="Fill missing feature values with the training-split median (else missing values are an error).")
    scaler: Literal["log", "minmax"] = Field("log", description="Feature scaling: log = the authors' LogScaler (norm-2), minmax = per-feature min-max (norm-1).")
    feature_extractor: Literal["tsne", "kpca", "pca"] = Field("tsne", description="How features are placed on the plane: t-SNE (cosine), kernel PCA (RBF) or PCA of the transposed training matrix.")
    pixels: int = Field(32, ge=8, le=256, description="Image size: pixels x pixels.")
    channels: list[Width] = Field([8, 16, 32], min_length=1, max_length=5, description="Output channels of each CNN stage (both branches).")
    dense: list[Width] = Field([64, 32], min_length=1, max_length=16, description="Hidden dense layers after global average pooling (the output layer is added).")
    dropout: float = Field(0.3, ge=0, lt=1, description="Dropout after every hidden dense layer.")
    conv_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout after every CNN stage (after the max-pool); 0.3 as in the case-study sketch costs accuracy on sparse images (a dropped pixel is a dropped feature).")
    epochs: int = Field(30, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=2, description="Rows per mini-batch.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW).")
    val_size: float = Field(0.1, gt=0, lt=0.5, description="Share of the rows held out for validation (model selection), stratified.")
    test_size: float = Field(0.1, gt=0, lt=0.5, description="Share of the rows held out for the test metric, stratified.")
    n_features: int = Field(0, ge=0, description="Filled from the data before training (number of feature columns); leave 0.", json_schema_extra=DERIVED)
    n_classes: int = Field(0, ge=0, description="Filled from the data before training; leave 0.", json_schema_extra=DERIVED)
    class_names: list[str] = Field([], description="Filled from the data before training (output order); leave empty.", json_schema_extra=DERIVED)
    feature_names: list[str] = Field([], description="Filled from the data before training (input column order); leave empty.", json_schema_extra=DERIVED)

    @field_validator("channels", "dense", "class_names", "feature_names", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
