"""`memn2n`: the End-To-End Memory Network (Sukhbaatar et al. 2015) on bAbI-style question answering.

Stories, questions and answers become int64 ids with a vocabulary built from the training questions
(``zoo.data.babi``); the vocabulary is a derived config field, saved in config.json, ``tokenizer.json``
and the ONNX metadata (with ``memory_size`` and the sentence splitter), so the zoo-free demo turns typed
text into the model's inputs. Baselines on the same test questions: the majority answer, the last
location mentioned in the story, and bag-of-words logistic regression (story and question words).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.data.babi import (LOCATIONS, QA, BabiDataset, answer_token, build_vocabulary, encode, load_babi_set,
                           sentence_length, words)
from zoo.data.text import Vocabulary
from zoo.errors import ZooError
from zoo.models.memn2n import CARD
from zoo.models.memn2n.config import MemN2NConfig
from zoo.models.memn2n.network import MemN2NNet
from zoo.registry import DemoHook, ExportSpec, Predict, Preprocessing, TensorSpec, ZooModel, register
from zoo.tasks.base import StepModule

SENTENCE_SPLIT = r"[.!?\n]+"  # how the demo cuts a typed story into sentences


def trim(story: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop trailing all-empty sentences and all-pad word columns (predictions are unchanged)."""
    rows = (story != 0).any(axis=2)
    s = max(1, int(((np.arange(story.shape[1]) + 1) * rows).max(initial=1)))  # up to the last non-empty one
    w = max(1, int((story[:, :s] != 0).sum(axis=2).max(initial=1)), int((query != 0).sum(axis=1).max(initial=1)))
    return story[:, :s, :w], query[:, :w]


def insert_noise(story: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Random noise (RN): empty memories inserted at random places of each story (room permitting)."""
    out = np.zeros_like(story)
    for i, row in enumerate(story):
        real = row[(row != 0).any(axis=1)]
        room = story.shape[1] - len(real)
        k = min(room, int(rng.binomial(len(real), share))) if len(real) else 0
        slots = np.sort(rng.choice(len(real) + k, size=len(real), replace=False)) if k else np.arange(len(real))
        out[i, slots] = real
    return out


class MemN2NModule(StepModule):
    """Mini-batches of (story, query, answer), cross-entropy over the vocabulary; linear start for the first
    epochs, random noise; selects on validation accuracy."""

    def __init__(self, model: MemN2NNet, arrays: tuple[np.ndarray, np.ndarray, np.ndarray], splits: dict[str, np.ndarray],
                 config: MemN2NConfig) -> None:
        super().__init__(model, config)
        self.story, self.query, self.answer = arrays
        self.train_rows, self.val_rows = splits["train"], splits["val"]

    def steps_per_epoch(self) -> int:
        return self.rows_steps(len(self.train_rows))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        epoch, positions = self.batch_positions(len(self.train_rows))
        self.model.linear = epoch < self.config.linear_start
        rows = self.train_rows[positions]
        story = self.story[rows]
        if self.config.random_noise:
            story = insert_noise(story, self.config.random_noise, np.random.default_rng([self.config.seed, self.global_step]))
        story, query = trim(story, self.query[rows])
        logits = self.model.logits(torch.from_numpy(story).to(self.device), torch.from_numpy(query).to(self.device))
        loss = F.cross_entropy(logits, torch.from_numpy(self.answer[rows]).to(self.device))
        self.log("train/loss", loss, prog_bar=True, batch_size=len(rows))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        linear, self.model.linear = self.model.linear, False
        story, query = trim(self.story[self.val_rows], self.query[self.val_rows])
        y = torch.from_numpy(self.answer[self.val_rows]).to(self.device)
        z = self.model.logits(torch.from_numpy(story).to(self.device), torch.from_numpy(query).to(self.device))
        self.model.linear = linear
        self.log("val/acc", float((z.argmax(1) == y).float().mean()), prog_bar=True, batch_size=len(y))
        self.log("val/loss", float(F.cross_entropy(z, y)), batch_size=len(y))

    def on_train_end(self) -> None:
        self.model.linear = False


# -- baselines -----------------------------------------------------------------------------------------------

def last_location(qa: QA, candidates: set[str]) -> str:
    """The last word of the story that is a known answer location (the "last location mentioned" baseline)."""
    for sentence in reversed(qa.story):
        for word in reversed(words(sentence)):
            if word in candidates:
                return word
    return ""


def baselines(data: BabiDataset, seed: int) -> dict[str, float]:
    """Test accuracy of the majority training answer, the last location mentioned, and bag-of-words logistic
    regression over separate story and question word counts."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    train, test = data.rows("train"), data.rows("test")
    y_train = [answer_token(q.answer) for q in train]
    y_test = np.asarray([answer_token(q.answer) for q in test])
    values, counts = np.unique(y_train, return_counts=True)
    majority = values[np.argmax(counts)]
    places = set(y_train) | set(LOCATIONS)
    last = np.asarray([last_location(q, places) for q in test])
    vec_story = CountVectorizer(tokenizer=words, lowercase=False, token_pattern=None)
    vec_query = CountVectorizer(tokenizer=words, lowercase=False, token_pattern=None)

    def features(rows: list[QA], fit: bool = False) -> Any:
        stories, queries = [" ".join(q.story) for q in rows], [q.question for q in rows]
        if fit:
            return hstack([vec_story.fit_transform(stories), vec_query.fit_transform(queries)]).tocsr()
        return hstack([vec_story.transform(stories), vec_query.transform(queries)]).tocsr()

    model = LogisticRegression(max_iter=2000, random_state=seed).fit(features(train, True), y_train)
    bow = model.predict(features(test))
    return {"majority_acc": float((y_test == majority).mean()), "last_location_acc": float((y_test == last).mean()),
            "bow_logreg_acc": float((y_test == bow).mean())}


@register
class MemN2N(ZooModel):
    card = CARD
    Config = MemN2NConfig
    config: MemN2NConfig

    # -- shapes and description ----------------------------------------------------------------------------
    def _ensure_vocab(self) -> None:
        if not self.config.vocab or not self.config.sentence_len:
            self.data  # noqa: B018  (load_data fills vocab and sentence_len)

    @property
    def vocabulary(self) -> Vocabulary:
        self._ensure_vocab()
        from zoo.data.babi import BABI_PATTERN

        return Vocabulary(list(self.config.vocab), self.config.sentence_len, pattern=BABI_PATTERN)

    def build_model(self) -> MemN2NNet:
        self._ensure_vocab()
        cfg = self.config
        torch.manual_seed(cfg.seed)
        return MemN2NNet(len(cfg.vocab), cfg.dim, cfg.hops, cfg.memory_size, cfg.encoding, cfg.temporal, cfg.tying)

    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec("story", ("batch", "sentences", "words"), dtype="int64",
                           description=("word ids of the story, one row per sentence (oldest first, at most memory_size), "
                                        "0-padded; empty sentences are ignored")),
                TensorSpec("query", ("batch", "query_words"), dtype="int64", description="word ids of the question, 0-padded")]

    def outputs(self) -> list[TensorSpec]:
        self._ensure_vocab()
        return [TensorSpec("probabilities", ("batch", len(self.config.vocab)), meaning="probabilities",
                           description="probability of each vocabulary word being the answer (softmax)")]

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(kind="none", notes=("story -> sentences (split on . ! ? and new lines) -> ids with the 'tokenizer' "
                                                 f"JSON (lowercase [a-z0-9]+ words, 0 = pad, 1 = unknown), the last "
                                                 f"{self.config.memory_size} sentences, oldest first, 0-padded"))

    def labels(self) -> list[str] | None:
        self._ensure_vocab()
        return list(self.config.vocab)

    def tokenizer(self) -> dict[str, Any]:
        return {**self.vocabulary.to_dict(), "max_sentences": self.config.memory_size, "sentence_split": SENTENCE_SPLIT}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tokenizer": self.tokenizer()}

    def export_spec(self) -> ExportSpec:
        return ExportSpec(axis_sizes={"sentences": (1, 3, self.config.memory_size + 2), "words": (1, 9), "query_words": (1, 9)})

    def resize_axis(self, inputs: dict[str, np.ndarray], axis: str, size: int) -> dict[str, np.ndarray]:
        """Sentences or words cut to the first ``size``, or 0-padded to ``size``: real inputs."""
        name, dim = {"sentences": ("story", 1), "words": ("story", 2), "query_words": ("query", 1)}.get(axis, ("", 0))
        if not name:
            return super().resize_axis(inputs, axis, size)
        value = inputs[name]
        if size <= value.shape[dim]:
            resized = np.take(value, np.arange(size), axis=dim)
        else:
            pad = [(0, 0)] * value.ndim
            pad[dim] = (0, size - value.shape[dim])
            resized = np.pad(value, pad)
        return {**inputs, name: np.ascontiguousarray(resized)}

    # -- data, training, evaluation ------------------------------------------------------------------------
    def load_data(self) -> BabiDataset:
        cfg = self.config
        data = load_babi_set(cfg.data or self.default_data, cfg.task, data_dir=cfg.data_dir, examples=cfg.examples,
                             seed=cfg.seed, val_size=cfg.val_size)
        train = data.rows("train")
        if not cfg.sentence_len:
            cfg.sentence_len = sentence_length(train)
        if not cfg.vocab:
            cfg.vocab = list(build_vocabulary(train, cfg.sentence_len).words)
        return data

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(story, query, answer) of every question, int64."""
        return encode(self.data.questions, self.vocabulary, self.config.memory_size)

    def training_module(self, model: nn.Module) -> MemN2NModule:
        return MemN2NModule(model, self.arrays, self.data.splits, self.config)

    def evaluate(self, predict: Predict) -> dict[str, float]:
        idx = self.data.splits["test"]
        story, query, answer = (a[idx] for a in self.arrays)
        parts = np.array_split(np.arange(len(idx)), max(1, len(idx) // 256))
        proba = np.concatenate([predict(dict(zip(("story", "query"), trim(story[p], query[p]))))[0] for p in parts])
        pred = proba.argmax(axis=1)
        return ({"test/acc": float((pred == answer).mean()),
                 "test/error": float((pred != answer).mean())}
                | {f"test/{k}": v for k, v in self.baseline.items()} | {"test/questions": float(len(idx))})

    @cached_property
    def baseline(self) -> dict[str, float]:
        return baselines(self.data, self.config.seed)

    def eval_report(self, metrics: dict[str, float]) -> list[Any]:
        return [f"memn2n test accuracy {metrics.get('test/acc', float('nan')):.4f} on {self.data.name} vs. majority answer "
                f"{self.baseline['majority_acc']:.4f}, last location mentioned {self.baseline['last_location_acc']:.4f}, "
                f"bag-of-words logistic regression {self.baseline['bow_logreg_acc']:.4f} (same test questions)."]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        idx = self.data.splits[split]
        rows = idx[np.arange(n) % len(idx)]
        story, query = trim(self.arrays[0][rows], self.arrays[1][rows])
        if story.shape[1] < 2 or story.shape[2] < 2 or query.shape[1] < 2:  # torch.export needs sizes > 1 to keep axes dynamic
            story = np.pad(story, ((0, 0), (0, max(0, 2 - story.shape[1])), (0, max(0, 2 - story.shape[2]))))
            query = np.pad(query, ((0, 0), (0, max(0, 2 - query.shape[1]))))
        return {"story": np.ascontiguousarray(story), "query": np.ascontiguousarray(query)}

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        from zoo import io as zio

        zio.write_json(run_dir / "tokenizer.json", self.tokenizer())
        zio.write_json(run_dir / "baseline.json", {"baselines": "majority answer, last location mentioned, bag-of-words "
                                                   "logistic regression (scikit-learn)", "test": self.baseline})

    def demo(self) -> DemoHook | None:
        examples: list[list[str]] = []
        try:
            if self.config.data in ("", "babi-generated"):
                examples = [["\n".join(q.story), q.question] for q in self.data.rows("test")[:4]]
        except ZooError:
            pass
        return DemoHook(kind="memory-qa", title=f"memn2n (bAbI task {self.config.task})",
                        description="Type a story (one sentence per line or separated by full stops) and a question: "
                                    "the memory network answers with a word of its vocabulary.",
                        examples=examples, extra={"max_sentences": self.config.memory_size})
