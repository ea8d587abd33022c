"""The `zoo` command line. Heavy modules (torch, lightning, onnx, gradio) are imported inside commands,
so `zoo --help` is instant. `zoo train MODEL` options are generated from each model's typed config."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from typer._click.exceptions import ClickException
from typer.core import TyperGroup
from typer.exceptions import Abort as TyperAbort
from typer.exceptions import Exit as TyperExit
from rich.console import Console
from rich.table import Table

from zoo.errors import ZooError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(name="zoo", no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="rich",
                  help="A deployable model zoo: train paper models, export to ONNX/Keras, benchmark, push to the Hub, demo.")

# Modules that add their commands to `app` through a `register(app)` function (kept light to import).
COMMAND_MODULES = ["exporters.commands", "exporters.bench_commands", "zoo.hub_commands", "demos.commands", "zoo.tune_commands",
                   "zoo.visualize.commands", "zoo.style_commands", "zoo.probe_commands",
                   "zoo.generate_commands"]


@app.command("list")
def list_models() -> None:
    """Table of the zoo's models: task, input, default data set, parameters (read from torch-free cards)."""
    from zoo import registry

    table = Table(title="zoo models")
    for col in ("model", "task", "input", "default data", "parameters", "paper metric"):
        table.add_column(col)
    for name in registry.names():
        card = registry.card(name)
        table.add_row(name, card.task, card.inputs, card.default_data, f"{card.parameters:,}", card.primary_metric)
    console.print(table)


@app.command("info")
def info(model: str = typer.Argument(..., help="Model name (see `zoo list`).")) -> None:
    """What a model is, its paper, presets and every config option with its default and group."""
    from zoo import registry
    from zoo.config import field_group

    card = registry.card(model)
    config_cls = card.config_class()
    console.print(f"[bold]{card.name}[/] — {card.summary}\n[dim]{card.paper}[/]\n")
    console.print(f"task: {card.task} ({card.kind})   default data: {card.default_data}   headline metric: {card.primary_metric}")
    console.print(f"input: {card.inputs}   parameters (default config): {card.parameters:,}")
    from zoo.presets import presets_for

    for preset in presets_for(model):
        weights = f" weights {preset.weights}" if getattr(preset, "weights", None) else ""
        console.print(f"preset [cyan]{preset.name}[/]: {getattr(preset, 'description', '')}{weights}")
    table = Table(title="config (zoo train options / --config keys)")
    for col in ("option", "default", "group", "description"):
        table.add_column(col)
    defaults = config_cls()
    for name, fld in config_cls.model_fields.items():
        table.add_row("--" + name.replace("_", "-"), repr(getattr(defaults, name)), field_group(config_cls, name), fld.description or "")
    console.print(table)
    if "backbone" in config_cls.model_fields:
        from zoo.backbones import BACKBONES

        bb = Table(title="backbones (--backbone)")
        for col in ("name", "family", "min size", "ImageNet weights", "paper / notes"):
            bb.add_column(col)
        for b in BACKBONES.values():
            bb.add_row(b.name, b.family, str(b.min_size), b.weights or "—", b.notes or b.paper)
        console.print(bb)


@app.command("data")
def list_data() -> None:
    """The named data sets and whether they work offline."""
    from zoo.data import CATALOG

    table = Table(title="data sets")
    for col in ("name", "kind", "offline", "description"):
        table.add_column(col)
    for entry in CATALOG.values():
        table.add_row(entry.name, entry.kind, "yes" if entry.offline else "downloads", entry.description)
    console.print(table)


@app.command("eval")
def evaluate(source: Optional[str] = typer.Argument(None, help="Run directory, model.safetensors or hf://OWNER/NAME[@REV] (default: the most recent finished run under ./runs)."),
             json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics to this JSON file."),
             pretrained: bool = typer.Option(False, "--pretrained", help="Evaluate the model's published weights (SOURCE is then the model name; sha256-verified download)."),
             preset: Optional[str] = typer.Option(None, "--preset", help="Evaluate this published preset's weights (implies --pretrained).")) -> None:
    """Evaluate a trained model on its held-out split with the paper's metric."""
    from zoo import artifacts
    from zoo import io as zio
    from zoo.runs import choose_source

    source = choose_source(source, "eval", pretrained=pretrained, preset=preset, log=console.print)
    art = artifacts.load(source)
    metrics = art.spec.evaluate(art.predictor())
    table = Table(title=f"{art.name} — {source}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("recorded at training", justify="right")
    recorded = art.metrics.get("metrics", {})
    for key, value in metrics.items():
        old = recorded.get(key)
        table.add_row(key, f"{value:.4f}", "" if old is None else f"{old:.4f}")
    console.print(table)
    for line in art.spec.eval_report({**recorded, **metrics}):
        console.print(line)
    if json_out:
        zio.write_json(json_out, {"model": art.name, "source": source, "metrics": metrics})


@app.command("audit")
def audit(runs: list[str] = typer.Argument(..., help="Transfer-learned run directories (runs/transfer/<time>); several compare their freezing."),
          steps: int = typer.Option(200, "--steps", min=1, max=100000, help="Gradient steps per crafted input."),
          lr: float = typer.Option(0.05, "--lr", min=1e-6, max=10.0, help="Adam step size on the normalised input."),
          boost: float = typer.Option(10.0, "--boost", min=1.0, max=1e6, help="Target neuron goal: boost x its largest clean activation."),
          start: str = typer.Option("random", "--start", help="Start images: random test images, or top (per neuron, the test image that activates it most)."),
          neurons: int = typer.Option(0, "--neurons", min=0, help="Craft for the first N penultimate neurons only (0: all)."),
          seed: int = typer.Option(0, "--seed", min=0, help="Seed of the start images and of the query order."),
          backbone_from: Optional[str] = typer.Option(None, "--backbone-from", help="The public backbone the run started from, when its recorded --init-from no longer resolves."),
          onnx: Optional[str] = typer.Option(None, "--onnx", help="The deployed model's .onnx file (default: the run's export, made when missing).")) -> None:
    """Security audit: the target-agnostic attack (Rezaei & Liu 2020) on your own transfer-learned model.

    Crafts inputs from the public backbone alone (one per penultimate neuron), queries the deployed ONNX
    model with them and reports effectiveness at 95%/99% confidence, NABAC and per-class hits;
    writes audit.json and audit.png into each run directory."""
    from rich.progress import Progress

    from zoo.audit import AuditSettings, audit as run_audit

    settings = AuditSettings(steps=steps, lr=lr, boost=boost, start=start, neurons=neurons, seed=seed, backbone_from=backbone_from, onnx=onnx)
    reports = []
    for run in runs:
        with Progress(console=err_console, transient=True) as bar:
            task = bar.add_task(f"crafting inputs for {run}", total=steps)
            report = run_audit(run, settings, log=console.print, progress=lambda done, total: bar.update(task, completed=done))
        reports.append(report)
        table = Table(title=f"target-agnostic attack on {report.run} ({report.backbone} from {report.backbone_source}, "
                            f"freeze {report.freeze}: {report.retrained_stages} of {report.stages} stages retrained)")
        for col in ("class", "crafted inputs", "at >= 95%", "at >= 99%", "first attempt (95%)"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for row in report.per_class:
            first = row["first_attempt_95"]
            table.add_row(row["class"], str(row["crafted_inputs"]), str(row["at_95"]), str(row["at_99"]), "-" if first is None else str(first))
        console.print(table)
        nabac = str(report.nabac) if report.nabac is not None else f"not reached ({report.classes_broken} of {len(report.classes)} classes broken)"
        console.print(f"effectiveness: {100 * report.effectiveness['95']:.1f}% at 95% confidence, {100 * report.effectiveness['99']:.1f}% at 99% "
                      f"(clean test images: {100 * report.clean_confident['95']:.1f}% / {100 * report.clean_confident['99']:.1f}%; "
                      f"the unmodified start images: {100 * report.start_confident['95']:.1f}% / {100 * report.start_confident['99']:.1f}%); "
                      f"NABAC {nabac} of {report.attempts} attempts")
        f = report.features
        console.print(f"crafted features on the attacker's backbone (medians): target / largest other {f['target_over_rest_median']:.3g} "
                      f"(clean images, top / second: {f['clean_top_over_second_median']:.3g}), target / its clean maximum "
                      f"{f['target_over_clean_median']:.3g} (goal {settings.boost:g}); target is the top feature in "
                      f"{100 * f['target_is_top_share']:.0f}% of crafted inputs; {100 * f['dead_neuron_share']:.0f}% of neurons are zero "
                      f"on every clean test image, {100 * f['clean_zero_feature_share']:.0f}% of clean features are exactly zero")
        console.print(f"report: {report.run}/audit.json, picture: {report.run}/audit.png, deployed model queried: {report.onnx}")
    if len(reports) > 1:
        table = Table(title="attack strength by freezing")
        for col in ("run", "freeze", "retrained layers", "eff. 95%", "eff. 99%", "NABAC"):
            table.add_column(col)
        for r in sorted(reports, key=lambda r: r.retrained_layers):
            table.add_row(r.run, r.freeze, str(r.retrained_layers), f"{100 * r.effectiveness['95']:.1f}%",
                          f"{100 * r.effectiveness['99']:.1f}%", "-" if r.nabac is None else str(r.nabac))
        console.print(table)


# -- zoo train MODEL: one sub-command per registered model, built on demand --------------------------

RUN_OPTIONS = {"preset", "config_file", "out", "run_dir", "overwrite", "resume", "progress", "verbose"}


def _option_parameter(name: str, field: Any) -> inspect.Parameter:
    """A typer option for one config field; defaults are None so 'given on the command line' is visible."""
    from zoo.config import field_kind, literal_choices

    flag = "--" + name.replace("_", "-")
    inner, _ = field_kind(field.annotation)
    default = field.default
    shown = ",".join(map(str, default)) if isinstance(default, list) else default
    help_text = f"{field.description or ''} [default: {shown}]"
    choices = literal_choices(field.annotation)
    if inner is bool:
        option = typer.Option(None, f"{flag}/--no-{name.replace('_', '-')}", help=help_text, show_default=False)
        annotation: Any = Optional[bool]
    else:
        if choices:
            help_text = f"{help_text} (one of: {', '.join(choices)})"
        annotation = Optional[inner] if inner in (int, float) else Optional[str]  # lists: comma-separated
        option = typer.Option(None, flag, help=help_text, show_default=False)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


def _train_command(model_name: str) -> Any:
    from zoo import registry

    cls = registry.card(model_name)  # torch-free: `zoo train MODEL --help` imports no model code
    config_cls = cls.config_class()
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter("preset", kw, annotation=Optional[str],
                          default=typer.Option(None, "--preset", help="Start from a named config of the model card (see `zoo info MODEL`); options override it.")),
        inspect.Parameter("config_file", kw, annotation=Optional[Path],
                          default=typer.Option(None, "--config", help="YAML file of options (command-line options override it).")),
        inspect.Parameter("out", kw, annotation=Path, default=typer.Option(Path("runs"), "--out", help="Root folder for run directories.")),
        inspect.Parameter("run_dir", kw, annotation=Optional[Path], default=typer.Option(None, "--run-dir", help="Exact run directory (default: OUT/MODEL/TIMESTAMP).")),
        inspect.Parameter("overwrite", kw, annotation=bool, default=typer.Option(False, "--overwrite", help="Let --run-dir replace a finished run there (its zoo files are removed once the options are valid).")),
        inspect.Parameter("resume", kw, annotation=Optional[Path], default=typer.Option(None, "--resume", help="Continue an interrupted run (its directory) from its last checkpoint.")),
        inspect.Parameter("progress", kw, annotation=bool, default=typer.Option(True, "--progress/--no-progress", help="Show progress bars.")),
        inspect.Parameter("verbose", kw, annotation=bool, default=typer.Option(False, "--verbose", help="Also show Lightning's info lines and library warnings.")),
    ]
    from zoo.config import field_group

    # fields derived from the data (class names, shapes) are recorded in the artifact, not options
    params += [_option_parameter(n, f) for n, f in config_cls.model_fields.items() if field_group(config_cls, n) != "derived"]

    def run(**kwargs: Any) -> None:
        given = {k: v for k, v in kwargs.items() if k not in RUN_OPTIONS and v is not None}
        _train(model_name, given, kwargs)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    sub = typer.Typer(pretty_exceptions_enable=False)
    sub.command(name=model_name, help=f"{cls.summary}\n\n{cls.paper}", short_help=cls.summary)(run)
    return typer.main.get_command(sub)


def _train(model_name: str, overrides: dict[str, Any], opts: dict[str, Any]) -> None:
    from zoo import registry
    from zoo.config import load_config
    from zoo.engine import new_run_dir, train

    command = "zoo " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if Path(sys.argv[0]).name == "zoo" else f"zoo train {model_name}"
    if opts.get("resume"):
        from zoo.artifacts import read_config

        run_dir = Path(opts["resume"])
        if overrides or opts.get("config_file"):
            raise ZooError("--resume continues with the run's saved config; drop the other options.")
        name, fields = read_config(run_dir)
        if name != model_name:
            raise ZooError(f"{run_dir} is a '{name}' run; resume it with `zoo train {name} --resume {run_dir}`.")
        if (run_dir / "model.safetensors").exists() and (run_dir / "metrics.json").exists():
            raise ZooError(f"{run_dir} already finished; start a new run or evaluate it with `zoo eval {run_dir}`.")
        spec = registry.create(name, fields)
        resume = True
    else:
        cls = registry.get(model_name)
        if opts.get("preset"):
            overrides = {**registry.card(model_name).preset(opts["preset"]).config, **overrides}
        config = load_config(cls.Config, yaml_path=opts.get("config_file"), overrides=overrides, model=model_name)
        spec = cls(config)
        run_dir = Path(opts["run_dir"]) if opts.get("run_dir") else new_run_dir(Path(opts["out"]), model_name)
        resume = False
    from zoo.quiet import quiet_training

    with quiet_training(bool(opts.get("verbose"))):
        doc = train(spec, run_dir, resume=resume, command=command, progress=opts.get("progress", True),
                    overwrite=bool(opts.get("overwrite")))
    if doc:
        _print_result(doc, run_dir)


def _print_result(doc: dict[str, Any], run_dir: Path) -> None:
    table = Table(title=f"{doc['model']} — {run_dir}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in doc["metrics"].items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    table.add_row("train seconds", f"{doc['train_seconds']:.0f}")
    table.add_row("peak memory (MB)", f"{doc['peak_memory_mb']:.0f}")
    console.print(table)
    console.print(f"run directory: [bold]{run_dir}[/] (model.safetensors, metrics.json, training_curves.png)")


class TrainGroup(TyperGroup):
    """`zoo train MODEL ...`: lists models without importing them; builds a model's options on demand."""

    def list_commands(self, ctx: Any) -> list[str]:
        from zoo import registry

        return registry.names()

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return _train_command(cmd_name)


train_app = typer.Typer(cls=TrainGroup, no_args_is_help=True,
                        help="Train a zoo model; `zoo train MODEL --help` lists its options.")
app.add_typer(train_app, name="train")


def build_cli() -> Any:
    for module in COMMAND_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).register(app)
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> None:
    group = build_cli()
    try:
        code = group.main(args=argv, prog_name="zoo", standalone_mode=False)
    except ZooError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except TyperExit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:  # usage errors from option parsing: same one-line form as ours
        ctx = getattr(exc, "ctx", None)
        hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
        err_console.print(f"[bold red]error:[/] {exc.format_message()}{hint}.", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        from zoo.errors import FULL_DISK_ERRNOS, disk_error

        if exc.errno not in FULL_DISK_ERRNOS | {30}:  # 30 = EROFS; other OSErrors are bugs worth a traceback
            raise
        err_console.print(f"[bold red]error:[/] {disk_error(exc)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (TyperAbort, KeyboardInterrupt):
        err_console.print("[bold red]aborted[/]")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
