"""`zoo stylize`: Gatys et al.'s neural style transfer over any zoo backbone (light to import; the work is in zoo.style)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("stylize")
    def stylize(content: str = typer.Argument(..., help="Content image (PNG/JPEG)."),
                style: str = typer.Argument(..., help="Style image (PNG/JPEG); another size is resized to the content's, another mode converted to RGB (with a notice)."),
                backbone: Optional[str] = typer.Option(None, "--backbone", help="Loss network: any zoo backbone (vgg16, resnet18, lenet5, ...; default vgg16, or the one a --weights run holds)."),
                weights: str = typer.Option("none", "--weights", help="none (seeded random init), imagenet (local torch cache only), a .safetensors file, or a zoo run (transfer/pretext) whose backbone to use."),
                steps: int = typer.Option(100, "--steps", min=1, max=100000, help="L-BFGS iterations or Adam steps."),
                optimizer: str = typer.Option("lbfgs", "--optimizer", help="lbfgs (Gatys et al.) or adam."),
                content_weight: float = typer.Option(1.0, "--content-weight", min=0.0, help="Weight of the relative content loss."),
                style_weight: float = typer.Option(5.0, "--style-weight", min=0.0, help="Weight of the relative Gram (style) loss."),
                tv_weight: float = typer.Option(0.01, "--tv-weight", min=0.0, help="Weight of the total-variation loss."),
                content_layer: str = typer.Option("", "--content-layer", help="Backbone stage of the content loss (default: the middle stage)."),
                style_layers: str = typer.Option("", "--style-layers", help="Comma-separated stages of the style loss (default: all but the last)."),
                size: int = typer.Option(128, "--size", min=16, max=4096, help="Longest side of the result in pixels."),
                lr: float = typer.Option(0.05, "--lr", min=1e-6, max=10.0, help="Adam step size (on the logits of the pixels)."),
                seed: int = typer.Option(0, "--seed", min=0, help="Seed of a randomly initialised backbone."),
                out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: stylized/<content>-<style>).")) -> None:
        """Neural style transfer (Gatys, Ecker & Bethge 2016): optimise an image's pixels so that a backbone's deep
        features match the content image and its Gram matrices match the style image. Writes stylized.png,
        contact_sheet.png (content | style | result), loss_curve.png and stylize.json."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from zoo.style import StylizeSettings, run_stylize

        console, err = Console(), Console(stderr=True)
        folder = out or Path("stylized") / f"{Path(content).stem}-{Path(style).stem}"
        settings = StylizeSettings(backbone=backbone, weights=weights, steps=steps, optimizer=optimizer, content_weight=content_weight,
                                   style_weight=style_weight, tv_weight=tv_weight, content_layer=content_layer,
                                   style_layers=style_layers, size=size, lr=lr, seed=seed)
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("stylizing", total=steps, loss="-")

            def progress(done: int, terms: dict[str, Any]) -> None:
                bar.update(task, completed=done, loss=f"{terms['total']:.4g}")

            report = run_stylize(content, style, folder, settings, log=lambda m: err.print(m, highlight=False), progress=progress)
        first, last, scores = report["initial"], report["final"], report["scores"]
        console.print(f"{report['backbone']} ({report['weights']}), {report['optimizer']} x {report['steps']}: loss {first['total']:.4g} -> "
                      f"{last['total']:.4g} (content {last['content']:.4g}, style {first['style']:.4g} -> {last['style']:.4g}); "
                      f"style match {scores['style_match']:.3f}, content kept {scores['content_kept']:.3f}; "
                      f"{report['cpu_seconds']:.1f} s CPU", highlight=False)
        console.print(f"wrote {folder}/stylized.png, contact_sheet.png, loss_curve.png, stylize.json", highlight=False)
