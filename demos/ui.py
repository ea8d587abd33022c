"""Gradio pieces shared by the per-kind builders. Torch-free and zoo-free (copied into generated Spaces)."""

from __future__ import annotations

import base64
import functools
import html
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from demos.inputs import MAX_FILE_BYTES, InputError

log = logging.getLogger("zoo.demos")
F = TypeVar("F", bound=Callable[..., Any])

IMAGE_SOURCES = ["upload", "webcam", "clipboard"]
# Small inputs (a 16x16 digit) are shown enlarged with sharp pixels instead of as a dot in a large frame.
CSS = ".zoo-image img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }"


def image_input(label: str, value: str | Path | None = None, *, height: int = 240,
                elem_id: str | None = None) -> gr.Image:
    """An image input accepting upload, webcam and clipboard (drawing happens in a separate sketchpad) whose
    server side hands the handler the uploaded file's path *without decoding it*.

    Plain ``gr.Image`` opens every upload with Pillow before the handler runs, so a decompression bomb or a
    non-image file fails inside Gradio with a generic error; here :func:`demos.inputs.load_image` checks the
    file (size, header, pixel count) and refuses it with a message. ``preprocess`` is replaced on the
    instance because subclassing a Gradio component makes Gradio write a ``.pyi`` stub beside this module.
    """
    image = gr.Image(value=str(value) if value else None, label=label, type="filepath", sources=IMAGE_SOURCES,
                     format="png", height=height, elem_id=elem_id, elem_classes=["zoo-image"])  # png: drawings stay lossless
    image.preprocess = functools.partial(uploaded_path, image)  # type: ignore[method-assign]
    return image


def uploaded_path(component: gr.Image, payload: Any) -> str | None:
    """The server-side path of an uploaded image (Gradio has already checked that a user uploaded it)."""
    if payload is None:
        return None
    if payload.path:
        return str(payload.path)
    url = payload.url or ""
    if url.startswith("data:") and "," in url:  # webcam/clipboard captures may arrive inline
        encoded = url.split(",", 1)[1]
        if len(encoded) * 3 // 4 > MAX_FILE_BYTES:
            raise gr.Error(f"the image is larger than {MAX_FILE_BYTES // 1024 // 1024} MB; send a smaller one.",
                           print_exception=False)
        with tempfile.NamedTemporaryFile(dir=component.GRADIO_CACHE, suffix=".img", delete=False) as f:
            f.write(base64.b64decode(encoded, validate=False))
        return f.name
    raise gr.Error("the image arrived without a file; upload it again.", print_exception=False)


def sketchpad(label: str, elem_id: str | None = None) -> gr.Sketchpad:
    """A white canvas with a fixed black brush: draw a character with the mouse or a finger."""
    return gr.Sketchpad(label=label, type="pil", canvas_size=(320, 320), elem_id=elem_id, height=320,
                        brush=gr.Brush(default_size=10, colors=["#000000"], color_mode="fixed"))


def drawing_to_image(editor_value: dict[str, Any] | None) -> Any:
    """A sketchpad value -> its flattened picture (for the image input), or no change when nothing is drawn."""
    composite = (editor_value or {}).get("composite")
    if composite is None:
        return gr.skip()
    return composite


def user_errors(fn: F) -> F:
    """Run a handler so that it never crashes the app: a refused input becomes ``gr.Error`` with its message
    (a toast in the browser, an exception naming the problem in gradio_client); anything unexpected is
    logged with its traceback and reported as a one-line error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except InputError as exc:
            raise gr.Error(html.escape(str(exc), quote=False), title="Input refused", print_exception=False) from None
        except Exception as exc:
            log.exception("demo handler %s failed", getattr(fn, "__name__", fn))
            raise gr.Error(f"the model could not process this input ({type(exc).__name__}); try another input.",
                           print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def header(title: str, description: str, details: str = "") -> None:
    gr.Markdown(f"## {html.escape(title)}\n{description}" + (f"\n\n<small>{details}</small>" if details else ""))


def image_model_header(model: Any) -> None:
    """The header of a one-image model's tab: title, description, backend and the input preprocessing."""
    header(model.title, model.hook.get("description", ""),
           f"model <code>{model.name}</code> on {model.backend}; input preprocessing: "
           f"{model.preprocessing.get('notes') or 'as the model document says'}.")
