"""Configuration of `char-rnn` (torch-free)."""

from __future__ import annotations

from pydantic import Field

from zoo.config import DERIVED, TrainConfig


class CharRNNConfig(TrainConfig):
    data: str = Field("shakespeare", description="Text: shakespeare (five tragedies, embedded, public domain) or the path of your own UTF-8 .txt file.")
    limit: int = Field(0, ge=0, description="Use only the first N characters of the text (0: all); for quick runs.")
    seq_len: int = Field(100, ge=2, le=4096, description="Characters per training window (backpropagation through time).")
    embed_dim: int = Field(32, ge=1, description="Character embedding width.",
                       json_schema_extra={"search": {"type": "categorical", "choices": [16, 32, 64]}})
    hidden: int = Field(128, ge=1, description="LSTM units per layer.",
                        json_schema_extra={"search": {"type": "categorical", "choices": [64, 128, 256, 512]}})
    layers: int = Field(1, ge=1, le=4, description="Stacked LSTM layers.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout between stacked LSTM layers and before the output layer.",
                           json_schema_extra={"search": {"low": 0.0, "high": 0.5}})
    epochs: int = Field(10, ge=1, description="Training epochs (one epoch reads every training character once).")
    batch_size: int = Field(64, ge=2, description="Windows per mini-batch.")
    lr: float = Field(3e-3, gt=0, description="Peak learning rate (AdamW).",
                      json_schema_extra={"search": {"low": 1e-4, "high": 3e-2, "log": True}})
    weight_decay: float = Field(0.0, ge=0, le=10, description="AdamW weight decay.")
    val_size: float = Field(0.05, gt=0, lt=0.5, description="Share of the text (after the training part) for validation.")
    test_size: float = Field(0.05, gt=0, lt=0.5, description="Last share of the text for the test perplexity.")
    chars: list[str] = Field([], description="Filled from the text (id -> character); leave empty.", json_schema_extra=DERIVED)
