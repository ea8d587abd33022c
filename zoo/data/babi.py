"""bAbI-style question answering (torch-free): a seeded generator of stories for task 1 (single supporting
fact) and task 2 (two supporting facts), the real Facebook bAbI tasks (``tasks_1-20_v1-2.tar.gz``) through a
downloader and a parser of their format, and the encoding into padded int64 arrays for `memn2n`.

A story is a list of sentences; each question is one example whose memory is every story sentence before
it (questions are not memories, as in Sukhbaatar et al. 2015). Words are lowercase ``[a-z0-9]+`` tokens;
the vocabulary (a :class:`zoo.data.text.Vocabulary`, id 0 = pad, 1 = unknown) holds every word of the
training stories, questions and answers, so the answer is a softmax over vocabulary words.
"""

from __future__ import annotations

import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.text import PAD, UNK, Vocabulary, _fetch, default_data_dir
from zoo.errors import ZooError

BABI_PATTERN = r"[a-z0-9]+"
BABI_SEED = 20150331
BABI_URL = "https://s3.amazonaws.com/text-datasets/babi_tasks_1-20_v1-2.tar.gz"
BABI_ARCHIVE = "tasks_1-20_v1-2.tar.gz"
BABI_LICENSE = "CC BY 3.0 (Facebook bAbI tasks, Weston et al. 2015)"
GENERATED_LICENSE = "generated (zoo, seeded)"

PEOPLE = ["Mary", "John", "Daniel", "Sandra"]
LOCATIONS = ["bathroom", "hallway", "kitchen", "office", "garden", "bedroom"]
MOVES = ["moved to", "went to", "journeyed to", "travelled to", "went back to"]
OBJECTS = ["football", "apple", "milk"]
GETS = ["got", "grabbed", "picked up", "took"]
DROPS = ["dropped", "put down", "discarded", "left"]


@dataclass
class QA:
    """One question about a story: ``story`` holds the sentences before it (oldest first)."""

    story: list[str]
    question: str
    answer: str
    supporting: list[int]  # indices into ``story`` of the facts the answer rests on


def words(text: str) -> list[str]:
    return re.findall(BABI_PATTERN, text.lower())


# -- the generator -----------------------------------------------------------------------------------------

def _task1_story(rng: np.random.Generator, questions: int) -> list[QA]:
    """Two moves, then "Where is X?" about someone whose place is known; ``questions`` times."""
    place: dict[str, tuple[str, int]] = {}
    story: list[str] = []
    out = []
    for _ in range(questions):
        for _ in range(2):
            person, location = str(rng.choice(PEOPLE)), str(rng.choice(LOCATIONS))
            place[person] = (location, len(story))
            story.append(f"{person} {rng.choice(MOVES)} the {location}.")
        person = str(rng.choice(sorted(place)))
        out.append(QA(list(story), f"Where is {person}?", place[person][0], [place[person][1]]))
    return out


def _task2_story(rng: np.random.Generator, questions: int) -> list[QA]:
    """People move and get/drop objects; "Where is the OBJECT?" once its place is known: the place of the
    person holding it (supporting: the get and that person's last move) or where it was dropped."""
    place: dict[str, tuple[str, int]] = {}  # person -> (location, fact index)
    holder: dict[str, tuple[str, int]] = {}  # object -> (person, fact index of the get)
    dropped: dict[str, tuple[str, int, int]] = {}  # object -> (location, drop fact, move fact)
    story: list[str] = []
    out = []

    def known(obj: str) -> tuple[str, list[int]] | None:
        if obj in holder:
            person, got = holder[obj]
            return place[person][0], sorted({got, place[person][1]})
        if obj in dropped:
            location, drop, move = dropped[obj]
            return location, sorted({drop, move})
        return None

    for _ in range(questions):
        for _ in range(int(rng.integers(2, 7))):
            person = str(rng.choice(PEOPLE))
            held = [o for o, (p, _) in holder.items() if p == person]
            free = [o for o in OBJECTS if o not in holder]
            roll = rng.random()
            if person in place and held and roll < 0.2:
                obj = str(rng.choice(held))
                dropped[obj] = (place[person][0], len(story), place[person][1])
                del holder[obj]
                story.append(f"{person} {rng.choice(DROPS)} the {obj}.")
                continue
            here = [o for o in free if o not in dropped or dropped[o][0] == place.get(person, ("", 0))[0]]
            if person in place and here and roll < 0.45:
                obj = str(rng.choice(here))
                holder[obj] = (person, len(story))
                dropped.pop(obj, None)
                story.append(f"{person} {rng.choice(GETS)} the {obj} there.")
                continue
            location = str(rng.choice(LOCATIONS))
            place[person] = (location, len(story))
            story.append(f"{person} {rng.choice(MOVES)} the {location}.")
        answerable = [o for o in OBJECTS if known(o) is not None]
        if not answerable:
            continue
        obj = str(rng.choice(answerable))
        location, support = known(obj)  # type: ignore[misc]
        out.append(QA(list(story), f"Where is the {obj}?", location, support))
    return out


def generate_babi(task: int, n: int, seed: int = BABI_SEED) -> list[QA]:
    """``n`` questions of generated bAbI task ``task`` (1 or 2), in stories of 5 questions; the same seed
    gives the same questions."""
    if task not in (1, 2):
        raise ZooError(f"the bAbI generator makes tasks 1 and 2, not {task}; use --task 1 or 2, or --data babi for all 20.")
    rng = np.random.default_rng([seed, task])
    make = _task1_story if task == 1 else _task2_story
    out: list[QA] = []
    while len(out) < n:
        out.extend(make(rng, 5))
    return out[:n]


# -- the real bAbI format ------------------------------------------------------------------------------------

def parse_babi(text: str, source: str = "bAbI file") -> list[QA]:
    """Questions of a bAbI file: numbered lines, numbering restarts at 1 with each story; a question line is
    ``N question?<TAB>answer<TAB>supporting line numbers``."""
    out: list[QA] = []
    story: list[str] = []
    line_of: dict[int, int] = {}  # bAbI line number -> index into story
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        head, _, rest = raw.strip().partition(" ")
        if not head.isdigit():
            raise ZooError(f"{source} line {lineno} does not start with a sentence number ({raw[:40]!r}); "
                           "is it a bAbI tasks file (qaN_*_train.txt)?")
        number = int(head)
        if number == 1:
            story, line_of = [], {}
        if "\t" in rest:
            parts = rest.split("\t")
            if len(parts) < 2 or not parts[1].strip():
                raise ZooError(f"{source} line {lineno} is a question without an answer ({raw[:60]!r}).")
            support = [line_of[int(s)] for s in parts[2].split()] if len(parts) > 2 and parts[2].strip() else []
            out.append(QA(list(story), parts[0].strip(), parts[1].strip(), support))
        else:
            line_of[number] = len(story)
            story.append(rest.strip())
    if not out:
        raise ZooError(f"{source} holds no question lines; is it a bAbI tasks file?")
    return out


def read_babi_archive(archive: Path, task: int, subset: str = "en") -> tuple[list[QA], list[QA]]:
    """(train, test) questions of task ``task`` from ``tasks_1-20_v1-2.tar.gz`` (read in place, nothing
    extracted); ``subset`` is the archive folder: en (1k questions per task), en-10k, ..."""
    if not 1 <= task <= 20:
        raise ZooError(f"bAbI has tasks 1 to 20, not {task}; pass --task between 1 and 20.")
    try:
        with tarfile.open(archive, "r:*") as tar:
            found: dict[str, list[QA]] = {}
            for member in tar.getmembers():
                match = re.search(rf"(?:^|/){re.escape(subset)}/qa{task}_[a-z-]+_(train|test)\.txt$", member.name)
                if match and member.isfile():
                    raw = tar.extractfile(member)
                    assert raw is not None
                    found[match.group(1)] = parse_babi(raw.read().decode("utf-8"), f"{archive.name}:{member.name}")
    except tarfile.TarError as exc:
        raise ZooError(f"{archive} is not a readable tar.gz ({exc}); delete it and download it again.") from None
    if set(found) != {"train", "test"}:
        raise ZooError(f"{archive} has no {subset}/qa{task}_*_train.txt and _test.txt; is it tasks_1-20_v1-2.tar.gz?")
    return found["train"], found["test"]


def load_babi(task: int, data_dir: str | Path | None = None, subset: str = "en") -> tuple[list[QA], list[QA]]:
    """The Facebook bAbI task ``task`` (train, test): ``DATA_DIR/tasks_1-20_v1-2.tar.gz``, downloaded when absent."""
    root = default_data_dir(data_dir)
    archive = root / BABI_ARCHIVE
    if not archive.is_file():
        root.mkdir(parents=True, exist_ok=True)
        _fetch(BABI_URL, None, root, BABI_ARCHIVE, "babi", BABI_ARCHIVE)
    return read_babi_archive(archive, task, subset)


# -- data set and encoding ----------------------------------------------------------------------------------

@dataclass
class BabiDataset:
    """Questions of one task with a seeded split (``splits`` holds indices into ``questions``)."""

    name: str
    task: int
    questions: list[QA]
    license: str
    splits: dict[str, np.ndarray] = field(default_factory=dict)

    def rows(self, split: str) -> list[QA]:
        return [self.questions[i] for i in self.splits[split]]


def load_babi_set(data: str, task: int, *, data_dir: Path | None = None, examples: int = 1000, seed: int = 0,
                  val_size: float = 0.1) -> BabiDataset:
    """``babi-generated`` (``examples`` training + as many test questions), ``babi`` (1k) or ``babi-10k``; the
    validation split is a seeded ``val_size`` share of the training questions (as in the paper)."""
    if data == "babi-generated":
        train = generate_babi(task, examples, BABI_SEED)
        test = generate_babi(task, examples, BABI_SEED + 1)
        name, license_ = f"babi-generated task {task}", GENERATED_LICENSE
    elif data in ("babi", "babi-10k"):
        train, test = load_babi(task, data_dir, "en" if data == "babi" else "en-10k")
        if examples:
            train = train[:examples]
        name, license_ = f"{data} task {task}", BABI_LICENSE
    else:
        raise ZooError(f"unknown bAbI data set '{data}'; use babi-generated (offline), babi or babi-10k (downloaded).")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    n_val = max(1, int(round(len(train) * val_size)))
    data_set = BabiDataset(name, task, train + test, license_)
    data_set.splits = {"train": np.sort(order[n_val:]), "val": np.sort(order[:n_val]),
                       "test": np.arange(len(train), len(train) + len(test))}
    return data_set


def load_generated_set(data_dir: str | Path | None = None, **_: Any) -> BabiDataset:
    """``babi-generated`` (task 1) for the data catalog (``zoo data``)."""
    return load_babi_set("babi-generated", 1)


def load_real_set(data_dir: str | Path | None = None, **_: Any) -> BabiDataset:
    """``babi`` task 1 (1k) for the data catalog (``zoo data``); downloads the archive when absent."""
    return load_babi_set("babi", 1, data_dir=Path(data_dir) if data_dir else None)


def build_vocabulary(questions: list[QA], sentence_len: int) -> Vocabulary:
    """Every word of the stories, questions and answers (most frequent first, ties alphabetical), after pad
    and unknown. A multi-word answer ("football,apple" in some real tasks) is one vocabulary entry."""
    counts: Counter[str] = Counter()
    for qa in questions:
        for sentence in (*qa.story, qa.question):
            counts.update(words(sentence))
        counts[answer_token(qa.answer)] += 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return Vocabulary([PAD, UNK, *ranked], sentence_len, pattern=BABI_PATTERN)


def answer_token(answer: str) -> str:
    token = words(answer)
    return token[0] if len(token) == 1 else answer.strip().lower()


def sentence_length(questions: list[QA]) -> int:
    """Most words in one sentence or question."""
    return max(len(words(s)) for qa in questions for s in (*qa.story, qa.question))


def encode(questions: list[QA], vocab: Vocabulary, memory_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(story (n, memory_size, L), query (n, L), answer (n,)) int64; the last ``memory_size`` sentences of each
    story, oldest first, right-padded with empty sentences; sentences cut to L = ``vocab.max_len`` words.
    An answer outside the vocabulary is the unknown id."""
    n, width = len(questions), vocab.max_len
    story = np.zeros((n, memory_size, width), dtype=np.int64)
    query = np.zeros((n, width), dtype=np.int64)
    answer = np.zeros(n, dtype=np.int64)
    for i, qa in enumerate(questions):
        for j, sentence in enumerate(qa.story[-memory_size:]):
            ids = vocab.encode(sentence)[:width]
            story[i, j, : len(ids)] = ids
        ids = vocab.encode(qa.question)[:width]
        query[i, : len(ids)] = ids
        answer[i] = vocab.index.get(answer_token(qa.answer), vocab.index[UNK])
    return story, query, answer
