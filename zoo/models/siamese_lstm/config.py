"""Configuration of `siamese-lstm` (torch-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zoo.config import DERIVED, TrainConfig


class SiameseLSTMConfig(TrainConfig):
    data: str = Field("synthetic-paraphrases", description=("Text pairs: synthetic-paraphrases (generated, offline) or a CSV "
                                                            "file with --left-column, --right-column and a 0/1 --target."))
    left_column: str = Field("", description="Column of a CSV file given as --data that holds the first text of each pair.")
    right_column: str = Field("", description="Column of a CSV file given as --data that holds the second text of each pair.")
    target: str = Field("", description="Column of a CSV file given as --data that holds the label (1 = same meaning, 0 = not).")
    limit: int = Field(0, ge=0, description="Use at most this many pairs (0: all); for quick runs.")
    max_len: int = Field(24, ge=2, le=4096, description="Tokens read per text (longer texts are cut when training).")
    vocab_size: int = Field(5000, ge=3, description="Most frequent training words kept (plus <pad> and <unk>).")
    embed_dim: int = Field(32, ge=1, description="Word embedding width (one embedding, shared by both texts).")
    hidden: int = Field(64, ge=1, description="Units of the shared LSTM (per direction).",
                        json_schema_extra={"search": {"type": "categorical", "choices": [16, 32, 64, 128]}})
    layers: int = Field(1, ge=1, le=4, description="Stacked LSTM layers.")
    bidirectional: bool = Field(False, description="Also read each text backwards (within its length).")
    merge: Literal["diff-product", "concat", "cosine"] = Field(
        "diff-product", description=("How the two sentence vectors a, b meet: diff-product = [|a-b|, a*b] + MLP (symmetric); "
                                     "concat = [a, b] + dense (Chollet's example, order-dependent); cosine = cos(a, b), scaled."))
    head_hidden: int = Field(64, ge=1, description="Hidden units of the MLP on the merged vector (diff-product, concat).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the sentence vectors while training.")
    epochs: int = Field(12, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=2, description="Pairs per mini-batch.")
    lr: float = Field(5e-3, gt=0, description="Peak learning rate (AdamW).",
                      json_schema_extra={"search": {"low": 1e-4, "high": 3e-2, "log": True}})
    val_size: float = Field(0.15, gt=0, lt=0.5, description="Share of pairs for validation (model selection).")
    test_size: float = Field(0.2, gt=0, lt=0.5, description="Share of pairs for the test metrics.")
    vocab: list[str] = Field([], description="Filled from the training texts (id -> word); leave empty.", json_schema_extra=DERIVED)
