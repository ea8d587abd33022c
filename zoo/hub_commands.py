"""`zoo push`, `zoo pull` and `zoo release`: the Hugging Face Hub commands. Light to import; the work is in ``zoo.hub``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    app.command("pull")(pull)
    app.command("release")(release)


def push(
    source: Optional[str] = typer.Argument(None, help="Run directory, model.safetensors or hf://OWNER/NAME[@REV] to upload (default: the most recent finished run under ./runs)."),
    repo: str = typer.Option(..., "--repo", help="Hub model repo OWNER/NAME (created if missing)."),
    private: bool = typer.Option(False, "--private", help="Create the repo as private (an existing repo keeps its visibility)."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Branch to commit to (created from main if missing). Default: main."),
    with_formats: Optional[str] = typer.Option(None, "--with", help="Also export and upload these formats with their parity reports: onnx,keras."),
    commit_message: Optional[str] = typer.Option(None, "--commit-message", help="Commit summary (default names the model and its headline metric)."),
    license: str = typer.Option("mit", "--license", help="License identifier for the model card (a Hub license id, e.g. mit, apache-2.0, cc-by-4.0)."),
) -> None:
    """Upload a trained model to the Hugging Face Hub as one commit, with a generated model card.

    The commit holds model.safetensors, config.json/.yaml, metrics.json, bench.json and pictures when present,
    ONNX/Keras exports with their parity reports (--with) and README.md. Needs `hf auth login` or HF_TOKEN."""
    from rich.console import Console

    from zoo import hub
    from zoo.runs import default_source

    source = default_source(source, "push --repo OWNER/NAME", log=Console().print)
    result = hub.push(source, repo, private=private, revision=revision, formats=with_formats or "",
                      commit_message=commit_message, license=license)
    console = Console()
    console.print(f"pushed {len(result.files)} files to [bold]{result.repo_id}[/] ({result.revision}), commit {result.commit[:12]}")
    console.print(result.url, soft_wrap=True, highlight=False)


def pull(
    repo: str = typer.Argument(..., help="OWNER/NAME[@REVISION] or hf://OWNER/NAME[@REVISION]."),
    files: Optional[list[str]] = typer.Option(None, "--files", help="Only these files (glob patterns; repeat the option or separate with commas). Default: every weight and metadata file."),
    force_download: bool = typer.Option(False, "--force-download", help="Download again even if cached (repairs a damaged cache)."),
) -> None:
    """Download a zoo model from the Hub into the Hugging Face cache and print its local folder.

    HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE and tokens apply as in any Hugging Face library. Only weights
    (safetensors, ONNX, Keras) and metadata are downloaded, never pickles; config.json is validated before any
    weight is fetched, and every file is checked against the Hub's sha256 / git hashes."""
    from zoo import hub

    patterns = [p.strip() for item in files or [] for p in item.split(",") if p.strip()]
    path = hub.download(repo, patterns or list(hub.DOWNLOADABLE), force_download=force_download)
    typer.echo(str(path))


def release(
    owner: str = typer.Option(..., "--owner", help="Hub user or organisation to publish to (repos OWNER/MODEL, or OWNER/MODEL-RECIPE for a preset recipe)."),
    models: Optional[str] = typer.Option(None, "--models", help="Comma-separated model names (default: every model in `zoo list`)."),
    recipe: str = typer.Option("default", "--recipe", help="default (the model's `zoo train` defaults), tiny (its smoke-test config) or a preset name of its card."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Hub endpoint URL (default: $HF_ENDPOINT, else huggingface.co)."),
    presets_file: Optional[Path] = typer.Option(None, "--presets-file", help="Presets file to record the release in (default: $ZOO_PRESETS, else the package's zoo/presets.json)."),
    runs: Path = typer.Option(Path("runs/release"), "--runs", help="Folder for the release's training runs."),
    formats: str = typer.Option("onnx,keras,fp16,int8", "--formats", help="Formats exported, parity-checked and pushed beside the weights."),
    run: Optional[Path] = typer.Option(None, "--run", help="Publish this finished run (one model, named with --models) instead of training it."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars while training."),
) -> None:
    """Publish pretrained presets: train each model's recipe, export every format, push it and record it.

    Each model is trained into RUNS/MODEL/RECIPE, exported (ONNX, Keras, ONNX fp16/int8 under onnx/, each
    parity-checked), pushed as one commit, and recorded in the presets file with the published revision,
    every file's sha256 and the metrics, so `zoo demo MODEL --pretrained` serves exactly those files.
    Needs a write token (HF_TOKEN or `hf auth login`)."""
    from rich.console import Console

    from zoo import hub
    from zoo.errors import ZooError
    from zoo.release import release as run_release

    names = [m.strip() for m in (models or "").split(",") if m.strip()]
    if run is not None and len(names) != 1:
        raise ZooError("--run publishes one finished run; name its model with --models MODEL.")
    console = Console()
    with hub.use_endpoint(endpoint):
        presets = run_release(names, owner, recipe=recipe, runs_dir=runs, presets_path=presets_file, run=run,
                              formats=tuple(f.strip() for f in formats.split(",") if f.strip()), progress=progress,
                              log=lambda line: console.print(line, highlight=False, soft_wrap=True))
    for preset in presets:
        console.print(f"{preset.weights}  sha256 {preset.sha256}  {preset.metrics}", highlight=False, soft_wrap=True)
