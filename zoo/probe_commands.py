"""`zoo probe`: the command line of :mod:`zoo.probe` (light to import)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("probe")(probe_command)


def probe_command(
    run: str = typer.Argument(..., help="A run whose model has a backbone (rotnet, context, noise-level, transfer)."),
    labels_per_class: int = typer.Option(10, "--labels-per-class", min=1, max=100000, help="Labelled training images per class for each probe."),
    image_size: int = typer.Option(0, "--image-size", min=0, max=4096, help="Resize the run's images to this side first (0: the run's own size)."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Comma-separated seeds: each draws its labelled subset and its random-init backbone."),
) -> None:
    """Linear probe per backbone stage: logistic regression on each stage's pooled features with few labels,
    the run's backbone vs the same architecture from random init; writes probe.json and probe.png into the run."""
    from rich.console import Console
    from rich.table import Table

    from zoo.errors import ZooError
    from zoo.probe import probe

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ZooError(f"--seeds '{seeds}' is not a comma-separated list of integers; write e.g. --seeds 0,1,2.") from None
    console = Console()
    report = probe(run, labels_per_class=labels_per_class, seeds=seed_list, log=console.print, image_size=image_size)
    table = Table(title=f"linear probe per stage of {report.backbone} ({report.model} run, {report.data}, "
                        f"{report.image_size} px, {report.labels_per_class} labels/class, {report.test_images} test images)")
    for col in ("stage", "features", "run's backbone", "random init", "difference"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for s in report.stages:
        p, r = s["pretrained"], s["random"]
        table.add_row(s["stage"], str(s["features"]), f"{100 * p['mean']:.1f} ± {100 * p['std']:.1f}",
                      f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}", f"{100 * (p['mean'] - r['mean']):+.1f}")
    console.print(table)
    console.print(f"test accuracy (%), mean ± standard deviation over seeds {','.join(map(str, report.seeds))}; "
                  f"report: {report.run}/probe.json, picture: {report.run}/probe.png")
