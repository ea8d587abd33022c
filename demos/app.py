"""Assemble and serve the Gradio app: one builder per ``DemoHook.kind``, one tab per model.

Torch-free and zoo-free (copied into generated Spaces, whose ``app.py`` calls :func:`serve_folder`).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demos.runtime import BatchingPredict, DemoModel, onnx_session, read_document, session_predict

# DemoHook.kind -> the module whose ``build(model)`` draws its UI. A model needing new components adds a
# module here and names its kind in ``ZooModel.demo()``; no builder knows a model by name.
BUILDERS: dict[str, str] = {
    "image-pair": "demos.image_pair",
    "image-classifier": "demos.image_classifier",
    "tabular": "demos.tabular",
    "image-generator": "demos.generator",
    "text-classifier": "demos.text",
    "forecast": "demos.forecast",
    "text-pair": "demos.text_pair",
    "stylizer": "demos.stylizer",
    "text-generator": "demos.text_generator",
    "memory-qa": "demos.memory",
}
SHARED_MODULES = ("demos.__init__", "demos.inputs", "demos.runtime", "demos.ui", "demos.app")
CONCURRENCY = 8  # handlers running at once per event; the model calls themselves are batched
QUEUE_SIZE = 512  # waiting requests beyond this get "queue full" instead of piling up
MAX_BATCH_ROWS = 64
MAX_UPLOAD = "20mb"  # Gradio refuses larger uploads before they reach a handler
SPACE_MANIFEST = "demo.json"


class UnknownKind(ValueError):
    """A model's DemoHook names a kind no builder handles."""


def builder_module(kind: str) -> str:
    if kind not in BUILDERS:
        raise UnknownKind(f"no demo builder for kind '{kind}' (known: {', '.join(sorted(BUILDERS))}); "
                          "add a module to demos.app.BUILDERS or fix the model's demo() kind.")
    return BUILDERS[kind]


def build_app(models: list[DemoModel], title: str = "zoo demos") -> Any:
    """A queued Blocks app with one tab per model (no outer tabs for a single model)."""
    import gradio as gr

    builders = {m.name: importlib.import_module(builder_module(m.kind)) for m in models}
    with gr.Blocks(title=title, analytics_enabled=False) as app:
        if len(models) == 1:
            builders[models[0].name].build(models[0])
        else:
            gr.Markdown(f"# {title}")
            for model in models:
                with gr.Tab(model.title, id=model.name):
                    builders[model.name].build(model)
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return app


def launch(app: Any, *, host: str | None = None, port: int | None = None, share: bool = False,
           allowed_paths: list[str] | None = None, block: bool = True) -> Any:
    """Start the server (``host``/``port`` None: GRADIO_SERVER_NAME/PORT or 127.0.0.1:7860, as on Spaces).
    With ``block=False`` return at once, leaving the server running (tests, benchmarks)."""
    from demos.ui import CSS

    app.launch(server_name=host, server_port=port, share=share, allowed_paths=allowed_paths or [],
               max_file_size=MAX_UPLOAD, prevent_thread_lock=not block, quiet=not block, show_error=True,
               ssr_mode=False, run_history=False, css=CSS)
    return app


def allowed_folders(models: list[DemoModel], *extra: Path) -> list[str]:
    """Folders holding the models' example files: Gradio serves files only from folders it is told about."""
    folders = {str(Path(e).resolve()) for e in extra}

    def walk(value: Any) -> None:
        if isinstance(value, str) and Path(value).is_file():
            folders.add(str(Path(value).resolve().parent))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    for model in models:
        walk(model.examples)
    return sorted(folders)


def onnx_model(name: str, onnx_path: Path, hook: dict[str, Any], examples: dict[str, Any] | None = None,
               threads: int | None = None) -> DemoModel:
    """A :class:`DemoModel` serving ``onnx_path`` on onnxruntime, the session loaded once, calls batched."""
    session = onnx_session(onnx_path, threads)
    document = read_document(session)
    return DemoModel(name=name, document=document, hook=hook, predict=BatchingPredict(session_predict(session), MAX_BATCH_ROWS),
                     examples=examples or {}, backend=f"onnxruntime ({onnx_path.name})")


# -- generated Spaces ---------------------------------------------------------------------------------

@dataclass
class SpaceModel:
    """One entry of a Space's demo.json: paths are relative to the Space folder."""

    name: str
    onnx: str
    hook: dict[str, Any]
    examples: dict[str, Any]


def load_folder(folder: Path) -> tuple[str, list[DemoModel]]:
    """(title, models) of a folder written by `zoo space`: its demo.json, ONNX files and example files."""
    manifest = json.loads((folder / SPACE_MANIFEST).read_text(encoding="utf-8"))
    models = []
    for entry in manifest["models"]:
        spec = SpaceModel(**entry)
        examples = _absolute(spec.examples, folder)
        models.append(onnx_model(spec.name, folder / spec.onnx, spec.hook, examples))
    return manifest.get("title", "zoo demo"), models


def _absolute(value: Any, folder: Path) -> Any:
    """Example values with every ``{"file": relative path}`` replaced by the absolute path."""
    if isinstance(value, dict):
        if set(value) == {"file"}:
            return str(folder / value["file"])
        return {k: _absolute(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_absolute(v, folder) for v in value]
    return value


def serve_folder(folder: Path) -> None:
    """Serve a generated Space (its ``app.py`` calls this); host and port from GRADIO_SERVER_NAME/PORT."""
    title, models = load_folder(folder)
    launch(build_app(models, title), allowed_paths=allowed_folders(models))
