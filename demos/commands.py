"""`zoo demo` and `zoo space`. Imported by cli.py at start-up: typer and the standard library only here;
Gradio, onnxruntime and the exporters are imported inside the command bodies."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer

from zoo.errors import ZooError, first_line

SOURCE_HELP = "Run directory, model.safetensors, FILE.onnx or hf://OWNER/NAME[@REV]"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
    app.command("space")(space_command)


def demo_command(
    model: Optional[str] = typer.Argument(None, help="Model to serve (see `zoo list`); omit to serve every model with a finished run, one tab each."),
    source: Optional[list[str]] = typer.Option(None, "--source", help=f"{SOURCE_HELP} (default: the newest run under --runs). Repeat, without MODEL, to serve several."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(7860, "--port", help="TCP port."),
    backend: str = typer.Option("onnx", "--backend", help="onnx: onnxruntime (PyTorch sources are exported to ONNX first, parity-checked); torch: PyTorch."),
    share: bool = typer.Option(False, "--share", help="Also open a temporary public gradio.live link."),
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder of runs (RUNS/<model>/<time>) searched when no --source is given."),
    threads: Optional[int] = typer.Option(None, "--threads", help="onnxruntime intra-op threads per model (default: onnxruntime's choice)."),
    pretrained: bool = typer.Option(False, "--pretrained", help="Serve MODEL's published weights: the pushed, parity-checked model.onnx (sha256-verified; no training, no PyTorch)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Serve this published preset of MODEL (implies --pretrained; see `zoo info MODEL`)."),
) -> None:
    """Serve a Gradio demo of a trained model (or of every trained model), on onnxruntime by default.

    The page shows the model's UI (built from its DemoHook kind and its ONNX metadata) with examples; every
    action is also a named API endpoint for gradio_client (see "Use via API" at the bottom of the page)."""
    from demos.app import allowed_folders, build_app, launch
    from demos.prepare import demo_model, pick_sources, prepare

    _check_port(port)
    _check_threads(threads)
    chosen = pick_sources(model, list(source or []), runs, pretrained=pretrained, preset=preset)
    with tempfile.TemporaryDirectory(prefix="zoo-demo-examples-") as tmp:  # example files live while serving
        examples_dir = Path(tmp)
        prepared = [prepare(src, expected=name, backend=backend, examples_dir=examples_dir, log=typer.echo)
                    for name, src in chosen]
        names = [p.name for p in prepared]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ZooError(f"two sources hold a '{duplicates[0]}' model; serve one source per model (one tab each).")
        models = [demo_model(p, threads=threads) for p in prepared]
        title = models[0].title if len(models) == 1 else "zoo model demos"
        app = build_app(models, title)
        typer.echo(f"serving {', '.join(f'{m.name} ({m.backend})' for m in models)} on http://{host}:{port} (Ctrl+C stops)")
        try:
            launch(app, host=host, port=port, share=share, allowed_paths=allowed_folders(models, examples_dir))
        except OSError as exc:
            raise ZooError(f"cannot listen on {host}:{port} ({first_line(exc, limit=200)}); pass a free --port or another --host.") from None


def space_command(
    model: str = typer.Argument(..., help="Model to package (see `zoo list`)."),
    source: Optional[str] = typer.Option(None, "--source", help=f"{SOURCE_HELP} (default: the newest run under --runs)."),
    out: Path = typer.Option(..., "--out", help="Folder to write the Space into (must not exist, or be empty)."),
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder of runs searched when no --source is given."),
    title: Optional[str] = typer.Option(None, "--title", help="Space title (default: the model's demo title)."),
    pretrained: bool = typer.Option(False, "--pretrained", help="Package MODEL's published weights: the pushed, parity-checked model.onnx (sha256-verified)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Package this published preset of MODEL (implies --pretrained)."),
    push: Optional[str] = typer.Option(None, "--push", help="Also create the Space repo OWNER/NAME on the Hub (Gradio SDK) and upload the folder. Needs a write token."),
    private: bool = typer.Option(False, "--private", help="With --push: create the Space as private."),
) -> None:
    """Write a ready Hugging Face Space (Gradio SDK): app.py, requirements.txt (onnxruntime, gradio, numpy,
    pillow: no torch, no zoo), the ONNX model, the demo modules it needs, example files and README.md.

    Try it with `cd OUT && python app.py`; publish it with `hf upload OWNER/NAME OUT --repo-type space`."""
    from demos.prepare import pick_sources
    from demos.space import write_space

    if push:
        from zoo.hub import parse_ref

        parse_ref(push)  # a bad repo id fails before anything is written
    (name, src), = pick_sources(model, [source] if source else [], runs, pretrained=pretrained, preset=preset)
    folder = write_space(src, out, expected=name, title=title, log=typer.echo)
    typer.echo(f"wrote the Space to {folder}; run it with `cd {folder} && python app.py`")
    if push:
        from demos.space import push_space

        url = push_space(folder, push, private=private)
        typer.echo(f"pushed the Space to {url}")


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ZooError(f"--port must be between 1 and 65535, got {port}.")


def _check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ZooError(f"--threads must be at least 1, got {threads}.")
