"""`zoo tune MODEL`: hyperparameter search on Optuna, every trial a normal zoo run tracked in MLflow.

The search space is declared on the model's config: a field with ``json_schema_extra={"search": {...}}``
(``{"low": a, "high": b, "log": bool}`` for numbers, ``{"type": "categorical", "choices": [...]}``)
is searched; ``--space FIELD=LOW:HIGH[:log]`` or ``FIELD=a|b|c`` adds or replaces entries. Trials share
an Optuna storage (SQLite file by default, any database URL for many machines), so several
``zoo tune`` processes on one ``--storage``/``--study`` fill one study.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import urllib.parse
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


def declared_space(config_cls: Any) -> dict[str, dict[str, Any]]:
    """The ``search`` entries declared on the config's fields."""
    space = {}
    for name, info in config_cls.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if "search" in extra:
            space[name] = dict(extra["search"])
    return space


def parse_space(entries: list[str], config_cls: Any) -> dict[str, dict[str, Any]]:
    """``FIELD=LOW:HIGH[:log]`` or ``FIELD=a|b|c`` entries -> search entries."""
    space: dict[str, dict[str, Any]] = {}
    for entry in entries:
        name, sep, spec = entry.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not spec:
            raise ZooError(f"--space '{entry}' is not FIELD=LOW:HIGH[:log] or FIELD=a|b|c; write it that way.")
        if "|" in spec:
            space[name] = {"type": "categorical", "choices": [_scalar(v) for v in spec.split("|")]}
            continue
        parts = spec.split(":")
        try:
            low, high = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise ZooError(f"--space '{entry}': LOW and HIGH must be numbers (FIELD=LOW:HIGH[:log]); fix the range.") from None
        space[name] = {"low": low, "high": high, "log": len(parts) > 2 and parts[2] == "log"}
    return space


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def check_space(space: dict[str, dict[str, Any]], config_cls: Any, fixed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every searched field exists, and both ends of its range (or every choice) are valid values of it."""
    from pydantic import ValidationError

    if not space:
        raise ZooError(f"{config_cls.__name__} declares no search space; add --space FIELD=LOW:HIGH (e.g. --space lr=1e-4:1e-2:log).")
    fields = config_cls.model_fields
    for name, entry in space.items():
        if name not in fields:
            raise ZooError(f"--space names unknown field '{name}'; searchable fields are: {', '.join(fields)}.")
        info = fields[name]
        is_int = info.annotation is int
        if entry.get("type") == "categorical":
            values = entry["choices"]
        else:
            if entry["low"] >= entry["high"]:
                raise ZooError(f"search range of '{name}' is empty ({entry['low']} >= {entry['high']}); give LOW < HIGH.")
            if entry.get("log") and entry["low"] <= 0:
                raise ZooError(f"log search range of '{name}' starts at {entry['low']}; a log range needs LOW > 0.")
            if is_int:
                entry["low"], entry["high"] = int(entry["low"]), int(entry["high"])
            entry["type"] = "int" if is_int else "float"
            values = [entry["low"], entry["high"]]
        for value in values:
            try:
                config_cls(**{**fixed, name: value})
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"]
                raise ZooError(f"search space of '{name}' includes {value!r}, outside the field's valid range ({msg}); "
                               "narrow the range.") from None
    return space


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, entry in space.items():
        if entry["type"] == "categorical":
            # Optuna stores choices as scalars: list choices (layer widths) go by their JSON text
            labels = [json.dumps(c) for c in entry["choices"]]
            params[name] = json.loads(trial.suggest_categorical(name, labels))
        elif entry["type"] == "int":
            params[name] = trial.suggest_int(name, entry["low"], entry["high"], log=bool(entry.get("log")))
        else:
            params[name] = trial.suggest_float(name, entry["low"], entry["high"], log=bool(entry.get("log")))
    return params


def read_curves(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "logs" / "main" / "metrics.csv"
    if not path.exists():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def best_of(curves: list[dict[str, str]], metric: str, direction: str) -> float:
    values = [float(row[metric]) for row in curves if row.get(metric) not in (None, "")]
    if not values:
        raise ZooError(f"the trial logged no '{metric}'; pick a logged validation metric with --metric (e.g. val/loss).")
    return min(values) if direction == "minimize" else max(values)


def pruning_callback(trial: Any, metric: str) -> Any:
    """A Lightning callback that reports ``metric`` after each validation and stops a trial Optuna prunes."""
    import lightning as L

    class OptunaPruning(L.Callback):
        pruned = False

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            value = trainer.callback_metrics.get(metric)
            if value is None or trainer.sanity_checking:
                return
            trial.report(float(value), step=trainer.current_epoch)
            if trial.should_prune():
                self.pruned = True
                trainer.should_stop = True

    return OptunaPruning()


def log_trial(tracking_uri: str, experiment: str, trial_number: int, params: dict[str, Any], run_dir: Path,
              value: float, metric: str, state: str) -> str:
    """One MLflow run per trial: params, the training/validation curves, test metrics and the run's files."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow.MlflowClient(tracking_uri)
    exp_id = experiment_id(client, tracking_uri, experiment)
    run = client.create_run(exp_id, run_name=f"trial-{trial_number:03d}",
                            tags={"zoo.trial": str(trial_number), "zoo.state": state, "zoo.run_dir": str(run_dir)})
    rid = run.info.run_id
    metrics: list[Metric] = []
    for row in read_curves(run_dir):
        step = int(float(row.get("step") or 0))
        for key, text in row.items():
            if key not in ("step", "epoch") and text not in (None, ""):
                metrics.append(Metric(key, float(text), 0, step))
    doc_path = run_dir / "metrics.json"
    if doc_path.exists():
        from zoo import io as zio

        for key, val in zio.read_json_object(doc_path, "re-run the trial").get("metrics", {}).items():
            if isinstance(val, (int, float)) and math.isfinite(val):
                metrics.append(Metric(key, float(val), 0, 0))
    metrics.append(Metric(f"best/{metric}", value, 0, 0))
    params_list = [Param(k, json.dumps(v) if isinstance(v, list) else str(v)) for k, v in params.items()]
    for i in range(0, max(len(metrics), 1), 900):
        client.log_batch(rid, metrics=metrics[i:i + 900], params=params_list if i == 0 else [], tags=[RunTag("zoo.metric", metric)] if i == 0 else [])
    for name in ("config.json", "metrics.json", "run.yaml", "baseline.json"):
        if (run_dir / name).exists():
            client.log_artifact(rid, str(run_dir / name))
    client.set_terminated(rid, "FINISHED" if state == "COMPLETE" else "KILLED")
    return rid


def experiment_id(client: Any, tracking_uri: str, name: str) -> str:
    """The id of MLflow experiment ``name``, created if missing, safe when several processes ask at once.

    A file store checks "exists?" and then creates, so two processes can both pass the check and one
    fails; a lock beside the store makes the pair atomic. A server refuses the second creation, so the
    loser reads the winner's experiment back.
    """
    from mlflow.exceptions import MlflowException

    lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if tracking_uri.startswith("file:"):
        from filelock import FileLock

        store = Path(urllib.parse.unquote(urllib.parse.urlparse(tracking_uri).path))
        store.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(store.parent / f".{store.name}.lock"), timeout=120)
    with lock:
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        try:
            return client.create_experiment(name)
        except MlflowException:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id


def tune(model: str, *, trials: int, search: str, out: Path, storage: str | None, study_name: str | None,
         tracking_uri: str | None, metric: str, direction: str, space_entries: list[str], fixed: dict[str, Any],
         prune: bool, seed: int) -> dict[str, Any]:
    """Run ``trials`` trials of ``model`` into ``out``; returns the study summary (also written to ``out/best.json``)."""
    if trials < 1:
        raise ZooError(f"--trials {trials}: a search needs at least 1 trial; pass --trials 1 or more.")
    if search not in ("random", "tpe"):
        raise ZooError(f"--search {search} is not a sampler; use random or tpe.")
    if direction not in ("minimize", "maximize"):
        raise ZooError(f"--direction {direction}: use minimize or maximize.")
    from zoo import registry

    config_cls = registry.config_class(model)
    from pydantic import ValidationError

    from zoo.config import describe_validation_error

    try:
        config_cls(**fixed)
    except ValidationError as exc:
        raise ZooError(describe_validation_error(exc, "--set")) from None
    space = check_space({**declared_space(config_cls), **parse_space(space_entries, config_cls)}, config_cls, fixed)

    import optuna

    from zoo.engine import train

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{out / 'optuna.db'}"
    tracking_uri = tracking_uri or (out / "mlruns").as_uri()
    study_name = study_name or f"zoo-{model}"
    sampler = optuna.samplers.RandomSampler(seed=seed) if search == "random" else optuna.samplers.TPESampler(seed=seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1) if prune else optuna.pruners.NopPruner()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(optuna, study_name=study_name, storage=storage, sampler=sampler, pruner=pruner,
                        direction=direction, load_if_exists=True)
    cls = registry.get(model)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        try:
            config = config_cls(**{**fixed, **params})
        except ValidationError as exc:
            raise ZooError(describe_validation_error(exc, "zoo tune")) from None
        run_dir = out / f"trial-{trial.number:03d}"
        trial.set_user_attr("run_dir", str(run_dir))
        callback = pruning_callback(trial, metric)
        train(cls(config), run_dir, command=f"zoo tune {model} (trial {trial.number})", progress=False,
              trainer_overrides={"callbacks": [callback]})
        value = best_of(read_curves(run_dir), metric, direction)
        state = "PRUNED" if callback.pruned else "COMPLETE"
        log_trial(tracking_uri, study_name, trial.number, params, run_dir, value, metric, state)
        if callback.pruned:
            raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=trials, catch=())
    return summarise(study, out, metric, storage, tracking_uri)


def _open_study(optuna: Any, **kwargs: Any) -> Any:
    """create_study, retried: processes starting together on a new SQLite file race to create its tables."""
    import time

    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(10):
        try:
            return optuna.create_study(**kwargs)
        except (SQLAlchemyError, optuna.exceptions.DuplicatedStudyError):
            if attempt == 9:
                raise
            time.sleep(0.5 + 0.5 * attempt)
    raise AssertionError("unreachable")


def summarise(study: Any, out: Path, metric: str, storage: str, tracking_uri: str) -> dict[str, Any]:
    """results.csv (every trial of the study), best.json, and the optimisation-history / importance pictures."""
    from zoo import io as zio

    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs", "duration"))
    with zio.atomic_path(out / "results.csv") as tmp:
        frame.to_csv(tmp, index=False)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    summary: dict[str, Any] = {"study": study.study_name, "storage": storage, "tracking_uri": tracking_uri, "metric": metric,
                               "trials": len(study.trials), "complete": len(complete),
                               "pruned": sum(t.state.name == "PRUNED" for t in study.trials)}
    if complete:
        best = study.best_trial
        summary |= {"best_trial": best.number, "best_value": best.value, "best_params": best.params,
                    "best_run_dir": best.user_attrs.get("run_dir")}
    zio.write_json(out / "best.json", summary)
    _pictures(study, out, len(complete))
    return summary


def _pictures(study: Any, out: Path, complete: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm
    import warnings

    from zoo import io as zio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna marks its matplotlib plots experimental
        plots = [("optimization_history.png", ovm.plot_optimization_history)]
        if complete >= 2:
            plots.append(("param_importances.png", ovm.plot_param_importances))
        for name, plot in plots:
            try:
                ax = plot(study)
            except (ValueError, RuntimeError):  # e.g. importances of a parameter that never varied
                continue
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            with zio.atomic_path(out / name) as tmp:
                fig.savefig(tmp, dpi=100, format="png")
            plt.close(fig)
