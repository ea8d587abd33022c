"""Pairs of texts labelled same (1) / different (0) meaning, for `siamese-lstm` (torch-free).

``synthetic-paraphrases`` (generated, offline, seeded): every sentence states one event "AGENT VERB
PATIENT" in one of four word orders (active, passive, subject cleft, object cleft) with an optional
time phrase. A pair says the same thing when both sentences name the same agent and patient, in any
two forms ("the cat chased anna" / "anna was chased by the cat"), and different things when the two
roles are swapped ("anna chased the cat"). Both sentences always use the same verb and the same two
participants, and the form of each side is drawn independently of the label, so the two texts of a
"different" pair hold exactly the words of a "same" pair: word overlap and bags of words carry no
information about the label (measured: near chance), only word order does.

A user's CSV (``--data FILE.csv``) gives two text columns (``--left-column``, ``--right-column``) and a
0/1 label column (``--target``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.text import stratified_splits, tokenize
from zoo.errors import ZooError

PAIR_SEED = 20240615
ENTITIES = ["the cat", "the dog", "the teacher", "the doctor", "the farmer", "the pilot", "the child", "the nurse",
            "the baker", "the singer", "anna", "ben", "carla", "david", "emma", "felix", "grace", "henry"]
VERBS = ["chased", "followed", "called", "helped", "pushed", "visited", "thanked", "watched", "greeted", "praised",
         "blamed", "painted", "warned", "invited", "rescued", "ignored", "trusted", "admired"]
TIMES = ["yesterday", "this morning", "last week", "at noon", "on monday", "after lunch"]
FORMS = ("active", "passive", "subject-cleft", "object-cleft")


def sentence(agent: str, verb: str, patient: str, form: str, time: str = "") -> str:
    """One event in one word order; ``time`` (possibly empty) goes first or last."""
    core = {"active": f"{agent} {verb} {patient}",
            "passive": f"{patient} was {verb} by {agent}",
            "subject-cleft": f"it was {agent} who {verb} {patient}",
            "object-cleft": f"it was {patient} that {agent} {verb}"}[form]
    if not time:
        return core
    return f"{time} {core}" if len(time) % 2 else f"{core} {time}"


def generate_paraphrases(n: int, seed: int = PAIR_SEED) -> tuple[list[str], list[str], np.ndarray]:
    """``n`` (left, right, label) pairs, half of them the same event (see module docstring)."""
    rng = np.random.default_rng(seed)
    left, right, labels = [], [], []
    for i in range(n):
        a, p = rng.choice(len(ENTITIES), size=2, replace=False)
        agent, patient, verb = ENTITIES[a], ENTITIES[p], str(rng.choice(VERBS))
        same = bool(rng.integers(2))
        forms = rng.choice(FORMS, size=2)
        times = [str(rng.choice(TIMES)) if rng.random() < 0.3 else "" for _ in range(2)]
        left.append(sentence(agent, verb, patient, str(forms[0]), times[0]))
        right.append(sentence(agent, verb, patient, str(forms[1]), times[1]) if same
                     else sentence(patient, verb, agent, str(forms[1]), times[1]))
        labels.append(int(same))
    return left, right, np.asarray(labels, dtype=np.int64)


@dataclass
class PairDataset:
    """Labelled text pairs and a seeded stratified split (``splits`` holds row indices)."""

    name: str
    left: list[str]
    right: list[str]
    labels: np.ndarray  # int64 (n,), 1 = same meaning
    license: str
    splits: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self, split: str) -> tuple[list[str], list[str], np.ndarray]:
        idx = self.splits[split]
        return [self.left[i] for i in idx], [self.right[i] for i in idx], self.labels[idx]

    @property
    def texts(self) -> list[str]:
        return self.left + self.right


def load_pair_csv(path: str | Path, left_column: str, right_column: str, target: str) -> PairDataset:
    """Two text columns and a 0/1 label column of a CSV file."""
    from zoo.data.tabular import read_csv

    path = Path(path).expanduser()
    frame = read_csv(path)
    columns = ", ".join(map(str, frame.columns[:12]))
    for flag, column in (("--left-column", left_column), ("--right-column", right_column), ("--target", target)):
        if not column:
            raise ZooError(f"{path} needs {flag} naming its column; its columns are: {columns}.")
        if column not in frame.columns:
            raise ZooError(f"column '{column}' ({flag}) is not in {path}; its columns are: {columns}.")
    texts = {}
    for column in (left_column, right_column):
        values = frame[column].fillna("").astype(str).tolist()
        empty = [i for i, t in enumerate(values) if not tokenize(t)]
        if empty:
            raise ZooError(f"text column '{column}' of {path} has no words on line {empty[0] + 2} "
                           f"({len(empty)} such row(s)); drop those rows.")
        texts[column] = values
    raw = frame[target].astype(str).str.strip().str.lower()
    mapping = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}
    bad = [i for i, v in enumerate(raw) if v not in mapping]
    if bad:
        raise ZooError(f"target column '{target}' of {path} must hold 0 or 1; line {bad[0] + 2} has "
                       f"{frame[target].iloc[bad[0]]!r}.")
    labels = np.asarray([mapping[v] for v in raw], dtype=np.int64)
    if len(set(labels.tolist())) < 2:
        raise ZooError(f"target column '{target}' of {path} holds one label only; a pair model needs both 0 and 1.")
    return PairDataset(path.name, texts[left_column], texts[right_column], labels, "your data")


def load_pairs(data: str, *, left_column: str = "", right_column: str = "", target: str = "", seed: int = 0,
               val_size: float = 0.15, test_size: float = 0.2, limit: int = 0, size: int = 8000) -> PairDataset:
    """``synthetic-paraphrases`` (``size`` pairs) or a CSV file, with a seeded stratified split."""
    is_csv = data.lower().endswith(".csv")
    if (left_column or right_column or target) and not is_csv:
        raise ZooError(f"--left-column/--right-column/--target apply to CSV files; the built-in data set {data} "
                       "has its own, so drop them.")
    if is_csv:
        dataset = load_pair_csv(data, left_column, right_column, target)
    elif data == "synthetic-paraphrases":
        left, right, labels = generate_paraphrases(min(size, limit) if limit else size)
        dataset = PairDataset(data, left, right, labels, "generated (zoo, seeded)")
    else:
        raise ZooError(f"unknown text-pair data set '{data}'; use synthetic-paraphrases or a CSV file with "
                       "--left-column, --right-column and --target.")
    if limit and limit < len(dataset.left):
        dataset = PairDataset(dataset.name, dataset.left[:limit], dataset.right[:limit], dataset.labels[:limit], dataset.license)
    dataset.splits.update(stratified_splits(data, dataset.labels, test_size, val_size, seed, unit="label"))
    return dataset


def load_paraphrases_set(data_dir: Any = None, **_: Any) -> PairDataset:
    """``synthetic-paraphrases`` for the data catalog."""
    return load_pairs("synthetic-paraphrases")
