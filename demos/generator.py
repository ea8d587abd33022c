"""Builder for ``DemoHook.kind == "image-generator"``: a model that decodes a latent point into an image.

Tab "Latent space": a slider per latent dimension (the first ``extra["sliders"]``; the rest stay 0)
decodes the point as the sliders move; "Generate" draws a point from N(0, I) with the given seed. Tab
"Encode my drawing" (models whose hook names ``extra["encode"]``, e.g. a VAE): an uploaded or drawn
image -> its latent code (moved onto the sliders) and its reconstruction.

The hook's ``extra`` names the latent input and the generated output; every other input of the graph
is fed zeros (a VAE's image and noise while decoding, its latent while encoding), so one ONNX file
serves all tabs. Torch-free and zoo-free (copied into generated Spaces).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from demos.inputs import InputError, array_to_image, image_to_array, load_image
from demos.runtime import DemoModel
from demos.ui import drawing_to_image, header, image_input, sketchpad, user_errors

HOOK_EXAMPLES = "images"  # DemoHook.examples of this kind: [image path, ...] to encode
ENDPOINTS = ["generate", "decode"]  # API names are /<model>_<endpoint>; models with an encoder add /<model>_encode
MAX_SEED = 2**32 - 1


class Generator:
    """The model side of the demo, free of Gradio: latent points and image files in, images and codes out."""

    def __init__(self, model: DemoModel) -> None:
        self.model = model
        extra = model.hook.get("extra", {})
        self.latent_input = extra["latent_input"]
        self.generated_output = extra["generated_output"]
        self.latent_dim = int(extra["latent_dim"])
        self.sliders = int(extra.get("sliders", self.latent_dim))
        self.slider_range = float(extra.get("slider_range", 3.0))
        self.encoding = extra.get("encode") or {}
        self.output_names = [t["name"] for t in model.document["outputs"]]
        self.input_shapes = {t["name"]: t["shape"] for t in model.document["inputs"]}

    def _run(self, rows: int, given: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {name: given[name] if name in given else np.zeros((rows, *[int(d) for d in shape[1:]]), np.float32)
                 for name, shape in self.input_shapes.items()}
        return dict(zip(self.output_names, self.model.predict(feeds)))

    def latent_from(self, values: list[float] | tuple[float, ...]) -> np.ndarray:
        if len(values) > self.latent_dim:
            raise InputError(f"latent: {len(values)} values for a {self.latent_dim}-D latent space; send at most {self.latent_dim}.")
        point = np.zeros((1, self.latent_dim), np.float32)
        point[0, :len(values)] = [float(v) for v in values]
        if not np.isfinite(point).all():
            raise InputError("latent: values must be finite numbers.")
        return point

    def picture(self, x: np.ndarray) -> Image.Image:
        return array_to_image(np.clip(x, 0, 1), self.model.preprocessing)

    def decode(self, *values: float) -> Image.Image:
        """Slider values (the first latent dimensions; the rest 0) -> the decoded image."""
        point = self.latent_from(list(values))
        return self.picture(self._run(1, {self.latent_input: point})[self.generated_output][0])

    def generate(self, seed: float | None) -> tuple[Image.Image, list[float]]:
        """A draw from N(0, I) with ``seed`` -> (its decoded image, the latent point)."""
        if seed is None or not float(seed).is_integer() or not 0 <= seed <= MAX_SEED:
            raise InputError(f"seed: {seed!r} is not a whole number between 0 and {MAX_SEED}.")
        point = np.random.default_rng(int(seed)).standard_normal((1, self.latent_dim)).astype(np.float32)
        image = self.picture(self._run(1, {self.latent_input: point})[self.generated_output][0])
        return image, [round(float(v), 6) for v in point[0]]

    def encode(self, image: str | None) -> tuple[list[float], Image.Image]:
        """An image file -> (its latent code, its reconstruction from that code)."""
        if not self.encoding:
            raise InputError("this model has no encoder; it can only generate.")
        x = image_to_array(load_image(image, "image"), self.model.preprocessing)
        out = self._run(1, {self.encoding["image_input"]: x[None]})
        code = [round(float(v), 6) for v in out[self.encoding["code_output"]][0]]
        return code, self.picture(out[self.encoding["reconstruction_output"]][0])


def build(model: DemoModel) -> None:
    """UI for ``model`` inside the caller's Blocks context; API endpoints ``/<name>_generate`` (seed -> image,
    latent), ``/<name>_decode`` (slider values -> image) and, with an encoder, ``/<name>_encode`` (image ->
    code, reconstruction)."""
    generator = Generator(model)
    limit = generator.slider_range
    header(model.title, model.hook.get("description", ""),
           f"model <code>{model.name}</code> on {model.backend}; {generator.latent_dim}-D latent space, prior N(0, I); "
           f"image preprocessing: {model.preprocessing.get('notes') or 'as the model document says'}.")
    with gr.Tab("Latent space"):
        with gr.Row():
            with gr.Column():
                sliders = [gr.Slider(-limit, limit, value=0.0, step=0.05, label=f"z{i + 1}", elem_id=f"{model.name}-z{i + 1}")
                           for i in range(generator.sliders)]
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed", elem_id=f"{model.name}-seed")
                    button = gr.Button("Generate", variant="primary", elem_id=f"{model.name}-generate")
            with gr.Column():
                picture = gr.Image(label="decoded image", type="pil", format="png", height=280, elem_classes=["zoo-image"],
                                   elem_id=f"{model.name}-picture")
                point = gr.JSON(label="latent point", elem_id=f"{model.name}-latent")
    for slider in sliders:
        slider.release(user_errors(generator.decode), sliders, picture, api_visibility="private", show_progress="hidden")
    gr.Button("Decode the sliders", size="sm", elem_id=f"{model.name}-decode").click(
        user_errors(generator.decode), sliders, picture, api_name=f"{model.name}_decode")

    button.click(user_errors(generator.generate), seed, [picture, point], api_name=f"{model.name}_generate").then(
        lambda p: [gr.update(value=max(-limit, min(limit, v))) for v in (p or [0.0] * generator.sliders)[:generator.sliders]],
        point, sliders, api_visibility="private", show_progress="hidden")
    if generator.encoding:
        images = model.examples.get("images", [])
        with gr.Tab("Encode my drawing"):
            with gr.Row():
                with gr.Column():
                    with gr.Tab("Image"):
                        image = image_input("image", images[0] if images else None, elem_id=f"{model.name}-image")
                    with gr.Tab("Draw"):
                        pad = sketchpad("pick the brush (left), then draw", elem_id=f"{model.name}-draw")
                    pad.change(drawing_to_image, pad, image, queue=False, api_visibility="private", show_progress="hidden")
                    encode = gr.Button("Encode", variant="primary", elem_id=f"{model.name}-encode")
                with gr.Column():
                    reconstruction = gr.Image(label="reconstruction", type="pil", format="png", height=280,
                                              elem_classes=["zoo-image"], elem_id=f"{model.name}-reconstruction")
                    code = gr.JSON(label="latent code (the mean of q(z | image))", elem_id=f"{model.name}-code")
            encode.click(user_errors(generator.encode), image, [code, reconstruction], api_name=f"{model.name}_encode").then(
                lambda c: [gr.update(value=max(-limit, min(limit, v))) for v in (c or [0.0] * generator.sliders)[:generator.sliders]],
                code, sliders, api_visibility="private", show_progress="hidden")
            if images:
                gr.Examples([[p] for p in images], [image], label="Examples from the data set")
