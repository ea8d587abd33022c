"""`siamese-lstm`: one embedding + LSTM shared by two sentences, a merge, a sigmoid "same meaning".

As in Chollet's functional-API example, the *same* layer instance reads both inputs, so both sentences
are embedded by one set of weights (``encoder`` and ``embedding`` exist once in the state dict; the ONNX
graph has two LSTM nodes reading the same W/R/B initialisers, and the Keras file one shared ``LSTM``
layer). Padding is handled as in :mod:`zoo.tasks.sequence` (lengths derived from ``ids != 0`` inside the
graph), so right-padding either input never changes the answer.

Merges: ``diff-product`` ([|a-b|, a*b] -> MLP; symmetric in left/right, the default), ``concat``
([a, b] -> MLP; Chollet's, order-dependent), ``cosine`` (scale * cos(a, b) + bias).
Baselines on the same split (`zoo eval`): logistic regression on bag-of-words features of the pair,
and a word-overlap (Jaccard) threshold.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.data.text import Vocabulary, tokenize
from zoo.data.text_pairs import PairDataset, load_pairs
from zoo.errors import ZooError
from zoo.models.siamese_lstm import CARD
from zoo.models.siamese_lstm.config import SiameseLSTMConfig
from zoo.registry import DemoHook, ExportSpec, Predict, Preprocessing, TensorSpec, ZooModel, register
from zoo.tasks.base import StepModule
from zoo.tasks.sequence import MaskedRecurrent, length_masks, trim_padding

TIME_SIZES = (1, 7, 64)  # sequence lengths parity is checked at (with batch sizes 1, 7, 64)
INPUTS = ("left", "right")


class SiameseLSTMNet(nn.Module):
    """forward(left (B, T1), right (B, T2) int64, right-padded with 0) -> P(same meaning) (B, 1)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, layers: int, bidirectional: bool, merge: str,
                 head_hidden: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.encoder = MaskedRecurrent(embed_dim, hidden, layers, "lstm", bidirectional, 0.0)
        self.dropout = nn.Dropout(dropout)
        self.merge = merge
        width = self.encoder.out_features
        if merge == "cosine":
            self.scale = nn.Parameter(torch.tensor(5.0))
            self.bias = nn.Parameter(torch.tensor(0.0))
        else:
            self.head = nn.Sequential(nn.Linear(2 * width, head_hidden), nn.ReLU(), nn.Linear(head_hidden, 1))

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, width) sentence vectors; the one encoder every input goes through."""
        permutation, last = length_masks(ids)
        return self.encoder(self.embedding(ids), permutation, last)

    def logits(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        a, b = self.dropout(self.encode(left)), self.dropout(self.encode(right))
        if self.merge == "cosine":
            return self.scale * F.cosine_similarity(a, b, dim=-1, eps=1e-6)[:, None] + self.bias
        merged = torch.cat([a, b] if self.merge == "concat" else [(a - b).abs(), a * b], dim=-1)
        return self.head(merged)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(left, right))


def pair_metrics(labels: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as m

    p = np.clip(np.asarray(probability, dtype=np.float64).reshape(-1), 1e-7, 1 - 1e-7)
    auc = float(m.roc_auc_score(labels, p)) if len(set(labels.tolist())) > 1 else float("nan")
    return {"acc": float(m.accuracy_score(labels, p >= 0.5)), "auc": auc, "log_loss": float(m.log_loss(labels, p, labels=[0, 1]))}


def pair_baselines(data: PairDataset, vocab: Vocabulary, seed: int) -> dict[str, dict[str, float]]:
    """Bag-of-words logistic regression on [left counts, right counts, |difference|, product] and a word-overlap
    (Jaccard) threshold chosen on the training split; both on the test split."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    def words(text: str) -> list[str]:
        return tokenize(text, vocab.pattern, vocab.lowercase)

    vectorizer = CountVectorizer(tokenizer=words, lowercase=False, token_pattern=None, max_features=len(vocab.words))
    train_l, train_r, train_y = data.rows("train")
    test_l, test_r, test_y = data.rows("test")
    vectorizer.fit(train_l + train_r)

    def features(left: list[str], right: list[str]) -> Any:
        a, b = vectorizer.transform(left), vectorizer.transform(right)
        return sparse.hstack([a, b, abs(a - b), a.multiply(b)]).tocsr()

    bow = LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(features(train_l, train_r), train_y)
    out = {"bow_logreg": pair_metrics(test_y, bow.predict_proba(features(test_l, test_r))[:, 1])}

    def jaccard(left: list[str], right: list[str]) -> np.ndarray:
        sets = [(set(words(a)), set(words(b))) for a, b in zip(left, right)]
        return np.asarray([len(x & y) / max(1, len(x | y)) for x, y in sets])

    train_j, test_j = jaccard(train_l, train_r), jaccard(test_l, test_r)
    cuts = np.unique(train_j)
    best = max(cuts, key=lambda c: float(((train_j >= c) == train_y).mean())) if len(cuts) else 0.5
    overlap = pair_metrics(test_y, np.where(test_j >= best, 0.75, 0.25))
    from sklearn.metrics import roc_auc_score

    overlap["auc"] = float(roc_auc_score(test_y, test_j)) if len(set(test_y.tolist())) > 1 else float("nan")
    out["word_overlap"] = overlap
    return out


class PairModule(StepModule):
    """Mini-batches of padded id pairs, binary cross-entropy; selects on validation accuracy."""

    def __init__(self, model: SiameseLSTMNet, left: np.ndarray, right: np.ndarray, labels: np.ndarray,
                 splits: dict[str, np.ndarray], config: Any) -> None:
        super().__init__(model, config)
        self.left, self.right, self.labels = left, right, labels.astype(np.float32)
        self.train_rows, self.val_rows = splits["train"], splits["val"]

    def steps_per_epoch(self) -> int:
        return self.rows_steps(len(self.train_rows))

    def _batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(trim_padding(self.left[rows])).to(self.device),
                torch.from_numpy(trim_padding(self.right[rows])).to(self.device),
                torch.from_numpy(self.labels[rows]).to(self.device)[:, None])

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        rows = self.train_rows[self.batch_positions(len(self.train_rows))[1]]
        left, right, y = self._batch(rows)
        loss = F.binary_cross_entropy_with_logits(self.model.logits(left, right), y)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(rows))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        correct, total, loss = 0.0, 0, 0.0
        for part in np.array_split(self.val_rows, max(1, len(self.val_rows) // 512)):
            left, right, y = self._batch(part)
            z = self.model.logits(left, right)
            loss += float(F.binary_cross_entropy_with_logits(z, y, reduction="sum"))
            correct += float(((z >= 0).float() == y).sum())
            total += len(part)
        self.log("val/acc", correct / total, prog_bar=True, batch_size=total)
        self.log("val/loss", loss / total, batch_size=total)


@register
class SiameseLSTM(ZooModel):
    card = CARD
    Config = SiameseLSTMConfig
    config: SiameseLSTMConfig

    # -- shapes and description ----------------------------------------------------------------------------
    def _ensure_vocab(self) -> None:
        if not self.config.vocab:
            self.data  # noqa: B018  (load_data fills the vocabulary)

    @property
    def vocabulary(self) -> Vocabulary:
        self._ensure_vocab()
        return Vocabulary(list(self.config.vocab), self.config.max_len)

    def build_model(self) -> SiameseLSTMNet:
        self._ensure_vocab()
        cfg = self.config
        torch.manual_seed(cfg.seed)
        return SiameseLSTMNet(len(cfg.vocab), cfg.embed_dim, cfg.hidden, cfg.layers, cfg.bidirectional, cfg.merge,
                              cfg.head_hidden, cfg.dropout)

    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec(name, ("batch", f"{name}_time"), dtype="int64",
                           description=f"{name} text: word ids from the tokenizer JSON, right-padded with 0 (pad); 1 = unknown word")
                for name in INPUTS]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("same", ("batch", 1), meaning="probability",
                           description="probability that the two texts say the same thing")]

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(kind="none", notes=(f"each text -> ids with the 'tokenizer' JSON (lowercase, regex tokens, id 0 = pad, "
                                                 f"1 = unknown), at most {self.config.max_len} tokens, right-padded with 0"))

    def labels(self) -> list[str] | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tokenizer": self.vocabulary.to_dict()}

    def export_spec(self) -> ExportSpec:
        return ExportSpec(axis_sizes={f"{name}_time": TIME_SIZES for name in INPUTS})

    def resize_axis(self, inputs: dict[str, np.ndarray], axis: str, size: int) -> dict[str, np.ndarray]:
        """The input whose time axis is ``axis`` cut to its first ``size`` ids or right-padded with 0: real inputs.
        An axis no input has leaves the inputs unchanged."""
        name = axis.removesuffix("_time")
        if name not in INPUTS or name not in inputs:
            return super().resize_axis(inputs, axis, size)
        ids = inputs[name]
        resized = ids[:, :size] if size <= ids.shape[1] else np.pad(ids, ((0, 0), (0, size - ids.shape[1])))
        return {**inputs, name: np.ascontiguousarray(resized)}

    # -- data, training, evaluation ------------------------------------------------------------------------
    def load_data(self) -> PairDataset:
        cfg = self.config
        data = load_pairs(cfg.data or self.default_data, left_column=cfg.left_column, right_column=cfg.right_column,
                          target=cfg.target, seed=cfg.seed, val_size=cfg.val_size, test_size=cfg.test_size, limit=cfg.limit)
        left, right, _ = data.rows("train")
        if not cfg.vocab:
            cfg.vocab = list(Vocabulary.build(left + right, max_size=cfg.vocab_size, max_len=cfg.max_len).words)
        return data

    @cached_property
    def encoded(self) -> tuple[np.ndarray, np.ndarray]:
        """Every pair of the data set as two (n, max_len) int64 id arrays."""
        return self.vocabulary.encode_batch(self.data.left), self.vocabulary.encode_batch(self.data.right)

    def training_module(self, model: nn.Module) -> PairModule:
        left, right = self.encoded
        return PairModule(model, left, right, self.data.labels, self.data.splits, self.config)

    def predict_split(self, predict: Predict, split: str = "test") -> np.ndarray:
        idx = self.data.splits[split]
        left, right = self.encoded
        parts = np.array_split(idx, max(1, len(idx) // 256))
        return np.concatenate([np.asarray(predict({"left": left[p], "right": right[p]})[0]).reshape(-1) for p in parts])

    def evaluate(self, predict: Predict) -> dict[str, float]:
        idx = self.data.splits["test"]
        scores = pair_metrics(self.data.labels[idx], self.predict_split(predict))
        baselines = {f"test/{name}_{k}": v for name, values in self.baseline.items() for k, v in values.items()}
        return {f"test/{k}": v for k, v in scores.items()} | baselines | {"test/rows": float(len(idx))}

    @cached_property
    def baseline(self) -> dict[str, dict[str, float]]:
        return pair_baselines(self.data, self.vocabulary, self.config.seed)

    def eval_report(self, metrics: dict[str, float]) -> list[Any]:
        from rich.table import Table

        table = Table(title=f"siamese-lstm ({self.config.merge}) vs. baselines on {self.data.name} (same split)")
        for col in ("metric", "siamese-lstm", "bag-of-words logreg", "word overlap"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for key in ("acc", "auc"):
            table.add_row(key, f"{metrics.get('test/' + key, float('nan')):.4f}",
                          *(f"{self.baseline[b][key]:.4f}" for b in ("bow_logreg", "word_overlap")))
        return [table]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        idx = self.data.splits[split]
        rows = idx[np.arange(n) % len(idx)]
        left, right = self.encoded
        return {"left": np.ascontiguousarray(left[rows]), "right": np.ascontiguousarray(right[rows])}

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        from zoo import io as zio

        zio.write_json(run_dir / "tokenizer.json", self.vocabulary.to_dict())
        zio.write_json(run_dir / "baseline.json", {"baselines": {"bow_logreg": "logistic regression on bag-of-words "
                                                                 "features of the pair (scikit-learn)",
                                                                 "word_overlap": "Jaccard word overlap, threshold fit on train"},
                                                   "test": self.baseline})

    def demo(self) -> DemoHook | None:
        pairs: list[list[str]] = []
        try:
            if self.config.data in ("", "synthetic-paraphrases"):
                left, right, _ = self.data.rows("test")
                pairs = [[a, b] for a, b in zip(left[:4], right[:4])]
        except ZooError:
            pass
        return DemoHook(kind="text-pair", title=f"siamese-lstm ({self.config.merge})",
                        description="Type two texts: the model gives the probability that they say the same thing.",
                        examples=pairs)
