"""Builder for ``DemoHook.kind == "memory-qa"``: a story and a question in, the answer word with its
probability (and the runners-up) out.

The story is cut into sentences with the tokenizer JSON's ``sentence_split`` regex, each sentence and the
question become int64 word ids with its word list (``document["tokenizer"]``: lowercase flag, token regex,
pad id, words per sentence, ``max_sentences``), so this module needs neither zoo nor torch and is copied
into generated Spaces. A memory network knows only the words of its stories, so an unknown word is refused
with the words it does know instead of being read as "unknown". Torch-free and zoo-free.
"""

from __future__ import annotations

import re
from typing import Any

import gradio as gr
import numpy as np

from demos.inputs import InputError
from demos.runtime import DemoModel, class_names, class_probabilities
from demos.text import MAX_TEXT_CHARS, Tokenizer
from demos.ui import header, user_errors

HOOK_EXAMPLES = "stories"  # DemoHook.examples of this kind: [story, question] pairs of strings
ENDPOINTS = ["answer"]
REQUIRES = ("demos.text",)  # other demos modules a generated Space needs beside this one
TOP = 5
HIDDEN = ("<pad>", "<unk>")


class StoryEncoder:
    """Story text + question text -> (story (1, max_sentences, words), query (1, words)) int64 ids."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.words = Tokenizer(doc)
        self.max_sentences = int(doc.get("max_sentences") or 0)
        if self.max_sentences < 1:
            raise ValueError("the model's tokenizer has no 'max_sentences'; re-export it with `zoo export`.")
        self.split = re.compile(str(doc.get("sentence_split") or r"[.!?\n]+"))

    def sentence(self, text: str, what: str) -> list[int]:
        ids = self.words.encode(text, what)
        unknown = [t for t, i in zip(self.words.tokens(text), ids) if i == self.words.unk_id]
        if unknown:
            known = ", ".join(w for w in list(self.words.index)[2:14])
            raise InputError(f"{what}: the model does not know the word '{unknown[0]}'; use words of its stories (e.g. {known}).")
        return ids

    def encode(self, story: Any, question: Any) -> dict[str, np.ndarray]:
        text = "" if story is None else str(story)
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"story has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}, send a shorter story.")
        sentences = [s.strip() for s in self.split.split(text) if s.strip()]
        if not sentences:
            raise InputError("story is empty; type a few sentences such as 'Mary went to the kitchen.'")
        if len(sentences) > self.max_sentences:
            raise InputError(f"story has {len(sentences)} sentences; this model remembers at most {self.max_sentences}, "
                             "keep the most recent ones.")
        width = self.words.max_len
        out = np.zeros((1, self.max_sentences, width), dtype=np.int64)
        for i, sentence in enumerate(sentences):
            ids = self.sentence(sentence, f"story sentence {i + 1}")
            out[0, i, : len(ids)] = ids
        query = np.zeros((1, width), dtype=np.int64)
        ids = self.sentence(self.split.sub(" ", "" if question is None else str(question)), "question")
        query[0, : len(ids)] = ids
        return {"story": out, "query": query}


class MemoryQA:
    def __init__(self, model: DemoModel) -> None:
        self.model = model
        self.encoder = StoryEncoder(model.document.get("tokenizer") or {})
        self.story_name, self.query_name = model.input_names[:2]
        self.meaning = model.document["outputs"][0].get("meaning")

    def answer(self, story: Any, question: Any) -> dict[str, float]:
        feeds = self.encoder.encode(story, question)
        raw = self.model.predict({self.story_name: feeds["story"], self.query_name: feeds["query"]})[0]
        p = class_probabilities(raw, self.meaning)[0]
        names = class_names(self.model.document, len(p))
        ranked = [i for i in np.argsort(-p, kind="stable") if names[i] not in HIDDEN][:TOP]
        return {names[i]: round(float(p[i]), 6) for i in ranked}


def build(model: DemoModel) -> None:
    """UI for ``model``; endpoint ``/<name>_answer`` (story, question -> the top answers and probabilities)."""
    qa = MemoryQA(model)
    pairs = [[str(s), str(q)] for s, q in model.examples.get("stories", [])]
    header(model.title, model.hook.get("description", ""),
           f"model <code>{model.name}</code> on {model.backend}; at most {qa.encoder.max_sentences} sentences of "
           f"{qa.encoder.words.max_len} words, {len(qa.encoder.words.index) - 2}-word vocabulary.")
    story = gr.Textbox(value=pairs[0][0] if pairs else "", lines=6, label="story", elem_id=f"{model.name}-story")
    question = gr.Textbox(value=pairs[0][1] if pairs else "", lines=1, label="question", elem_id=f"{model.name}-question")
    button = gr.Button("Answer", variant="primary", elem_id=f"{model.name}-answer")
    result = gr.Label(label="answer", num_top_classes=TOP, elem_id=f"{model.name}-result")
    button.click(user_errors(qa.answer), [story, question], result, api_name=f"{model.name}_answer")
    if len(pairs) > 1:
        gr.Examples(pairs, [story, question], label="Example stories from the held-out split")
