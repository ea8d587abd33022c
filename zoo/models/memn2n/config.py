"""Configuration of `memn2n` (torch-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from zoo.config import DERIVED, TrainConfig


class MemN2NConfig(TrainConfig):
    data: str = Field("babi-generated", description=("Stories: babi-generated (seeded generator of tasks 1-2, offline), "
                                                     "babi (Facebook bAbI 1k, downloaded) or babi-10k."))
    task: int = Field(1, ge=1, le=20, description="bAbI task: 1 (single supporting fact), 2 (two supporting facts); babi/babi-10k: 1-20.")
    examples: int = Field(1000, ge=20, description="Training questions (generated: also the number of test questions; babi: the first this many).")
    memory_size: int = Field(50, ge=2, le=1000, description="Most recent story sentences kept as memories (and rows of the temporal encoding).")
    dim: int = Field(20, ge=1, le=1024, description="Embedding width d.",
                     json_schema_extra={"search": {"type": "categorical", "choices": [10, 20, 40, 64]}})
    hops: int = Field(3, ge=1, le=10, description="Memory hops K.")
    encoding: Literal["position", "bow"] = Field("position", description="Sentence embedding: position encoding (PE) or bag of words.")
    temporal: bool = Field(True, description="Add the learned temporal encoding T_A/T_C (sentence age) to each memory.")
    tying: Literal["adjacent", "layer-wise"] = Field("adjacent", description=("adjacent: A(k+1) = C(k), B = A(1), W = C(K)^T; "
                                                                          "layer-wise: one A and C for all hops, u(k+1) = H u(k) + o(k)."))
    linear_start: int = Field(20, ge=0, description="Epochs trained without the memory softmax (LS, the paper's linear start); 0 disables.")
    random_noise: float = Field(0.1, ge=0, lt=1, description="Share of empty memories inserted into training stories (RN, regularises the temporal encoding).")
    epochs: int = Field(100, ge=1, description="Training epochs (the paper's 100).")
    batch_size: int = Field(32, ge=2, description="Questions per mini-batch.")
    lr: float = Field(1e-2, gt=0, description="Peak learning rate (AdamW).",
                      json_schema_extra={"search": {"low": 1e-3, "high": 5e-2, "log": True}})
    scheduler: Literal["cosine", "plateau", "none"] = Field("none", description=("Learning-rate schedule; constant by default "
                                                                             "(a cosine decay stalls task 2 well below its accuracy)."))
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    grad_clip: float = Field(40.0, ge=0, description="Gradient-norm clipping (the paper's 40).")
    val_size: float = Field(0.1, gt=0, lt=0.5, description="Share of training questions held out for validation (the paper's 10%).")
    sentence_len: int = Field(0, ge=0, description="Words per sentence read (filled from the data: the longest training sentence).", json_schema_extra=DERIVED)
    vocab: list[str] = Field([], description="Filled from the training stories (id -> word); leave empty.", json_schema_extra=DERIVED)
