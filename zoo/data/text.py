"""Text for the sequence models (torch-free): a word vocabulary that travels as JSON, labelled text sets
(generated reviews, IMDB through a real downloader, a user's CSV) and a seeded stratified split.

The tokenizer is *data*: :meth:`Vocabulary.to_dict` holds the lowercase flag, the token regex, the pad and
unknown ids, the maximum length and the word list, so any consumer (the torch-free demo, a Space, another
language) turns raw text into the model's ids from that JSON alone, with no zoo code.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import OfflineError, ZooError, first_line

TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z]+)?|[!?]"  # words, contractions ("isn't"), and ! ? which carry sentiment
PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
TEXT_SEED = 20240601

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"


def tokenize(text: str, pattern: str = TOKEN_PATTERN, lowercase: bool = True) -> list[str]:
    return re.findall(pattern, text.lower() if lowercase else text)


@dataclass
class Vocabulary:
    """Word <-> id. Id 0 pads (right padding; the network derives lengths from ``ids != 0``), id 1 is unknown."""

    words: list[str]  # index = id; words[0] = PAD, words[1] = UNK
    max_len: int
    pattern: str = TOKEN_PATTERN
    lowercase: bool = True
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.words[:2] != [PAD, UNK]:
            raise ZooError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {self.words[:2]}. Rebuild it from the data.")
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: list[str], *, max_size: int, max_len: int, min_count: int = 1) -> Vocabulary:
        """The ``max_size`` most frequent tokens of ``texts`` (ties broken alphabetically), after PAD and UNK."""
        counts = Counter(t for text in texts for t in tokenize(text))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK, *ranked[: max(0, max_size - 2)]], max_len)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``'s tokens (unknown words -> UNK), not truncated or padded."""
        return [self.index.get(t, UNK_ID) for t in tokenize(text, self.pattern, self.lowercase)]

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """(n, max_len) int64 ids, right-padded with 0; longer texts are cut to their first ``max_len`` tokens."""
        out = np.zeros((len(texts), self.max_len), dtype=np.int64)
        for i, text in enumerate(texts):
            ids = (self.encode(text) or [UNK_ID])[: self.max_len]  # an empty text reads as one unknown word
            out[i, : len(ids)] = ids
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "word-regex", "lowercase": self.lowercase, "pattern": self.pattern, "pad_id": PAD_ID,
                "unk_id": UNK_ID, "padding": "right", "max_len": self.max_len, "vocab": list(self.words)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Vocabulary:
        if doc.get("type") != "word-regex" or not isinstance(doc.get("vocab"), list):
            raise ZooError("the tokenizer JSON is not a zoo word-regex vocabulary (needs type 'word-regex' and a 'vocab' list); re-export the model.")
        return cls(list(doc["vocab"]), int(doc["max_len"]), doc.get("pattern", TOKEN_PATTERN), bool(doc.get("lowercase", True)))


@dataclass
class TextDataset:
    """Labelled texts and a seeded split (``splits`` holds row indices)."""

    name: str
    texts: list[str]
    labels: np.ndarray  # int64 (n,)
    class_names: list[str]
    license: str
    splits: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self, split: str) -> tuple[list[str], np.ndarray]:
        idx = self.splits[split]
        return [self.texts[i] for i in idx], self.labels[idx]


# -- generated reviews -------------------------------------------------------------------------------------

SUBJECTS = ["the film", "the movie", "the plot", "the acting", "the story", "the soundtrack", "the ending", "the script",
            "the cast", "the director's work", "this picture", "the dialogue", "the pacing", "the camera work"]
POSITIVE = ["good", "great", "wonderful", "brilliant", "moving", "clever", "charming", "gripping", "superb", "funny",
            "beautiful", "delightful", "fresh", "touching", "excellent"]
NEGATIVE = ["bad", "dull", "boring", "awful", "weak", "clumsy", "tedious", "predictable", "silly", "terrible", "bland",
            "messy", "forgettable", "painful", "poor"]
NEGATORS = ["not", "never", "hardly", "not at all"]
INTENSIFIERS = ["", "", "really", "very", "quite", "truly", "rather"]
VERBS = ["was", "is", "felt", "seemed"]
FILLERS = ["i saw it on a rainy sunday", "my friend picked it", "we watched it at home", "it runs for two hours",
           "the cinema was full", "i had read the book first", "the trailer was everywhere", "it opened last week"]
CONTRASTS = ["but", "yet", "although", "however"]


def _clause(rng: np.random.Generator) -> tuple[str, int]:
    """One opinion clause and its polarity (+1/-1): an adjective's polarity, flipped by a negator."""
    positive = bool(rng.integers(2))
    adjective = str(rng.choice(POSITIVE if positive else NEGATIVE))
    negated = rng.random() < 0.4
    words = [str(rng.choice(SUBJECTS)), str(rng.choice(VERBS))]
    if negated:
        words.append(str(rng.choice(NEGATORS)))
    intensifier = str(rng.choice(INTENSIFIERS))
    words += [intensifier, adjective] if intensifier else [adjective]
    return " ".join(words), (1 if positive else -1) * (-1 if negated else 1)


def generate_reviews(n: int, seed: int = TEXT_SEED) -> tuple[list[str], np.ndarray]:
    """``n`` short generated movie reviews labelled 0 (negative) / 1 (positive).

    The label is the polarity of the *last* opinion clause ("the plot was dull, but the acting was not bad"
    is positive), and a negator flips an adjective's polarity, so word order and scope matter: a bag of
    words sees the same words in "not good, but great" and "great, but not good". Neutral filler clauses
    add length and noise."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        first, polarity = _clause(rng)
        parts = [first]
        if rng.random() < 0.3:
            parts.insert(0, str(rng.choice(FILLERS)) + " .")
        if rng.random() < 0.55:
            second, polarity = _clause(rng)
            parts.append(f", {rng.choice(CONTRASTS)} {second}")
        if rng.random() < 0.25:
            parts.append(". " + str(rng.choice(FILLERS)))
        text = " ".join(parts).replace(" ,", ",").replace(" .", ".")
        if rng.random() < 0.15:
            text += " !"
        texts.append(text)
        labels.append(int(polarity > 0))
    return texts, np.asarray(labels, dtype=np.int64)


def load_reviews(n: int = 6000, seed: int = TEXT_SEED) -> TextDataset:
    texts, labels = generate_reviews(n, seed)
    return TextDataset("synthetic-reviews", texts, labels, ["negative", "positive"], "generated (zoo, seeded)")


def load_reviews_set(data_dir: str | Path | None = None, **_: Any) -> TextDataset:
    """``synthetic-reviews`` for the data catalog (``zoo data``)."""
    return load_reviews()


# -- IMDB (real downloader) --------------------------------------------------------------------------------

def default_data_dir(data_dir: str | Path | None) -> Path:
    import os

    return Path(data_dir or os.environ.get("ZOO_DATA_DIR") or Path.home() / ".cache" / "zoo" / "data").expanduser()


def _extract(archive: Path, root: Path) -> None:
    """Extract a .tar.gz or .zip into ``root``, refusing members that would land outside it."""
    import tarfile
    import zipfile

    root = root.resolve()
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if not (root / name).resolve().is_relative_to(root):
                    raise ZooError(f"{archive} holds a member outside its folder ({name}); refusing to extract it.")
            z.extractall(root)
        return
    with tarfile.open(archive, "r:*") as tar:
        tar.extractall(root, filter="data")  # "data": no absolute paths, links out of root or device files


def _fetch(url: str, md5: str | None, root: Path, archive_name: str, name: str, layout: str) -> Path:
    """``root/archive_name``, downloaded (md5-checked) when absent; an offline machine gets a one-line hint."""
    archive = root / archive_name
    if archive.is_file():
        return archive
    from torchvision.datasets.utils import download_url

    try:
        download_url(url, str(root), filename=archive_name, md5=md5)
    except Exception as exc:  # URLError, RuntimeError (checksum), ... when offline or blocked
        raise OfflineError(f"could not download {name} into {root} ({first_line(exc, limit=160)}); without network, "
                           f"place {archive_name} or the extracted {layout} there yourself and pass --data-dir {root}.") from None
    return archive


def load_imdb(data_dir: str | Path | None = None, *, limit: int = 0) -> TextDataset:
    """IMDB movie reviews (Maas et al. 2011): ``DATA_DIR/aclImdb/{train,test}/{neg,pos}/*.txt``, extracted from
    ``aclImdb_v1.tar.gz`` (downloaded, md5-checked, when absent). ``limit`` > 0 keeps that many reviews per
    folder (quick runs). The official train/test halves are kept as a "train_mask"."""
    root = default_data_dir(data_dir)
    folder = root / "aclImdb"
    if not (folder / "train" / "pos").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        _extract(_fetch(IMDB_URL, IMDB_MD5, root, "aclImdb_v1.tar.gz", "imdb", "aclImdb/{train,test}/{neg,pos}/*.txt"), root)
    texts, labels, train = [], [], []
    for part in ("train", "test"):
        for label, cls in enumerate(("neg", "pos")):
            files = sorted((folder / part / cls).glob("*.txt"))
            if not files:
                raise ZooError(f"{folder / part / cls} has no .txt reviews; re-extract aclImdb_v1.tar.gz into {root}.")
            for path in files[: limit or None]:
                texts.append(path.read_text(encoding="utf-8", errors="replace").replace("<br />", " "))
                labels.append(label)
                train.append(part == "train")
    data = TextDataset("imdb", texts, np.asarray(labels, dtype=np.int64), ["negative", "positive"],
                       "IMDB reviews (Maas et al. 2011), for research use")
    data.splits["_train_mask"] = np.asarray(train)
    return data


# -- a user's CSV ------------------------------------------------------------------------------------------

def load_text_csv(path: str | Path, text_column: str, target: str) -> TextDataset:
    """Texts in column ``text_column`` and class labels in column ``target`` of a CSV file."""
    from zoo.data.tabular import read_csv

    path = Path(path).expanduser()
    frame = read_csv(path)
    columns = ", ".join(map(str, frame.columns[:12]))
    for flag, column in (("--text-column", text_column), ("--target", target)):
        if not column:
            raise ZooError(f"{path} needs {flag} naming its column; its columns are: {columns}.")
        if column not in frame.columns:
            raise ZooError(f"column '{column}' ({flag}) is not in {path}; its columns are: {columns}.")
    frame = frame[[text_column, target]]
    if frame[target].isna().any():
        row = int(np.argmax(frame[target].isna().to_numpy())) + 2
        raise ZooError(f"target column '{target}' of {path} is empty on line {row}; fill it or drop the row.")
    texts = frame[text_column].fillna("").astype(str).tolist()
    empty = [i for i, t in enumerate(texts) if not tokenize(t)]
    if empty:
        raise ZooError(f"text column '{text_column}' of {path} has no words on line {empty[0] + 2} "
                       f"({len(empty)} such row(s)); drop those rows.")
    raw = frame[target].astype(str).str.strip()
    classes = sorted(set(raw))
    if len(classes) < 2:
        raise ZooError(f"target column '{target}' of {path} holds one class ({classes[0]!r}); a classifier needs at least 2.")
    index = {c: i for i, c in enumerate(classes)}
    return TextDataset(path.name, texts, np.asarray([index[v] for v in raw], dtype=np.int64), classes, "your data")


def load_text(data: str, *, data_dir: Path | None, text_column: str = "", target: str = "", seed: int = 0,
              val_size: float = 0.15, test_size: float = 0.2, limit: int = 0) -> TextDataset:
    """The named text set (``synthetic-reviews``, ``imdb``) or a CSV file, with a seeded stratified split."""

    is_csv = data.lower().endswith(".csv")
    if (text_column or target) and not is_csv:
        raise ZooError(f"--text-column/--target apply to CSV files; the built-in data set {data} has its own, so drop them.")
    if is_csv:
        dataset = load_text_csv(data, text_column, target)
    elif data == "synthetic-reviews":
        dataset = load_reviews()
    elif data == "imdb":
        dataset = load_imdb(data_dir, limit=limit)
    else:
        raise ZooError(f"unknown text data set '{data}'; use synthetic-reviews, imdb or a CSV file with --text-column and --target.")
    if limit and dataset.name != "imdb" and limit < len(dataset.texts):  # imdb applies it per folder
        dataset = TextDataset(dataset.name, dataset.texts[:limit], dataset.labels[:limit], dataset.class_names, dataset.license)
    # keep the official test half (imdb) as the test split
    dataset.splits.update(stratified_splits(data, dataset.labels, test_size, val_size, seed,
                                            train_mask=dataset.splits.pop("_train_mask", None)))
    return dataset


def stratified_splits(data: str, labels: np.ndarray, test_size: float, val_size: float, seed: int, *,
                      train_mask: np.ndarray | None = None, unit: str = "class") -> dict[str, np.ndarray]:
    """Sorted train/val/test row indices stratified by ``labels`` (``train_mask``: fixed train+val rows, the
    rest is the test split); a set too small for every ``unit`` in each split is a one-line ZooError."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    try:
        if train_mask is not None:
            rest, test = idx[train_mask], idx[~train_mask]
        else:
            rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=labels)
        train, val = train_test_split(rest, test_size=val_size / (1 - test_size), random_state=seed,
                                      stratify=labels[rest])
    except ValueError as exc:
        raise ZooError(f"{data} is too small for a {val_size:.0%}/{test_size:.0%} validation/test split with every {unit} "
                       f"in each ({first_line(exc)}); add rows (at least a few per {unit}).") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
