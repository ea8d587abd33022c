"""Builder for ``DemoHook.kind == "text-classifier"``: a text box (or a CSV of texts) in, class probabilities out.

Texts become int64 token ids with the tokenizer JSON in the model's document (``document["tokenizer"]``:
lowercase flag, token regex, pad/unknown ids, maximum length, the word list), so this module needs neither
zoo nor torch: it is copied into generated Spaces. Torch-free and zoo-free.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from demos.inputs import InputError
from demos.runtime import DemoModel, class_names, class_probabilities
from demos.ui import header, user_errors

HOOK_EXAMPLES = "texts"  # DemoHook.examples of this kind: a list of strings
ENDPOINTS = ["classify", "classify_csv"]  # API names are /<model>_<endpoint>
MAX_TEXT_CHARS = 20_000
MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_CSV_ROWS = 1000


class Tokenizer:
    """The model's tokenizer, rebuilt from its JSON description alone."""

    def __init__(self, doc: dict[str, Any]) -> None:
        if not doc or doc.get("type") != "word-regex":
            raise ValueError("the model's document has no 'tokenizer' (word-regex) entry; re-export it with `zoo export`.")
        self.pattern = re.compile(doc["pattern"])
        self.lowercase = bool(doc.get("lowercase", True))
        self.pad_id, self.unk_id = int(doc["pad_id"]), int(doc["unk_id"])
        self.max_len = int(doc["max_len"])
        self.index = {w: i for i, w in enumerate(doc["vocab"])}

    def tokens(self, text: str) -> list[str]:
        return self.pattern.findall(text.lower() if self.lowercase else text)

    def encode(self, text: Any, what: str = "text") -> list[int]:
        """Ids of one text; refuses empty text, text without a single word the tokenizer reads, and text
        longer than the model's maximum length, each with a one-line reason."""
        if text is None or not str(text).strip():
            raise InputError(f"{what} is empty; type a sentence.")
        text = str(text)
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"{what} has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}, send a shorter text.")
        tokens = self.tokens(text)
        if not tokens:
            shown = "".join(sorted(set(text.strip())))[:20]
            raise InputError(f"{what} has no words the model reads (only characters such as {shown!r}); type words in the training language.")
        if len(tokens) > self.max_len:
            raise InputError(f"{what} has {len(tokens)} words; this model reads at most {self.max_len}, shorten it.")
        return [self.index.get(t, self.unk_id) for t in tokens]

    def batch(self, texts: list[Any], what: str = "text") -> np.ndarray:
        """(n, max_len) int64 ids, right-padded with the pad id (one width for every request, so concurrent
        requests stack into one batch; the model's prediction does not depend on the padding)."""
        encoded = [self.encode(t, what if len(texts) == 1 else f"{what} {i + 1}") for i, t in enumerate(texts)]
        out = np.full((len(encoded), self.max_len), self.pad_id, dtype=np.int64)
        for i, ids in enumerate(encoded):
            out[i, : len(ids)] = ids
        return out


def read_csv_texts(path: str | Path | None, column: str) -> list[str]:
    """Texts in column ``column`` of an uploaded CSV file."""
    if path is None:
        raise InputError(f"CSV: no file; upload a .csv file with a '{column}' column.")
    path = Path(path)
    if os.path.getsize(path) > MAX_CSV_BYTES:
        raise InputError(f"CSV: the file is larger than {MAX_CSV_BYTES // 1024 // 1024} MB; send fewer rows.")
    try:
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error):
        raise InputError(f"CSV: '{path.name}' is not a UTF-8 CSV file; save it as CSV (comma-separated) and upload that.") from None
    if not rows:
        raise InputError("CSV: the file is empty; it needs a header row and one text per row.")
    columns = [c.strip() for c in rows[0]]
    if column not in columns:
        raise InputError(f"CSV: no column '{column}' (columns: {', '.join(columns[:8])}); name the text column '{column}'.")
    k = columns.index(column)
    texts = [r[k] for r in rows[1:] if k < len(r) and r[k].strip()]
    if not texts:
        raise InputError(f"CSV: column '{column}' holds no text; fill it.")
    if len(texts) > MAX_CSV_ROWS:
        raise InputError(f"CSV: {len(texts)} texts; the limit is {MAX_CSV_ROWS}, send fewer rows.")
    return texts


class TextClassifier:
    def __init__(self, model: DemoModel) -> None:
        self.model = model
        self.tokenizer = Tokenizer(model.document.get("tokenizer") or {})
        self.input_name = model.input_names[0]
        self.meaning = model.document["outputs"][0].get("meaning")
        self.column = str(model.hook.get("extra", {}).get("text_column") or "text")

    def probabilities(self, texts: list[Any]) -> np.ndarray:
        ids = self.tokenizer.batch(texts)
        return class_probabilities(self.model.predict({self.input_name: ids})[0], self.meaning)

    def classify(self, text: Any) -> dict[str, float]:
        p = self.probabilities([text])[0]
        return {name: round(float(v), 6) for name, v in zip(class_names(self.model.document, len(p)), p)}

    def classify_csv(self, path: str | None) -> dict[str, Any]:
        texts = read_csv_texts(path, self.column)
        p = self.probabilities(texts)
        names = class_names(self.model.document, p.shape[1])
        rows = [[i + 1, names[int(np.argmax(r))], *[round(float(v), 4) for v in r], t[:80]] for i, (t, r) in enumerate(zip(texts, p))]
        return {"headers": ["row", "predicted", *names, "text"], "data": rows}


def build(model: DemoModel) -> None:
    """UI for ``model``; endpoints ``/<name>_classify`` (text -> probabilities) and ``/<name>_classify_csv``."""
    classifier = TextClassifier(model)
    texts = [str(t) for t in model.examples.get("texts", [])]
    header(model.title, model.hook.get("description", ""),
           f"model <code>{model.name}</code> on {model.backend}; at most {classifier.tokenizer.max_len} words, "
           f"{len(classifier.tokenizer.index):,}-word vocabulary (other words count as unknown).")
    box = gr.Textbox(value=texts[0] if texts else "", lines=3, label="text", elem_id=f"{model.name}-text")
    with gr.Row():
        button = gr.Button("Classify", variant="primary", elem_id=f"{model.name}-classify")
        csv_file = gr.File(label=f"or upload a CSV with a '{classifier.column}' column", file_types=[".csv"], type="filepath",
                           elem_id=f"{model.name}-csv")
    result = gr.Label(label="class probabilities", elem_id=f"{model.name}-result")
    table = gr.Dataframe(label="every text of the CSV", interactive=False, elem_id=f"{model.name}-rows")
    button.click(user_errors(classifier.classify), box, result, api_name=f"{model.name}_classify")
    csv_file.upload(user_errors(classifier.classify_csv), csv_file, table, api_name=f"{model.name}_classify_csv")
    if len(texts) > 1:
        gr.Examples([[t] for t in texts], [box], label="Example texts from the held-out split")
