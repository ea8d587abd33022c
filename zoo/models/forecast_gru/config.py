"""Configuration of `forecast-gru` (torch-free)."""

from __future__ import annotations

from pydantic import Field

from zoo.config import TrainConfig


class ForecastGRUConfig(TrainConfig):
    data: str = Field("synthetic-temperature", description=("Series: synthetic-temperature (generated, hourly, offline), "
                                                            "jena-climate (downloaded), or a CSV file with --target COLUMN."))
    target: str = Field("", description="Column of a CSV file given as --data to forecast (rows in time order).")
    limit: int = Field(0, ge=0, description="Use only the last N values of the series (0: all); for quick runs.")
    lookback: int = Field(48, ge=2, description="Past values the model reads (the training window).")
    horizon: int = Field(24, ge=1, description="How many steps ahead to forecast (24 = tomorrow at this hour, hourly data).")
    hidden: int = Field(32, ge=1, description="GRU units.", json_schema_extra={"search": {"type": "categorical", "choices": [8, 16, 32, 64]}})
    layers: int = Field(1, ge=1, le=4, description="Stacked GRU layers.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout between stacked GRU layers.")
    recurrent_dropout: float = Field(0.0, ge=0, lt=1, description="Drop this share of the recurrent (hidden-to-hidden) weights while training.",
                                     json_schema_extra={"search": {"low": 0.0, "high": 0.5}})
    epochs: int = Field(12, ge=1, description="Training epochs.")
    batch_size: int = Field(128, ge=2, description="Windows per mini-batch.")
    lr: float = Field(3e-3, gt=0, description="Peak learning rate (AdamW).", json_schema_extra={"search": {"low": 1e-4, "high": 3e-2, "log": True}})
    val_size: float = Field(0.15, gt=0, lt=0.5, description="Share of the series (after training, in time order) for validation.")
    test_size: float = Field(0.15, gt=0, lt=0.5, description="Latest share of the series for the test metrics.")
