"""`zoo export`, `zoo convert`, `zoo verify`. Imported by cli.py at start-up: typer/rich/stdlib only here;
the conversion code (torch, onnx, onnxruntime, keras) is imported inside the command bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def export_command(
    source: Optional[str] = typer.Argument(None, help="Run directory, model.safetensors (config beside it) or hf://OWNER/NAME[@REV] (default: the most recent finished run under ./runs)."),
    target_dir: Optional[Path] = typer.Argument(None, metavar="[OUT]", help="Output folder (same as --out); for --to triton the model repository."),
    to: str = typer.Option("onnx", "--to", help="Target format: onnx, keras, torchscript or triton (a Triton Inference Server model repository)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: the run directory; for hf:// the current folder)."),
    opset: Optional[int] = typer.Option(None, "--opset", help="ONNX opset (default 20)."),
    dynamic_batch: bool = typer.Option(True, "--dynamic-batch/--static", help="Symbolic batch axis, or a graph fixed to batch 1."),
    fp16: bool = typer.Option(False, "--fp16", help="float16 weights and compute, float32 inputs/outputs (ONNX only): NAME.fp16.onnx."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8 quantisation (ONNX only): dynamic -> NAME.int8.onnx, static -> NAME.int8-static.onnx."),
    atol: Optional[float] = typer.Option(None, "--atol", help="Max absolute error allowed (default 1e-4 fp32, 1e-2 fp16; int8 is judged by the task metric)."),
    metric_tolerance: Optional[float] = typer.Option(None, "--metric-tolerance", help="int8: max drop of the primary metric (default 0.01 = 1 point)."),
    rows: int = typer.Option(64, "--rows", help="Held-out examples the tensor comparison runs on."),
    calibration_rows: int = typer.Option(128, "--calibration-rows", help="Training examples for static int8 calibration."),
    max_batch_size: int = typer.Option(32, "--max-batch-size", help="--to triton: max_batch_size of config.pbtxt (dynamic batching)."),
    instances: int = typer.Option(1, "--instances", help="--to triton: model instances (instance_group count)."),
    instance_kind: str = typer.Option("KIND_AUTO", "--instance-kind", help="--to triton: KIND_AUTO, KIND_CPU or KIND_GPU."),
) -> None:
    """Export trained PyTorch weights to ONNX / Keras 3 / TorchScript, parity-checked on real held-out data.

    Writes NAME.onnx (etc.) and NAME.onnx.parity.json, and NAME.GRAPH.onnx for each further graph the model
    exports (an encoder, a decoder); fails with no file if any graph's parity is out of tolerance."""
    from exporters.export import export
    from exporters.parity import check_rows
    from zoo.runs import default_source

    from zoo.errors import ZooError

    if target_dir is not None and out is not None and target_dir != out:
        raise ZooError(f"two output folders given ({target_dir} and --out {out}); pass one.")
    out = out or target_dir
    source = default_source(source, "export", log=console.print)
    if to.lower().strip() == "triton":
        from exporters.triton import write_repository

        if out is None:
            raise ZooError("--to triton needs an output folder: `zoo export RUN --to triton OUT/`.")
        repo = write_repository(source, out, max_batch_size=max_batch_size, instance_count=instances,
                                instance_kind=instance_kind)
        console.print(f"wrote Triton model repository {out}: {repo.onnx.relative_to(out)}, {repo.config.relative_to(out)}"
                      + (f", {repo.labels.relative_to(out)}" if repo.labels else ""))
        console.print(f"serve: docker run --rm -p8000:8000 -p8001:8001 -v {Path(out).resolve()}:/models "
                      "nvcr.io/nvidia/tritonserver:<xx.yy>-py3 tritonserver --model-repository=/models", soft_wrap=True)
        return
    result = export(source, to, out, opset=opset, dynamic_batch=dynamic_batch, fp16=fp16, quantize=quantize, atol=atol,
                    metric_tolerance=metric_tolerance, rows=check_rows(rows), calibration_rows=check_rows(calibration_rows))
    for written in (result, *result.graphs):
        _print_report(written.parity, f"wrote {written.path} ({written.parity_path.name})")


def convert_command(
    source: Path = typer.Argument(..., help="A .keras file (--to onnx) or an .onnx file (--to keras | pytorch)."),
    to: str = typer.Option(..., "--to", help="onnx (from .keras), keras or pytorch (from .onnx)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Target file or folder (default: beside SOURCE)."),
    atol: Optional[float] = typer.Option(None, "--atol", help="Max absolute error allowed (default 1e-4)."),
    rows: int = typer.Option(64, "--rows", help="Held-out examples the comparison runs on."),
    opset: Optional[int] = typer.Option(None, "--opset", help="ONNX opset for --to onnx (Keras' default if unset)."),
) -> None:
    """Convert an exported file between ONNX, Keras 3 and PyTorch, parity-checked against the source file."""
    from exporters.export import convert
    from exporters.parity import check_rows

    result = convert(source, to, out, atol=atol, rows=check_rows(rows), opset=opset)
    _print_report(result.parity, f"wrote {result.path} ({result.parity_path.name})")


def verify_command(
    file: Path = typer.Argument(..., help="An exported .onnx, .keras, .torchscript.pt or onnx2torch .safetensors file."),
    source: Optional[str] = typer.Option(None, "--source", help="Reference (run dir, hf://, .onnx/.keras); default: the one its parity report names."),
    atol: Optional[float] = typer.Option(None, "--atol", help="Override the stored tolerance."),
    metric_tolerance: Optional[float] = typer.Option(None, "--metric-tolerance", help="Override the stored int8 metric tolerance."),
    rows: Optional[int] = typer.Option(None, "--rows", help="Held-out examples (default: as when exported)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the new parity report here."),
) -> None:
    """Re-run the parity check of an exported file against its source weights; non-zero exit if it fails."""
    from exporters.export import verify
    from exporters.parity import check_rows

    report = verify(file, source=source, atol=atol, metric_tolerance=metric_tolerance,
                    rows=check_rows(rows) if rows is not None else None)
    if json_out:
        from zoo import io as zio

        zio.write_json(json_out, report)
    _print_report(report, f"{file}: parity OK against {report['source'].get('path')}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
    app.command("convert")(convert_command)
    app.command("verify")(verify_command)


def _print_report(report: dict[str, Any], headline: str) -> None:
    target = report.get("target", {})
    graph = f".{report['graph']}" if report.get("graph") else ""
    table = Table(title=f"{report.get('model')}{graph} -> {target.get('format')} {target.get('precision', '')} ({target.get('runtime', '')})")
    for col in ("output", "max abs err", "max rel err", "agreement"):
        table.add_column(col, justify="left" if col == "output" else "right")
    for name, stats in report.get("outputs", {}).items():
        agreement = stats.get("top1_agreement", stats.get("decision_agreement"))
        table.add_row(name, f"{stats['max_abs_error']:.3g}", f"{stats['max_rel_error']:.3g}",
                      "" if agreement is None else f"{agreement:.2%}")
    console.print(table)
    metric = report.get("metric")
    if metric:
        metrics = Table(title="task metric on the held-out split")
        for col in ("metric", "source", "converted", "change"):
            metrics.add_column(col, justify="left" if col == "metric" else "right")
        for key, change in metric["change"].items():
            metrics.add_row(key, f"{metric['reference'][key]:.4f}", f"{metric['candidate'][key]:.4f}", f"{change:+.4f}")
        console.print(metrics)
    sizes = report.get("sizes", {})
    if "ratio_vs_fp32" in sizes:
        console.print(f"size: {sizes['bytes']:,} bytes vs {sizes['fp32_bytes']:,} fp32 ({sizes['ratio_vs_fp32']:.2f}x smaller)")
    console.print(f"parity: {report.get('verdict')} [{report.get('tolerance', {}).get('criterion', '')}]")
    console.print(headline)
