"""Configuration of `text-rnn` (torch-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zoo.config import DERIVED, TrainConfig


class TextRNNConfig(TrainConfig):
    data: str = Field("synthetic-reviews", description=("Texts: synthetic-reviews (generated, offline), imdb (downloaded), "
                                                        "or a CSV file with --text-column and --target."))
    text_column: str = Field("", description="Column of a CSV file given as --data that holds the texts.")
    target: str = Field("", description="Column of a CSV file given as --data that holds the class labels.")
    limit: int = Field(0, ge=0, description="Use at most this many texts (0: all); for quick runs.")
    max_len: int = Field(64, ge=2, le=4096, description="Tokens read per text (longer texts are cut when training).")
    vocab_size: int = Field(5000, ge=3, description="Most frequent training words kept (plus <pad> and <unk>).")
    embed_dim: int = Field(32, ge=1, description="Word embedding width.",
                           json_schema_extra={"search": {"type": "categorical", "choices": [16, 32, 64, 128]}})
    hidden: int = Field(64, ge=1, description="Units of each recurrent layer (per direction).",
                        json_schema_extra={"search": {"type": "categorical", "choices": [16, 32, 64, 128]}})
    layers: int = Field(1, ge=1, le=4, description="Stacked recurrent layers.")
    cell: Literal["lstm", "gru"] = Field("lstm", description="Recurrent cell.")
    bidirectional: bool = Field(False, description="Also read each text backwards (within its length).")
    dropout: float = Field(0.2, ge=0, lt=1, description="Dropout between layers and before the classifier.",
                           json_schema_extra={"search": {"low": 0.0, "high": 0.5}})
    epochs: int = Field(3, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=2, description="Texts per mini-batch.")
    lr: float = Field(5e-3, gt=0, description="Peak learning rate (AdamW).",
                      json_schema_extra={"search": {"low": 1e-4, "high": 3e-2, "log": True}})
    val_size: float = Field(0.15, gt=0, lt=0.5, description="Share of texts for validation (model selection).")
    test_size: float = Field(0.2, gt=0, lt=0.5, description="Share of texts for the test metrics (IMDB: its own test half).")
    vocab: list[str] = Field([], description="Filled from the training texts (id -> word); leave empty.", json_schema_extra=DERIVED)
    class_names: list[str] = Field([], description="Filled from the data; leave empty.", json_schema_extra=DERIVED)
