"""`zoo bench`. Imported by cli.py at start-up: typer/rich/stdlib only here; the measuring code
(torch, onnx, onnxruntime, matplotlib) is imported inside the command body."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console()


def bench_command(
    source: Optional[str] = typer.Argument(None, help="Run directory, model.safetensors, hf://OWNER/NAME@REV or an .onnx file (default: the most recent finished run under ./runs)."),
    providers: str = typer.Option("cpu,cuda", "--providers", help="onnxruntime execution providers, comma-separated: cpu, cuda, tensorrt. Unavailable ones are reported, never replaced by CPU."),
    batch_sizes: str = typer.Option("1,8,32", "--batch-sizes", help="Batch sizes, comma-separated positive integers."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for both onnxruntime (intra-op) and PyTorch, and OMP_NUM_THREADS (default: the physical cores available)."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed calls before timing, per batch size."),
    iters: Optional[int] = typer.Option(None, "--iters", help="Timed calls per batch size (instead of --seconds)."),
    seconds: Optional[float] = typer.Option(None, "--seconds", help="Time each batch size for this long (at least 20 calls) (default: 2 s when --iters is not given)."),
    compare_torch: bool = typer.Option(True, "--compare-torch/--no-compare-torch", help="Measure PyTorch eager on the same inputs as the baseline."),
    torch_compile: bool = typer.Option(True, "--torch-compile/--no-torch-compile", help="Also measure torch.compile (reported unavailable, with the reason, if it fails or runs too long)."),
    fp16: bool = typer.Option(False, "--fp16", help="Also measure a float16 ONNX (exporters.quantize.to_fp16)."),
    int8: bool = typer.Option(False, "--int8", help="Also measure int8 ONNX files: dynamic and static (calibrated on training inputs)."),
    optimization: str = typer.Option("all", "--optimization", help="onnxruntime graph optimisation: all, extended, basic or disabled."),
    execution_mode: str = typer.Option("sequential", "--execution-mode", help="onnxruntime execution mode: sequential or parallel."),
    profile: bool = typer.Option(False, "--profile", help="Also profile each configuration (onnxruntime profiler, torch.profiler) into OUT/profiles; timings are taken without profiling."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: the run directory for a run source, else ./bench-MODEL)."),
    pretrained: bool = typer.Option(False, "--pretrained", help="Use the model's published weights (SOURCE is then the model name; sha256-verified download)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Use this published preset's weights (implies --pretrained; see `zoo info MODEL`)."),
) -> None:
    """Latency, throughput, first-call time and memory on onnxruntime (CPU/CUDA/TensorRT) against PyTorch.

    Writes bench.json, bench.csv, bench.md (model-card table) and bench.png into OUT."""
    from exporters.bench import make_settings, run_bench
    from exporters.bench_report import rich_report, write_outputs
    from zoo.runs import choose_source

    source = choose_source(source, "bench", pretrained=pretrained, preset=preset, log=console.print)

    settings = make_settings(providers=providers, batch_sizes=batch_sizes, threads=threads, warmup=warmup, iters=iters,
                             seconds=seconds, compare_torch=compare_torch, torch_compile=torch_compile, fp16=fp16,
                             int8=int8, optimization=optimization, execution_mode=execution_mode, profile=profile)
    command = settings.command_line(source, out)
    with console.status("zoo bench") as status:
        run = run_bench(source, settings, out, command=command, progress=lambda text: status.update(f"zoo bench: {text}"))
    for part in rich_report(run.doc, console.width):
        console.print(part)
    written = write_outputs(run)
    console.print(f"wrote {', '.join(p.name for p in written)} to [bold]{run.out}[/]")
    if run.profiles:
        console.print(f"profiles: {len(run.profiles)} files in {run.out / 'profiles'} (open in chrome://tracing or ui.perfetto.dev)")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
