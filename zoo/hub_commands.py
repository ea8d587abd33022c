"""`zoo push` and `zoo pull`: the Hugging Face Hub commands. Light to import; the work is in ``zoo.hub``."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    app.command("pull")(pull)


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
