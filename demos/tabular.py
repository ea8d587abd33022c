"""Builder for ``DemoHook.kind == "tabular"``: rows of raw feature values in (typed into a table with the
feature names as columns, or a CSV upload), class probabilities out.

Feature names come from ``DemoHook.extra["feature_names"]``, else the document's config, else x1..xn.
An extra model output shaped like an image batch (batch, C, H, W) -- e.g. the picture a DeepInsight row
becomes -- is shown as images; a model without one shows probabilities only.
Torch-free and zoo-free (copied into generated Spaces).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from demos.inputs import parse_rows, read_csv_rows
from demos.runtime import DemoModel, class_names, class_probabilities
from demos.ui import header, user_errors

HOOK_EXAMPLES = "rows"  # DemoHook.examples of this kind: [[value, ...], ...] in feature order
ENDPOINTS = ["classify", "classify_csv"]  # API names are /<model>_<endpoint>


def feature_names(model: DemoModel) -> list[str]:
    count = int(model.document["inputs"][0]["shape"][-1])
    for names in (model.hook.get("extra", {}).get("feature_names"), model.document.get("config", {}).get("feature_names")):
        if names and len(names) == count:
            return [str(n) for n in names]
    return [f"x{i + 1}" for i in range(count)]


def image_outputs(model: DemoModel) -> list[int]:
    """Indices of outputs shaped (batch, C, H, W): pictures of the input the model exposes."""
    return [i for i, t in enumerate(model.document["outputs"]) if len(t["shape"]) == 4]


def to_picture(x: np.ndarray) -> np.ndarray:
    """(C, H, W) float values -> an 8-bit image scaled to its own range, enlarged so that pixels stay square."""
    x = np.asarray(x, dtype=np.float64)
    x = x[0] if x.shape[0] == 1 else np.transpose(x[:3], (1, 2, 0))
    low, high = float(np.min(x)), float(np.max(x))
    scaled = (x - low) / (high - low) if high > low else np.zeros_like(x)
    pixels = np.rint(scaled * 255).astype(np.uint8)
    factor = max(1, 192 // max(pixels.shape[:2]))
    return np.kron(pixels, np.ones((factor, factor) + (1,) * (pixels.ndim - 2), dtype=np.uint8))


class RowClassifier:
    def __init__(self, model: DemoModel) -> None:
        self.model = model
        self.input_name = model.input_names[0]
        self.features = feature_names(model)
        self.meaning = model.document["outputs"][0].get("meaning")
        self.pictures = image_outputs(model)

    def run(self, rows: np.ndarray) -> tuple[Any, ...]:
        outputs = self.model.predict({self.input_name: rows})
        probabilities = class_probabilities(outputs[0], self.meaning)
        names = class_names(self.model.document, probabilities.shape[1])
        first = {name: round(float(p), 6) for name, p in zip(names, probabilities[0])}
        table = [[i + 1, names[int(np.argmax(p))], *[round(float(v), 4) for v in p]] for i, p in enumerate(probabilities)]
        result: tuple[Any, ...] = (first, {"headers": ["row", "predicted", *names], "data": table})
        if self.pictures:
            images = outputs[self.pictures[0]]
            result += ([(to_picture(img), f"row {i + 1}") for i, img in enumerate(images[:24])],)
        return result

    def from_table(self, table: Any) -> tuple[Any, ...]:
        return self.run(parse_rows(table, self.features))

    def from_csv(self, path: str | None) -> tuple[Any, ...]:
        return self.run(read_csv_rows(path, self.features))


def build(model: DemoModel) -> None:
    """UI for ``model`` inside the caller's Blocks context; API endpoints ``/<name>_classify`` (table) and
    ``/<name>_classify_csv`` (CSV file) -> (probabilities of row 1, table of every row[, pictures])."""
    classifier = RowClassifier(model)
    rows = [list(map(float, r)) for r in model.examples.get("rows", [])]
    note = ("the model's pictures of each row are shown below" if classifier.pictures else
            "this model exports no picture of its input, so only probabilities are shown")
    header(model.title, model.hook.get("description", ""),
           f"model <code>{model.name}</code> on {model.backend}; raw values, no scaling needed ({note}).")
    table = gr.Dataframe(value=rows[:1] or [[0.0] * len(classifier.features)], headers=classifier.features,
                         datatype="number", type="array", column_count=len(classifier.features),
                         interactive=True, label="one row per sample (raw feature values)", elem_id=f"{model.name}-table")
    with gr.Row():
        button = gr.Button("Classify rows", variant="primary", elem_id=f"{model.name}-classify")
        csv_file = gr.File(label="or upload a CSV (header = feature names)", file_types=[".csv"], type="filepath",
                           elem_id=f"{model.name}-csv")
    with gr.Row():
        first = gr.Label(label="row 1: class probabilities", elem_id=f"{model.name}-result")
        per_row = gr.Dataframe(label="every row", interactive=False, elem_id=f"{model.name}-rows")
    outputs: list[Any] = [first, per_row]
    if classifier.pictures:
        outputs.append(gr.Gallery(label="what the model sees", columns=6, height=240))
    button.click(user_errors(classifier.from_table), table, outputs, api_name=f"{model.name}_classify")
    csv_file.upload(user_errors(classifier.from_csv), csv_file, outputs, api_name=f"{model.name}_classify_csv")
    if len(rows) > 1:
        gr.Examples([[[r]] for r in rows], [table], label="Example rows from the held-out split")
