"""The default SOURCE of `zoo export/eval/bench/push`: the most recent finished run under ./runs.

Torch-free (stdlib only) so the CLI stays instant; a finished run is a folder RUNS/<model>/<time>/
holding model.safetensors and config.json (what `zoo train` writes when it ends)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from zoo.errors import ZooError

RUNS_DIR = Path("runs")


def finished_runs(runs_dir: Path = RUNS_DIR, model: str | None = None) -> list[Path]:
    """Finished run directories under ``runs_dir`` (of one model when given), oldest first."""
    pattern = f"{model}/*/model.safetensors" if model else "*/*/model.safetensors"
    runs = [w.parent for w in runs_dir.glob(pattern) if (w.parent / "config.json").is_file()]
    return sorted(runs, key=lambda d: (d / "model.safetensors").stat().st_mtime)


def newest_run(runs_dir: Path = RUNS_DIR, model: str | None = None) -> Path | None:
    """The finished run whose model.safetensors was written last, or None."""
    runs = finished_runs(runs_dir, model)
    return runs[-1] if runs else None


def default_source(source: str | None, command: str, *, runs_dir: Path = RUNS_DIR,
                   log: Callable[[str], None] = print) -> str:
    """``source`` itself when given, else the newest finished run under ``runs_dir`` (logged), else a ZooError."""
    if source:
        return source
    run = newest_run(runs_dir)
    if run is None:
        raise ZooError(f"no finished run under {runs_dir}/<model>/ and no SOURCE given; train one first "
                       f"(`zoo train siamese`) or pass SOURCE: `zoo {command} RUN_DIR|model.safetensors|hf://OWNER/NAME`.")
    log(f"using the most recent finished run: {run}")
    return str(run)


def choose_source(source: str | None, command: str, *, pretrained: bool = False, preset: str | None = None,
                  runs_dir: Path = RUNS_DIR, log: Callable[[str], None] = print) -> str:
    """SOURCE of a command with ``--pretrained`` / ``--preset NAME``: then SOURCE names the model and the
    result is ``pretrained:MODEL[:PRESET]`` (its published weights); otherwise :func:`default_source`."""
    if not (pretrained or preset):
        return default_source(source, command, runs_dir=runs_dir, log=log)
    from zoo import registry
    from zoo.presets import find_preset, pretrained_source

    if not source:
        raise ZooError(f"--pretrained/--preset need the model's name as SOURCE: `zoo {command.split()[0]} siamese --pretrained`.")
    registry.card(source)  # unknown names fail here, with the list of models
    chosen = find_preset(source, preset)  # a model without published weights fails here, saying what to run
    log(f"using the published weights of {source} (preset {chosen.name}: {chosen.weights})")
    return pretrained_source(source, chosen.name)
