"""Builder for ``DemoHook.kind == "image-pair"``: a model scoring whether two images show the same class
(its first two inputs are images, its first output a probability or logit).

Tab "Compare": two images (upload, webcam, clipboard, or drawn on a sketchpad) -> match probability and a
same/different verdict. Tab "One-shot classify": one example image per class and a query -> the classes
ranked by match probability, all pairs scored in one batched model call.
Torch-free and zoo-free (copied into generated Spaces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from demos.inputs import InputError, image_to_array, load_image
from demos.runtime import DemoModel, match_probability
from demos.ui import drawing_to_image, header, image_input, sketchpad, user_errors

HOOK_EXAMPLES = "pairs"  # DemoHook.examples of this kind: [[left image path, right image path], ...]
ENDPOINTS = ["compare", "one_shot"]  # API names are /<model>_<endpoint>
MAX_SUPPORT = 64  # example images in one one-shot request
SAME, DIFFERENT = "same", "different"


class PairScorer:
    """The model side of the tab, free of Gradio: image files in, probabilities out."""

    def __init__(self, model: DemoModel) -> None:
        self.model = model
        self.left_name, self.right_name = model.input_names[:2]
        self.meaning = model.document["outputs"][0].get("meaning")

    def array(self, path: str | None, what: str) -> np.ndarray:
        return image_to_array(load_image(path, what), self.model.preprocessing)

    def scores(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        out = self.model.predict({self.left_name: left, self.right_name: right})[0]
        return match_probability(out, self.meaning)

    def compare(self, left: str | None, right: str | None) -> tuple[float, dict[str, float]]:
        """(match probability, {"same": p, "different": 1 - p}): the verdict is the larger, i.e. same iff p >= 0.5."""
        a, b = self.array(left, "left image"), self.array(right, "right image")
        p = float(self.scores(a[None], b[None])[0])
        return round(p, 6), {SAME: round(p, 6), DIFFERENT: round(1 - p, 6)}

    def one_shot(self, support: list[Any] | None, query: str | None) -> dict[str, float]:
        if not support:
            raise InputError("examples: none given; add one image per class to the gallery (its file name or caption names the class).")
        if len(support) > MAX_SUPPORT:
            raise InputError(f"examples: {len(support)} images; the limit is {MAX_SUPPORT}, keep one image per class.")
        q = self.array(query, "query image")
        labels, arrays = [], []
        for i, item in enumerate(support, 1):
            path, caption = (item[0], item[1]) if isinstance(item, (list, tuple)) else (item, None)
            arrays.append(self.array(path, f"example {i}"))
            labels.append(class_label(path, caption, i))
        p = self.scores(np.repeat(q[None], len(arrays), axis=0), np.stack(arrays))
        best: dict[str, float] = {}
        for label, score in zip(labels, p):
            best[label] = max(best.get(label, 0.0), round(float(score), 6))
        return dict(sorted(best.items(), key=lambda kv: -kv[1]))


def class_label(path: str | Path | None, caption: str | None, index: int) -> str:
    """A class name for a support image: its caption, else its file name without the extension."""
    if caption and caption.strip():
        return caption.strip()
    stem = Path(str(path or "")).stem
    return stem or f"class {index}"


def _side(label: str, value: str | None, elem_id: str) -> gr.Image:
    with gr.Column():
        with gr.Tab("Image"):
            image = image_input(label, value, elem_id=elem_id)
        with gr.Tab("Draw"):
            pad = sketchpad(f"pick the brush (left), then draw the {label.split()[0]} character", elem_id=f"{elem_id}-draw")
        pad.change(drawing_to_image, pad, image, queue=False, api_visibility="private", show_progress="hidden")
    return image


def build(model: DemoModel) -> None:
    """The two tabs for ``model``, inside the caller's Blocks context; API endpoints ``/<name>_compare``
    (left, right -> probability, verdict) and ``/<name>_one_shot`` (gallery, query -> ranked classes)."""
    scorer = PairScorer(model)
    ex = model.examples
    pairs: list[list[str]] = [list(p) for p in ex.get("pairs", [])]
    first = pairs[0] if pairs else [None, None]
    header(model.title, model.hook.get("description", ""),
           f"model <code>{model.name}</code> on {model.backend}; the two images are compared after: "
           f"{model.preprocessing.get('notes') or 'the model preprocessing'}.")
    with gr.Tab("Compare"):
        with gr.Row():
            left = _side("left image", first[0], f"{model.name}-left")
            right = _side("right image", first[1], f"{model.name}-right")
        button = gr.Button("Compare", variant="primary", elem_id=f"{model.name}-compare")
        with gr.Row():
            score = gr.Number(None, label="match probability (same class)", elem_id=f"{model.name}-score")
            verdict = gr.Label(label="verdict (same if the probability is at least 0.5)", elem_id=f"{model.name}-verdict")
        button.click(user_errors(scorer.compare), [left, right], [score, verdict], api_name=f"{model.name}_compare")
        if pairs:
            gr.Examples(pairs, [left, right], label=ex.get("pairs_label", "Example pairs"),
                        example_labels=ex.get("pair_labels") or None)
    with gr.Tab("One-shot classify"):
        support_value = [(path, label) for path, label in ex.get("support", [])]
        queries = ex.get("queries", [])
        gr.Markdown("Add **one example image per class** (the file name or the caption is the class name), then a "
                    "query: every class is scored against the query in one batched call.")
        with gr.Row():
            support = gr.Gallery(value=support_value or None, label="one example per class", type="filepath",
                                 interactive=True, file_types=["image"], columns=5, height=260,
                                 elem_id=f"{model.name}-support")
            query = image_input("query image", queries[0] if queries else None, elem_id=f"{model.name}-query")
        classify = gr.Button("Classify", variant="primary", elem_id=f"{model.name}-classify")
        ranked = gr.Label(label="classes by match probability", num_top_classes=10, elem_id=f"{model.name}-ranked")
        classify.click(user_errors(scorer.one_shot), [support, query], ranked, api_name=f"{model.name}_one_shot")
        if queries:
            gr.Examples([[q] for q in queries], [query], label="Example queries")
