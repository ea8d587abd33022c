"""Builder for ``DemoHook.kind == "stylizer"``: an image-to-image model (e.g. ``style-transfer``): an uploaded
photo is resized as the document's preprocessing says, run once through the graph, and the output (RGB
in [0, 1]) is shown as a picture. ``extra`` names the image input and the image output.
Torch-free and zoo-free (copied into generated Spaces).
"""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from demos.inputs import image_to_array, load_image
from demos.runtime import DemoModel
from demos.ui import image_input, image_model_header, user_errors

HOOK_EXAMPLES = "images"  # DemoHook.examples of this kind: [image path, ...]
ENDPOINTS = ["stylize"]  # API names are /<model>_<endpoint>


class Stylizer:
    """The model side of the demo, free of Gradio: an image file in, the stylized picture out."""

    def __init__(self, model: DemoModel) -> None:
        self.model = model
        extra = model.hook.get("extra", {})
        self.input_name = extra.get("image_input") or model.input_names[0]
        names = [t["name"] for t in model.document["outputs"]]
        self.output_index = names.index(extra["image_output"]) if extra.get("image_output") in names else 0

    def stylize(self, image: str | None) -> Image.Image:
        x = image_to_array(load_image(image, "image"), self.model.preprocessing)
        y = np.asarray(self.model.predict({self.input_name: x[None]})[self.output_index][0], dtype=np.float32)
        pixels = np.clip(np.rint(y * 255), 0, 255).astype(np.uint8)
        return Image.fromarray(pixels.transpose(1, 2, 0), "RGB") if pixels.shape[0] == 3 else Image.fromarray(pixels[0], "L")


def build(model: DemoModel) -> None:
    """UI for ``model`` inside the caller's Blocks context; API endpoint ``/<name>_stylize`` (image -> image)."""
    stylizer = Stylizer(model)
    images = model.examples.get("images", [])
    image_model_header(model)
    with gr.Row():
        with gr.Column():
            image = image_input("photo", images[0] if images else None, elem_id=f"{model.name}-image")
            button = gr.Button("Stylize", variant="primary", elem_id=f"{model.name}-stylize")
        with gr.Column():
            result = gr.Image(label="stylized", type="pil", format="png", height=280, elem_classes=["zoo-image"],
                              elem_id=f"{model.name}-result")
    button.click(user_errors(stylizer.stylize), image, result, api_name=f"{model.name}_stylize")
    if images:
        gr.Examples([[p] for p in images], [image], label="Examples (held-out content images)")
