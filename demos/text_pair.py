"""Builder for ``DemoHook.kind == "text-pair"``: two text boxes in, the probability that they say the same thing out.

A model of this kind has two int64 token inputs (its first two inputs, left and right) and a probability or
logit as its first output (``siamese-lstm``). Both texts become ids with the tokenizer JSON in the model's
document (:class:`demos.text.Tokenizer`: empty text, text without words and text longer than the model's
maximum length are refused with a one-line reason, and the demo keeps answering).
Torch-free and zoo-free (copied into generated Spaces, with ``REQUIRES``).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.runtime import DemoModel, match_probability
from demos.text import Tokenizer
from demos.ui import header, user_errors

HOOK_EXAMPLES = "pairs"  # DemoHook.examples of this kind: [[left text, right text], ...]
ENDPOINTS = ["compare"]  # API names are /<model>_<endpoint>
REQUIRES = ("demos.text",)  # other demos modules this builder imports (a generated Space copies them too)
SAME, DIFFERENT = "same", "different"


class TextPairScorer:
    """The model side of the demo, free of Gradio: two texts in, P(same) out."""

    def __init__(self, model: DemoModel) -> None:
        self.model = model
        self.tokenizer = Tokenizer(model.document.get("tokenizer") or {})
        self.left_name, self.right_name = model.input_names[:2]
        self.meaning = model.document["outputs"][0].get("meaning")

    def probability(self, left: Any, right: Any) -> float:
        feeds = {self.left_name: self.tokenizer.batch([left], "first text"),
                 self.right_name: self.tokenizer.batch([right], "second text")}
        return float(match_probability(self.model.predict(feeds)[0], self.meaning)[0])

    def compare(self, left: Any, right: Any) -> tuple[float, dict[str, float]]:
        """(probability that both texts say the same thing, {"same": p, "different": 1 - p})."""
        p = self.probability(left, right)
        return round(p, 6), {SAME: round(p, 6), DIFFERENT: round(1 - p, 6)}


def build(model: DemoModel) -> None:
    """UI for ``model``, inside the caller's Blocks context; endpoint ``/<name>_compare`` (left, right -> p, verdict)."""
    scorer = TextPairScorer(model)
    pairs = [[str(a), str(b)] for a, b in model.examples.get("pairs", [])]
    first = pairs[0] if pairs else ["", ""]
    header(model.title, model.hook.get("description", ""),
           f"model <code>{model.name}</code> on {model.backend}; at most {scorer.tokenizer.max_len} words per text, "
           f"{len(scorer.tokenizer.index):,}-word vocabulary (other words count as unknown).")
    with gr.Row():
        left = gr.Textbox(value=first[0], lines=2, label="first text", elem_id=f"{model.name}-left")
        right = gr.Textbox(value=first[1], lines=2, label="second text", elem_id=f"{model.name}-right")
    button = gr.Button("Compare", variant="primary", elem_id=f"{model.name}-compare")
    with gr.Row():
        score = gr.Number(None, label="probability that they say the same thing", elem_id=f"{model.name}-score")
        verdict = gr.Label(label="verdict (same if the probability is at least 0.5)", elem_id=f"{model.name}-verdict")
    button.click(user_errors(scorer.compare), [left, right], [score, verdict], api_name=f"{model.name}_compare")
    if pairs:
        gr.Examples(pairs, [left, right], label="Example pairs from the held-out split")
