"""`text-rnn`: embedding + (stacked, optionally bidirectional) LSTM/GRU text classifier.

Texts become int64 ids with the vocabulary built from the training split (``zoo.data.text.Vocabulary``);
the vocabulary is a derived config field, so it is saved in config.json, ``tokenizer.json`` and the ONNX
metadata, and a consumer needs no zoo code to feed the model (demos/text.py does exactly that). The
baseline on the same split is bag-of-words logistic regression (scikit-learn), reported by `zoo eval`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.data.text import TextDataset, Vocabulary, load_text, tokenize
from zoo.errors import ZooError
from zoo.models.text_rnn import CARD
from zoo.models.text_rnn.config import TextRNNConfig
from zoo.registry import DemoHook, ExportSpec, Predict, Preprocessing, TensorSpec, ZooModel, register
from zoo.tasks.sequence import TextClassificationModule, TextRNNNet

TIME_SIZES = (1, 7, 64)  # sequence lengths parity is checked at (with batch sizes 1, 7, 64)


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as m

    pred = probabilities.argmax(axis=1)
    k = probabilities.shape[1]
    return {"acc": float(m.accuracy_score(labels, pred)), "macro_f1": float(m.f1_score(labels, pred, average="macro")),
            "log_loss": float(m.log_loss(labels, np.clip(probabilities, 1e-7, 1), labels=list(range(k))))}


def bag_of_words_baseline(data: TextDataset, vocab: Vocabulary, seed: int) -> dict[str, float]:
    """Logistic regression on word counts (same tokenizer, same split) -- the issue's text baseline."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    train_texts, train_y = data.rows("train")
    test_texts, test_y = data.rows("test")
    vectorizer = CountVectorizer(tokenizer=lambda t: tokenize(t, vocab.pattern, vocab.lowercase), lowercase=False,
                                 token_pattern=None, ngram_range=(1, 1), max_features=len(vocab.words))
    x_train = vectorizer.fit_transform(train_texts)
    model = LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(x_train, train_y)
    proba = np.zeros((len(test_y), len(data.class_names)))
    proba[:, model.classes_] = model.predict_proba(vectorizer.transform(test_texts))
    return classification_metrics(test_y, proba)


@register
class TextRNN(ZooModel):
    card = CARD
    Config = TextRNNConfig
    config: TextRNNConfig

    # -- shapes and description ----------------------------------------------------------------------------
    def _ensure_vocab(self) -> None:
        if not self.config.vocab or not self.config.class_names:
            self.data  # noqa: B018  (load_data fills vocab and class names)

    @property
    def vocabulary(self) -> Vocabulary:
        self._ensure_vocab()
        return Vocabulary(list(self.config.vocab), self.config.max_len)

    def build_model(self) -> TextRNNNet:
        self._ensure_vocab()
        cfg = self.config
        torch.manual_seed(cfg.seed)
        return TextRNNNet(len(cfg.vocab), cfg.embed_dim, cfg.hidden, cfg.layers, cfg.cell, cfg.bidirectional,
                          cfg.dropout, len(cfg.class_names))

    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec("tokens", ("batch", "time"), dtype="int64",
                           description="word ids from the tokenizer JSON, right-padded with 0 (pad); 1 = unknown word")]

    def outputs(self) -> list[TensorSpec]:
        self._ensure_vocab()
        return [TensorSpec("probabilities", ("batch", len(self.config.class_names)), meaning="probabilities",
                           description="class probabilities (softmax)")]

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(kind="none", notes=(f"text -> ids with the 'tokenizer' JSON (lowercase, regex tokens, id 0 = pad, "
                                                 f"1 = unknown), at most {self.config.max_len} tokens, right-padded with 0"))

    def labels(self) -> list[str] | None:
        self._ensure_vocab()
        return list(self.config.class_names)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tokenizer": self.vocabulary.to_dict()}

    def export_spec(self) -> ExportSpec:
        return ExportSpec(axis_sizes={"time": TIME_SIZES})

    def resize_axis(self, inputs: dict[str, np.ndarray], axis: str, size: int) -> dict[str, np.ndarray]:
        """Token rows cut to their first ``size`` ids, or right-padded with 0 (pad) to ``size``: real inputs."""
        ids = inputs["tokens"]
        if axis != "time":
            return super().resize_axis(inputs, axis, size)
        if size <= ids.shape[1]:
            return {**inputs, "tokens": np.ascontiguousarray(ids[:, :size])}
        return {**inputs, "tokens": np.pad(ids, ((0, 0), (0, size - ids.shape[1])))}

    # -- data, training, evaluation ------------------------------------------------------------------------
    def load_data(self) -> TextDataset:
        cfg = self.config
        data = load_text(cfg.data or self.default_data, data_dir=cfg.data_dir, text_column=cfg.text_column,
                         target=cfg.target, seed=cfg.seed, val_size=cfg.val_size, test_size=cfg.test_size, limit=cfg.limit)
        train_texts, _ = data.rows("train")
        vocab = Vocabulary.build(train_texts, max_size=cfg.vocab_size, max_len=cfg.max_len)
        for key, value in (("vocab", vocab.words), ("class_names", data.class_names)):
            saved = getattr(cfg, key)
            if saved and saved != value and key == "class_names":
                raise ZooError(f"the config has class_names={saved!r} but data '{cfg.data}' gives {value!r}; these fields are "
                               "filled from the data, so drop them from the config.")
            if not saved:
                setattr(cfg, key, list(value))
        return data

    @cached_property
    def encoded(self) -> np.ndarray:
        """Every text of the data set as (n, max_len) int64 ids."""
        return self.vocabulary.encode_batch(self.data.texts)

    def training_module(self, model: nn.Module) -> TextClassificationModule:
        return TextClassificationModule(model, self.encoded, self.data.labels, self.data.splits, self.config)

    def evaluate(self, predict: Predict) -> dict[str, float]:
        idx = self.data.splits["test"]
        proba = np.concatenate([predict({"tokens": self.encoded[part]})[0] for part in np.array_split(idx, max(1, len(idx) // 256))])
        scores = classification_metrics(self.data.labels[idx], np.asarray(proba, dtype=np.float64))
        return ({f"test/{k}": v for k, v in scores.items()} | {f"test/bow_logreg_{k}": v for k, v in self.baseline.items()}
                | {"test/rows": float(len(idx))})

    @cached_property
    def baseline(self) -> dict[str, float]:
        return bag_of_words_baseline(self.data, self.vocabulary, self.config.seed)

    def eval_report(self, metrics: dict[str, float]) -> list[Any]:
        from rich.table import Table

        table = Table(title=f"text-rnn ({self.config.cell}) vs. bag-of-words logistic regression on {self.data.name} (same split)")
        for col in ("metric", "text-rnn", "bag-of-words logreg"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for key, value in self.baseline.items():
            table.add_row(key, f"{metrics.get('test/' + key, float('nan')):.4f}", f"{value:.4f}")
        return [table]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        idx = self.data.splits[split]
        return {"tokens": np.ascontiguousarray(self.encoded[idx[np.arange(n) % len(idx)]])}

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        from zoo import io as zio

        zio.write_json(run_dir / "tokenizer.json", self.vocabulary.to_dict())
        zio.write_json(run_dir / "baseline.json", {"baseline": "bag-of-words logistic regression (scikit-learn)",
                                                   "test": self.baseline})

    def demo(self) -> DemoHook | None:
        texts = []
        try:
            texts = [t for t in self.data.rows("test")[0][:4]] if self.config.data in ("", "synthetic-reviews") else []
        except ZooError:
            pass
        return DemoHook(kind="text-classifier", title=f"text-rnn ({self.config.cell})",
                        description="Type a text: the model shows the probability of each class.",
                        examples=texts, extra={"text_column": self.config.text_column or "text"})

