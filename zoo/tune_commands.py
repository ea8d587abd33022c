"""`zoo tune`: the command line of :mod:`zoo.tune` (light to import)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_command)


def tune_command(
    model: str = typer.Argument(..., help="Model to tune (see `zoo list`)."),
    trials: int = typer.Option(10, "--trials", help="Trials this process runs (others may add to the same study)."),
    search: str = typer.Option("random", "--search", help="Sampler: random or tpe."),
    out: Path = typer.Option(None, "--out", help="Directory of the trials' run directories, results.csv and pictures (default runs/tune-MODEL)."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage URL shared by parallel processes (default sqlite:///OUT/optuna.db)."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default zoo-MODEL)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: a file store OUT/mlruns)."),
    metric: str = typer.Option("val/loss", "--metric", help="Logged validation metric to optimise (its best epoch per trial)."),
    direction: str = typer.Option("minimize", "--direction", help="minimize or maximize the metric."),
    space: List[str] = typer.Option([], "--space", help="Add/replace a searched field: FIELD=LOW:HIGH[:log] or FIELD=a|b|c (repeatable)."),
    set_: List[str] = typer.Option([], "--set", help="Fixed config value for every trial: KEY=VALUE (repeatable)."),
    prune: bool = typer.Option(True, "--prune/--no-prune", help="Stop trials whose validation curve is below the median (Optuna MedianPruner)."),
    seed: int = typer.Option(0, "--seed", help="Sampler seed (give parallel processes different seeds)."),
) -> None:
    """Hyperparameter search on Optuna; every trial is a zoo run directory and an MLflow run."""
    from rich.console import Console

    from zoo.errors import ZooError
    from zoo.tune import tune

    fixed = {}
    for item in set_:
        key, sep, value = item.partition("=")
        if not sep:
            raise ZooError(f"--set '{item}' is not KEY=VALUE; write it as e.g. --set epochs=20.")
        fixed[key.strip().replace("-", "_")] = value
    summary = tune(model, trials=trials, search=search, out=out or Path("runs") / f"tune-{model}", storage=storage,
                   study_name=study, tracking_uri=tracking_uri, metric=metric, direction=direction,
                   space_entries=list(space), fixed=fixed, prune=prune, seed=seed)
    console = Console()
    console.print(f"study {summary['study']}: {summary['trials']} trials ({summary['complete']} complete, {summary['pruned']} pruned)")
    if "best_trial" in summary:
        console.print(f"best trial {summary['best_trial']}: {summary['metric']} = {summary['best_value']:.4f} "
                      f"with {summary['best_params']}; run directory {summary['best_run_dir']}")
