"""A release: train each model's recipe, export every format, push it to OWNER on a Hub endpoint and record
the published revision, the sha256 of every pushed file and the metrics in the presets file the cards read
(``zoo/presets.json`` or $ZOO_PRESETS). Driven by ``zoo release`` (zoo/hub_commands.py); the Hub is $HF_ENDPOINT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from zoo.errors import ZooError

FORMATS = ("onnx", "keras", "fp16", "int8")
DEFAULT_RECIPE = "default"
TINY_RECIPE = "tiny"  # the card's tiny config (tests, smoke releases)


def recipe_config(model: str, recipe: str) -> tuple[dict[str, Any], str]:
    """(config overrides, description) of ``recipe``: "default", "tiny" or a preset name of the card."""
    from zoo import registry

    card = registry.card(model)
    if recipe == DEFAULT_RECIPE:
        return {}, f"The default `zoo train {model}` configuration."
    if recipe == TINY_RECIPE:
        return dict(card.tiny), f"The card's tiny configuration (a smoke-test release of {model}, not a useful model)."
    preset = card.preset(recipe)  # ZooError naming the card's presets
    return dict(preset.config), preset.description


def release_model(model: str, owner: str, *, recipe: str = DEFAULT_RECIPE, runs_dir: Path = Path("runs/release"),
                  formats: tuple[str, ...] = FORMATS, presets_path: Path | None = None, repo_name: str | None = None,
                  run: Path | None = None, progress: bool = True, log: Callable[[str], None] = print) -> Any:
    """Train, push (with ``formats``) and record one model; returns the recorded :class:`zoo.presets.Preset`.

    ``run``: publish this finished run of the recipe instead of training (it must hold ``model``)."""
    from zoo import hub, registry
    from zoo.config import load_config
    from zoo.engine import train
    from zoo.presets import WEIGHTS, Preset, record_release
    from zoo.quiet import quiet_training

    overrides, description = recipe_config(model, recipe)
    if run is not None:
        from zoo.artifacts import read_config

        run_dir = Path(run)
        if read_config(run_dir)[0] != model or not (run_dir / "metrics.json").is_file():
            raise ZooError(f"--run {run_dir} is not a finished {model} run; train it with `zoo train {model}` or drop --run.")
    else:
        cls = registry.get(model)
        spec = cls(load_config(cls.Config, overrides=overrides, source=f"release recipe '{recipe}' of {model}"))
        run_dir = Path(runs_dir) / model / recipe
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ZooError(f"{run_dir} already holds a run; a release trains afresh: pass another --runs folder or delete it.")
        log(f"[{model}] training recipe '{recipe}' into {run_dir}")
        with quiet_training(False):
            train(spec, run_dir, command=f"zoo release --models {model} --recipe {recipe}", progress=progress)
    repo = f"{owner}/{repo_name or (model if recipe == DEFAULT_RECIPE else f'{model}-{recipe}')}"
    log(f"[{model}] exporting {', '.join(formats)} and pushing to {repo}")
    pushed = hub.push(str(run_dir), repo, formats=list(formats), commit_message=f"zoo release: {model} ({recipe})")
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("metrics", {})
    preset = Preset(name=recipe, description=description, config=overrides, weights=f"hf://{repo}@{pushed.commit}",
                    sha256=pushed.sha256[WEIGHTS], metrics=metrics,
                    files={k: v for k, v in pushed.sha256.items() if k != "README.md"})
    path = record_release(model, preset, presets_path)
    log(f"[{model}] recorded {preset.weights} (sha256 {preset.sha256[:12]}…) in {path}")
    return preset


def release(models: list[str], owner: str, **options: Any) -> list[Any]:
    """:func:`release_model` for each model, in order (all registered models when ``models`` is empty)."""
    from zoo import registry

    return [release_model(model, owner, **options) for model in (models or registry.names())]
