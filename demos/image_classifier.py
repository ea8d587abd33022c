"""Builder for ``DemoHook.kind == "image-classifier"``: one image in, class scores out (logits or
probabilities, class names from the document's labels) -> the top-k classes with probabilities.
A model whose document has a further output of meaning ``image`` (e.g. capsnet's reconstruction, pixels
in [0, 1]) also gets that picture, from a second endpoint ``/<model>_reconstruct``.
A model served from PyTorch weights (``DemoModel.explain`` set) gets an "Explain" tab: Grad-CAM of the upload
(endpoint ``/<model>_explain``); ONNX-only demos (Spaces) have no gradients, so no tab.
With ``DemoHook.extra["rotations"]`` (degrees per class, as rotnet's), it also shows the upload turned
back upright by the predicted angle (endpoint ``/<model>_upright``).
Torch-free and zoo-free (copied into generated Spaces).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from demos.inputs import image_to_array, load_image
from demos.runtime import DemoModel, class_names, class_probabilities
from demos.ui import drawing_to_image, image_input, image_model_header, sketchpad, user_errors

HOOK_EXAMPLES = "images"  # DemoHook.examples of this kind: [image path, ...]
ENDPOINTS = ["classify"]  # API names are /<model>_<endpoint>
DEFAULT_TOP_K = 5


class Classifier:
    def __init__(self, model: DemoModel) -> None:
        self.model = model
        self.input_name = model.input_names[0]
        self.meaning = model.document["outputs"][0].get("meaning")
        self.top_k = int(model.hook.get("extra", {}).get("top_k", DEFAULT_TOP_K))
        outputs = model.document["outputs"]
        self.image_output = next((i for i, t in enumerate(outputs) if i > 0 and t.get("meaning") == "image"), None)

    def outputs(self, image: str | None) -> list[np.ndarray]:
        x = image_to_array(load_image(image, "image"), self.model.preprocessing)
        return self.model.predict({self.input_name: x[None]})

    def classify(self, image: str | None) -> dict[str, float]:
        probabilities = class_probabilities(self.outputs(image)[0], self.meaning)[0]
        names = class_names(self.model.document, len(probabilities))
        ranked = sorted(zip(names, probabilities), key=lambda kv: -kv[1])[: self.top_k]
        return {name: round(float(p), 6) for name, p in ranked}

    def reconstruct(self, image: str | None) -> np.ndarray:
        """The model's image output for ``image``: (C, H, W) pixels in [0, 1] -> an 8-bit H x W (grey) or H x W x 3 picture."""
        assert self.image_output is not None
        picture = np.asarray(self.outputs(image)[self.image_output][0], dtype=np.float64)
        picture = np.clip(np.rint(picture * 255), 0, 255).astype(np.uint8)
        return picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)
    def upright(self, image: str | None) -> tuple[Any, str]:
        """(the upload rotated back by the predicted angle, a sentence naming that angle); needs
        ``extra["rotations"]``: the counter-clockwise angle in degrees of each output class."""
        angles = self.model.hook.get("extra", {}).get("rotations")
        if not angles:
            raise ValueError(f"{self.model.name} does not predict rotations; its demo has no upright view.")
        picture = load_image(image, "image")
        x = image_to_array(picture, self.model.preprocessing)
        probabilities = class_probabilities(self.model.predict({self.input_name: x[None]})[0], self.meaning)[0]
        best = int(np.argmax(probabilities))
        angle = int(angles[best])
        turned = picture.rotate(-angle, expand=True) if angle else picture.copy()
        return turned, f"predicted: rotated {angle} degrees counter-clockwise ({100 * probabilities[best]:.1f}%); shown turned back by {-angle % 360}"


def build(model: DemoModel) -> None:
    """UI for ``model`` inside the caller's Blocks context; API endpoint ``/<name>_classify`` (image -> top-k)."""
    classifier = Classifier(model)
    images = model.examples.get("images", [])
    image_model_header(model)
    with gr.Row():
        with gr.Column():
            with gr.Tab("Image"):
                image = image_input("image", images[0] if images else None, elem_id=f"{model.name}-image")
            with gr.Tab("Draw"):
                pad = sketchpad("pick the brush (left), then draw", elem_id=f"{model.name}-draw")
            pad.change(drawing_to_image, pad, image, queue=False, api_visibility="private", show_progress="hidden")
            button = gr.Button("Classify", variant="primary", elem_id=f"{model.name}-classify")
        with gr.Column():
            scores = model.hook.get("extra", {}).get("scores_label", "classes")
            result = gr.Label(label=f"top {classifier.top_k} {scores}", num_top_classes=classifier.top_k,
                              elem_id=f"{model.name}-result")
            if classifier.image_output is not None:
                name = model.document["outputs"][classifier.image_output]["name"]
                picture = gr.Image(label=name, format="png", type="numpy", height=240, interactive=False,
                                   elem_id=f"{model.name}-{name}")
    button.click(user_errors(classifier.classify), image, result, api_name=f"{model.name}_classify")
    if classifier.image_output is not None:
        button.click(user_errors(classifier.reconstruct), image, picture, api_name=f"{model.name}_reconstruct")
    if model.hook.get("extra", {}).get("rotations"):
        with gr.Row():
            upright = gr.Image(label="turned back upright by the predicted angle", type="pil", elem_id=f"{model.name}-upright")
            verdict = gr.Textbox(label="predicted rotation", elem_id=f"{model.name}-rotation")
        button.click(user_errors(classifier.upright), image, [upright, verdict], api_name=f"{model.name}_upright")
    if model.explain is not None:
        with gr.Tabs():
            with gr.Tab("Explain", id=f"{model.name}-explain-tab"):
                explain_button = gr.Button("Explain (Grad-CAM)", elem_id=f"{model.name}-explain")
                heat = gr.Image(label="input | Grad-CAM heatmap | overlay", type="numpy", format="png", interactive=False,
                                elem_id=f"{model.name}-gradcam")
                why = gr.Textbox(label="explained class", elem_id=f"{model.name}-explained")
        explain_button.click(user_errors(model.explain), image, [heat, why], api_name=f"{model.name}_explain")
    if images:
        gr.Examples([[p] for p in images], [image], label="Examples from the data set")
