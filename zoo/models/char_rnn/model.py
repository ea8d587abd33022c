"""`char-rnn`: a character-level LSTM language model, exported as one step.

The network maps character ids (batch, time) and the LSTM states (batch, layers, hidden) to next-character
logits at every position (batch, time, vocab) and the states after the last position. That single graph
serves every use: training reads whole windows with zero states (teacher forcing: the input is the text, the
target the text shifted by one); evaluation reads the held-out text chunk by chunk, carrying the states;
generation reads the prime in one call and then one character per call, sampling outside the graph
(:mod:`demos.text_generator`, shared by `zoo generate` and the demo). States are batch-first so every zoo
tool that slices or stacks rows along axis 0 (parity, calibration, the demo's request batching) works as is.

The test metric is perplexity on the last ``test_size`` of the text (text the model never read), next to
add-one smoothed unigram and bigram perplexities counted on the training text.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.data.chars import CharCorpus, CharVocabulary, load_chars, ngram_perplexities
from zoo.errors import ZooError
from zoo.models.char_rnn import CARD
from zoo.models.char_rnn.config import CharRNNConfig
from zoo.registry import DemoHook, ExportSpec, Predict, Preprocessing, TensorSpec, ZooModel, register
from zoo.tasks.base import StepModule

TIME_SIZES = (1, 7, 64)  # sequence lengths parity is checked at (with batch sizes 1, 7, 64)
EVAL_STREAMS = 16  # the held-out text is read as this many contiguous streams in parallel
EVAL_CHUNK = 128  # characters per call while reading them (states carried between calls)
EXAMPLE_LEN = 32  # characters per example input row


class CharRNNNet(nn.Module):
    """forward(ids (B, T) int64, h (B, L, H), c (B, L, H)) -> (logits (B, T, V), h_next, c_next)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        state = (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())
        out, (h_next, c_next) = self.lstm(self.embedding(ids), state)
        return self.head(self.dropout(out)), h_next.transpose(0, 1), c_next.transpose(0, 1)


def stream_nll(predict: Predict, ids: np.ndarray, layers: int, hidden: int, streams: int = EVAL_STREAMS,
               chunk: int = EVAL_CHUNK) -> tuple[float, int]:
    """(summed negative log-likelihood in nats, characters predicted) of ``ids`` read as ``streams``
    contiguous parts in parallel, ``chunk`` characters per call, the states carried from call to call."""
    streams = max(1, min(streams, (len(ids) - 1) // 8))
    length = (len(ids) - 1) // streams
    x = ids[: streams * length].reshape(streams, length)
    y = ids[1: streams * length + 1].reshape(streams, length)
    h = np.zeros((streams, layers, hidden), dtype=np.float32)
    c = np.zeros_like(h)
    total = 0.0
    for start in range(0, length, chunk):
        logits, h, c = predict({"ids": np.ascontiguousarray(x[:, start:start + chunk]), "h": h, "c": c})[:3]
        z = np.asarray(logits, dtype=np.float64)
        z = z - z.max(axis=-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        target = y[:, start:start + chunk]
        total -= float(np.take_along_axis(log_p, target[..., None], axis=-1).sum())
        h, c = np.asarray(h, dtype=np.float32), np.asarray(c, dtype=np.float32)
    return total, streams * length


class LanguageModelModule(StepModule):
    """Teacher forcing on windows of ``seq_len + 1`` training characters (zero initial states); an epoch
    reads every training character once, the window grid shifted by a seeded offset each epoch. Selects on
    validation perplexity."""

    monitor = "val/perplexity"
    monitor_mode = "min"

    def __init__(self, model: CharRNNNet, train_ids: np.ndarray, val_ids: np.ndarray, config: CharRNNConfig) -> None:
        super().__init__(model, config)
        self.train_ids, self.val_ids = train_ids, val_ids
        self.windows = len(train_ids) // config.seq_len - 1

    def steps_per_epoch(self) -> int:
        return self.rows_steps(self.windows)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        cfg = self.config
        epoch, positions = self.batch_positions(self.windows)
        shift = int(np.random.default_rng([cfg.seed, epoch]).integers(cfg.seq_len))
        starts = shift + np.asarray(positions) * cfg.seq_len
        rows = torch.from_numpy(self.train_ids[starts[:, None] + np.arange(cfg.seq_len + 1)[None, :]]).to(self.device)
        zeros = torch.zeros(len(starts), cfg.layers, cfg.hidden, device=self.device)
        logits, _, _ = self.model(rows[:, :-1], zeros, zeros)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))
        self.log("train/loss", loss, prog_bar=True, batch_size=len(starts))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        def predict(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            with torch.no_grad():
                out = self.model(*(torch.from_numpy(feeds[k]).to(self.device) for k in ("ids", "h", "c")))
            return [o.float().cpu().numpy() for o in out]

        nll, count = stream_nll(predict, self.val_ids, self.config.layers, self.config.hidden)
        self.log("val/perplexity", float(np.exp(nll / count)), prog_bar=True, batch_size=count)
        self.log("val/loss", nll / count, batch_size=count)


@register
class CharRNN(ZooModel):
    card = CARD
    Config = CharRNNConfig
    config: CharRNNConfig

    # -- shapes and description ----------------------------------------------------------------------------
    @property
    def vocabulary(self) -> CharVocabulary:
        if not self.config.chars:
            self.data  # noqa: B018  (load_data fills the character list)
        return CharVocabulary(list(self.config.chars))

    def build_model(self) -> CharRNNNet:
        cfg = self.config
        vocab = self.vocabulary
        torch.manual_seed(cfg.seed)
        return CharRNNNet(len(vocab.chars), cfg.embed_dim, cfg.hidden, cfg.layers, cfg.dropout)

    def _state_spec(self, name: str, what: str) -> TensorSpec:
        cfg = self.config
        return TensorSpec(name, ("batch", cfg.layers, cfg.hidden), description=what)

    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec("ids", ("batch", "time"), dtype="int64", description="character ids from the tokenizer JSON ('chars': id = position)"),
                self._state_spec("h", "LSTM hidden state per layer (zeros at the start of a text; else h_next of the previous call)"),
                self._state_spec("c", "LSTM cell state per layer (zeros at the start of a text; else c_next of the previous call)")]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("logits", ("batch", "time", len(self.vocabulary.chars)), meaning="logits",
                           description="next-character logits after each input position; sample softmax(logits / temperature)"),
                self._state_spec("h_next", "hidden state after the last input position (feed back as h)"),
                self._state_spec("c_next", "cell state after the last input position (feed back as c)")]

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(kind="none", notes=("text -> ids with the 'tokenizer' JSON (id = position in 'chars'; no unknown id); "
                                                 "states start at zeros and are fed back from h_next/c_next; sample the next "
                                                 "character from softmax(last logits / temperature)"))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tokenizer": self.vocabulary.to_dict()}

    def export_spec(self) -> ExportSpec:
        return ExportSpec(axis_sizes={"time": TIME_SIZES})

    # -- data, training, evaluation ------------------------------------------------------------------------
    def load_data(self) -> CharCorpus:
        cfg = self.config
        corpus = load_chars(cfg.data or self.default_data, limit=cfg.limit, val_size=cfg.val_size, test_size=cfg.test_size)
        train_chars = corpus.splits["train"][1]
        if train_chars < 2 * cfg.seq_len + 1:
            raise ZooError(f"the training part of {corpus.name} has {train_chars} characters: too few for --seq-len {cfg.seq_len} "
                           f"(need {2 * cfg.seq_len + 1}); use a longer text or a shorter --seq-len.")
        # every character of the text (all splits: test text must be encodable; this is only the alphabet)
        chars = CharVocabulary.build(corpus.text).chars
        if cfg.chars and cfg.chars != chars:
            missing = sorted(set(chars) - set(cfg.chars))
            if missing:
                raise ZooError(f"the config's character list lacks {missing[:8]} found in {corpus.name}; it is filled from the "
                               "data, so drop 'chars' from the config.")
        if not cfg.chars:
            cfg.chars = chars
        return corpus

    @cached_property
    def encoded(self) -> dict[str, np.ndarray]:
        vocab = self.vocabulary
        return {split: vocab.encode(self.data.part(split), f"the {split} text") for split in ("train", "val", "test")}

    def training_module(self, model: nn.Module) -> LanguageModelModule:
        return LanguageModelModule(model, self.encoded["train"], self.encoded["val"], self.config)

    def evaluate(self, predict: Predict) -> dict[str, float]:
        nll, count = stream_nll(predict, self.encoded["test"], self.config.layers, self.config.hidden)
        return ({"test/perplexity": float(np.exp(nll / count)), "test/bits_per_char": nll / count / np.log(2)}
                | {f"test/{k}": v for k, v in self.baseline.items()} | {"test/chars": float(count)})

    @cached_property
    def baseline(self) -> dict[str, float]:
        return ngram_perplexities(self.vocabulary, self.data.part("train"), self.data.part("test"))

    def eval_report(self, metrics: dict[str, float]) -> list[str]:
        ours = metrics.get("test/perplexity", float("nan"))
        uni, bi = (metrics.get(f"test/{k}_perplexity", float("nan")) for k in ("unigram", "bigram"))
        return [f"char-rnn test perplexity {ours:.3f} ({metrics.get('test/bits_per_char', float('nan')):.3f} bits/char) vs. "
                f"add-one bigram {bi:.3f} and unigram {uni:.3f} on the same held-out text "
                f"({'better' if ours < min(uni, bi) else 'not better'} than both)."]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        """``n`` windows of held-out characters with LSTM states as they are mid-text: row 0 starts a text
        (zero states); the others carry seeded random states in the range an LSTM's states take (h in
        (-1, 1), c unbounded), so a graph that ignores or mangles its state inputs fails the parity check.
        (Real mid-text states would need the network, which this description does not hold.)"""
        cfg = self.config
        ids = self.encoded[split]
        width = min(EXAMPLE_LEN, len(ids))
        starts = (np.arange(n) * 97) % max(1, len(ids) - width + 1)
        rng = np.random.default_rng([cfg.seed, n, 1 if split == "test" else 0])
        h = rng.uniform(-0.95, 0.95, (n, cfg.layers, cfg.hidden)).astype(np.float32)
        c = (rng.standard_normal((n, cfg.layers, cfg.hidden)) * 1.5).astype(np.float32)
        h[:1], c[:1] = 0.0, 0.0
        return {"ids": np.ascontiguousarray(ids[starts[:, None] + np.arange(width)[None, :]]), "h": h, "c": c}

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        from zoo import io as zio

        zio.write_json(run_dir / "tokenizer.json", self.vocabulary.to_dict())
        zio.write_json(run_dir / "baseline.json", {"baseline": "add-one smoothed character n-grams counted on the training text",
                                                   "test": self.baseline})

    def demo(self) -> DemoHook | None:
        primes: list[str] = []
        try:
            test = self.data.part("test")
            primes = [line for line in test.splitlines() if line.strip()][:3]
        except ZooError:
            pass
        return DemoHook(kind="text-generator", title="char-rnn",
                        description=("Type the start of a text: the model continues it one character at a time, each drawn "
                                     "from softmax(logits / temperature). Low temperature: safe and repetitive; high: "
                                     "inventive and misspelt."),
                        examples=primes, extra={"layers": self.config.layers, "hidden": self.config.hidden})
