"""Configuration of `mlp-heads` (torch-free)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from zoo.config import TrainConfig, Width

HEADS = ("auto", "binary", "multiclass", "multilabel", "ordinal", "regression", "multitask")


class MLPHeadsConfig(TrainConfig):
    data: str = Field("iris", description=("Table: iris, wine, breast-cancer (classification), diabetes (regression), "
                                           "diabetes-grades (5 ordered grades of diabetes), linnerud (3 regression targets), "
                                           "multilabel-demo (seeded, 4 k-hot labels), or a CSV file with --target A,B."))
    target: list[str] = Field([], description="Target column(s) of a CSV file given as --data, comma-separated.")
    head: Literal["auto", "binary", "multiclass", "multilabel", "ordinal", "regression", "multitask"] = Field(
        "auto", description="Output head; auto picks the data set's natural head.")
    hidden: list[Width] = Field([64, 64], min_length=1, max_length=8, description="Widths of the hidden layers of the shared trunk.",
                              json_schema_extra={"search": {"type": "categorical", "choices": [[16], [32], [64], [16, 16], [32, 32], [64, 64], [32, 32, 32]]}})
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout after every hidden layer.",
                           json_schema_extra={"search": {"low": 0.0, "high": 0.5}})
    regression_loss: Literal["mse", "mae"] = Field("mse", description="Loss of regression/multitask heads (on standardised targets).")
    task_weights: list[float] = Field([], description="Multitask: loss weight of each target (default: all 1).")
    epochs: int = Field(60, ge=1, description="Training epochs.")
    batch_size: int = Field(32, ge=2, description="Rows per mini-batch.")
    lr: float = Field(3e-3, gt=0, description="Peak learning rate (AdamW).",
                      json_schema_extra={"search": {"low": 1e-4, "high": 3e-2, "log": True}})
    val_size: float = Field(0.2, gt=0, lt=0.5, description="Share of rows for validation (model selection).")
    test_size: float = Field(0.2, gt=0, lt=0.5, description="Share of rows for the test metrics.")
    n_features: int = Field(0, ge=0, description="Filled from the data; leave 0.")
    n_outputs: int = Field(0, ge=0, description="Filled from the data (output units); leave 0.")
    resolved_head: str = Field("", description="Filled from the data (the head actually used); leave empty.")
    class_names: list[str] = Field([], description="Filled from the data (classes, labels or target names); leave empty.")
    feature_names: list[str] = Field([], description="Filled from the data; leave empty.")

    @field_validator("hidden", "target", "task_weights", "class_names", "feature_names", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
