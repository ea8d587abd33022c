"""`zoo explain` and `zoo dream`. Imported by cli.py at start-up: typer and the standard library only here;
torch and the model are imported inside the command bodies."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from zoo.errors import ZooError

RUN_HELP = "Run directory, model.safetensors, hf://OWNER/NAME[@REV] or pretrained:MODEL of an image model."


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_command)
    app.command("dream")(dream_command)


def explain_command(
    run: str = typer.Argument(..., help=RUN_HELP),
    image: Path = typer.Argument(..., help="Image file (PNG, JPEG, ...) to explain; preprocessed as the model's demo does."),
    layer: Optional[list[str]] = typer.Option(None, "--layer", help="Layer (module path, e.g. stages.1) to show; repeat for several. "
                                              "Grad-CAM uses the last one. Default: up to 4 convolutions, Grad-CAM on the deepest map of 2x2 or more."),
    wanted: Optional[str] = typer.Option(None, "--class", help="Class (label or index) Grad-CAM explains (default: the predicted class)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the pictures (default: RUN/explain)."),
    channels: int = typer.Option(16, "--channels", help="Feature maps shown per layer (filter patterns: at most 8 per layer)."),
    filter_steps: int = typer.Option(40, "--filter-steps", help="Gradient-ascent steps per filter pattern."),
    filter_objective: str = typer.Option("centre", "--filter-objective", help="centre: maximise the unit at the map's centre "
                                         "(its receptive field); mean: the map's mean activation, as in the source."),
) -> None:
    """Intermediate activations, filter patterns (gradient ascent from noise) and a Grad-CAM heatmap of an image
    model: writes activations.png, filters.png, gradcam.png and explain.json."""
    if channels < 1 or filter_steps < 0:
        raise ZooError("--channels must be at least 1 and --filter-steps at least 0.")
    if filter_objective not in ("centre", "mean"):
        raise ZooError(f"--filter-objective {filter_objective}: use centre or mean.")
    _check_image(image)
    probe, out_dir = _open(run, out, "explain")
    from zoo.visualize.explain import explain

    chosen = layer or []
    patterns = len(chosen) or len(probe.spread(4))
    with _progress("filter patterns", patterns * filter_steps) as tick:
        summary = explain(probe, image, out_dir, layers=chosen or None, wanted=wanted, channels=channels,
                          filter_steps=filter_steps, centre=filter_objective == "centre", tick=tick)
    cam = summary["gradcam"]
    verdict = (f"Grad-CAM of class {cam['class']} on {cam['layer']}" if cam else summary.get("gradcam_skipped", ""))
    typer.echo(f"wrote {', '.join(summary['files'])} to {out_dir} ({verdict})")


def dream_command(
    run: str = typer.Argument(..., help=RUN_HELP),
    image: Path = typer.Argument(..., help="Image file to dream on."),
    layers: Optional[list[str]] = typer.Option(None, "--layers", help="Layers whose activations are maximised: NAME or NAME=COEFF, "
                                               "comma-separated or repeated (default: the two deepest convolutions)."),
    octaves: int = typer.Option(3, "--octaves", help="Number of scales, each 1.4x the previous (the source uses 3)."),
    steps: int = typer.Option(20, "--steps", help="Gradient-ascent steps per octave."),
    step_size: float = typer.Option(0.01, "--step-size", help="Step, as a fraction of the input's value range, per normalised gradient."),
    size: Optional[int] = typer.Option(None, "--size", help="Longer side of the result in pixels (default: the image's, at most 512)."),
    max_loss: Optional[float] = typer.Option(None, "--max-loss", help="Stop an octave's ascent once the loss exceeds this."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for dream.png, dream_octaves.png, dream.json (default: RUN/dream)."),
) -> None:
    """DeepDream over a trained image model: gradient ascent on chosen layers' activations over successive
    octaves (1.4x apart) with detail re-injection; writes the image and a contact sheet of octaves."""
    if octaves < 1:
        raise ZooError(f"--octaves {octaves}: there must be at least one octave (1 = no rescaling; the source uses 3).")
    if steps < 0 or step_size <= 0:
        raise ZooError("--steps must be 0 or more and --step-size above 0.")
    if size is not None and size < 1:
        raise ZooError(f"--size {size}: give the result's longer side in pixels (at least 1).")
    _check_image(image)
    probe, out_dir = _open(run, out, "dream")
    from zoo.visualize.dream import parse_layers, run_dream

    chosen = parse_layers(probe, layers)  # a bad name fails before any work
    with _progress("dreaming", octaves * steps) as tick:
        summary = run_dream(probe, image, out_dir, layers=[f"{k}={v}" for k, v in chosen.items()], octaves=octaves,
                            steps=steps, step_size=step_size, size=size, max_loss=max_loss, tick=tick)
    shapes = " -> ".join(f"{w}x{h}" for h, w in summary["octave_shapes"])
    typer.echo(f"wrote dream.png, dream_octaves.png, dream.json to {out_dir} (octaves {shapes}; layers {', '.join(chosen)})")


def _check_image(image: Path) -> None:
    if not image.is_file():
        raise ZooError(f"image {image} does not exist; pass an image file (PNG, JPEG, ...).")


def _open(run: str, out: Optional[Path], folder: str) -> tuple[Any, Path]:
    """(probe of the run's model, the output folder). Refuses non-image models before reading weights."""
    from zoo.artifacts import load
    from zoo.visualize.probe import ImageProbe

    artifact = load(run)
    probe = ImageProbe.from_artifact(artifact)
    if out is None:
        if not Path(run).expanduser().exists():
            raise ZooError(f"{run} is not a local run directory; pass --out DIR for the pictures.")
        out = artifact.root / folder
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out} is a file; pass a folder.")
    return probe, out


@contextmanager
def _progress(what: str, total: int) -> Iterator[Any]:
    """A rich progress bar on stderr (``tick()`` advances it by one)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=max(total, 1))
        yield lambda: bar.advance(task)
