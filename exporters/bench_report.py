"""The outputs of `zoo bench`: a rich table, bench.json, bench.csv, bench.md (for a model card) and bench.png.

Every writer reads the report document built by :func:`exporters.bench.run_bench` (the content of
bench.json); files are written atomically through :mod:`zoo.io`.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import io as zio

if TYPE_CHECKING:

    from exporters.bench import BenchRun

CSV_COLUMNS = (
    "model", "runtime", "provider", "precision", "batch_size", "status", "reason", "iterations",
    "latency_mean_ms", "latency_std_ms", "latency_min_ms", "latency_p10_ms", "latency_p25_ms", "latency_p50_ms",
    "latency_p75_ms", "latency_p90_ms", "latency_p99_ms", "latency_iqr_ms", "throughput_per_s",
    "speedup_vs_torch_eager", "first_call_ms", "session_create_ms", "first_run_ms", "peak_rss_mb", "base_rss_mb",
    "rss_increase_mb", "device_memory_mb", "h2d_ms", "d2h_ms", "intra_op_threads", "inter_op_threads", "omp_num_threads",
    "optimization", "execution_mode", "max_abs_diff", "check", "task_metric_name", "task_metric", "task_metric_torch",
)


def write_outputs(run: BenchRun) -> list[Path]:
    """bench.json, bench.csv, bench.md and bench.png in ``run.out``; returns their paths."""
    out, doc = run.out, run.doc
    return [
        zio.write_json(out / "bench.json", doc),
        zio.write_text(out / "bench.csv", csv_text(doc)),
        zio.write_text(out / "bench.md", markdown(doc)),
        zio.write_bytes(out / "bench.png", chart_png(doc)),
    ]


# -- rows --------------------------------------------------------------------------------------------

def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat, short rows (what a model card shows): one per measured configuration or unavailable group."""
    summary = []
    for row in rows:
        ok = row["status"] == "ok"
        latency = row.get("latency_ms", {})
        summary.append({
            "runtime": row["runtime"], "provider": row["provider"], "precision": row["precision"],
            "batch": row["batch_size"] if row["batch_size"] is not None else "all",
            "p50 ms": significant(latency.get("p50")) if ok else None,
            "p90 ms": significant(latency.get("p90")) if ok else None,
            "samples/s": significant(row.get("throughput_per_s")) if ok else None,
            "speed-up vs torch": significant(row.get("speedup_vs_torch_eager")) if ok else None,
            "peak RSS MB": significant(row.get("peak_rss_mb")) if ok else None,
            "max abs diff vs torch": row.get("max_abs_diff") if ok else None,
            "task metric": row.get("task_metric") if ok else None,
            "status": ok_status(row) if ok else f"{row['status']}: {row['reason']}",
        })
    return summary


def ok_status(row: dict[str, Any]) -> str:
    """'ok, matched' / 'ok, differs: ...' / 'ok, reference': a measured row and whether its outputs are right."""
    check = row.get("check")
    return f"ok, {check}" if check else "ok"


def diff_cell(row: dict[str, Any]) -> str:
    value = row.get("max_abs_diff")
    return "—" if value is None else f"{value:.3g}"


def metric_cell(row: dict[str, Any]) -> str:
    """'0.412 (0.418)': the headline metric through this file and precision, and PyTorch's; '' when not evaluated."""
    value = row.get("task_metric")
    if value is None:
        return ""
    torch_value = row.get("task_metric_torch")
    return f"{value:.4g}" + (f" ({torch_value:.4g})" if torch_value is not None else "")


def significant(value: float | None, digits: int = 3) -> float | None:
    """``value`` rounded to ``digits`` significant figures (the precision a noisy timing has)."""
    if value is None or value == 0:
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def csv_row(model: str, row: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    latency = row.get("latency_ms") or {}
    threads = row.get("threads") or {}
    flat = {key: row.get(key) for key in CSV_COLUMNS if key in row}
    flat.update({f"latency_{k}_ms": latency.get(k) for k in ("mean", "std", "min", "p10", "p25", "p50", "p75", "p90", "p99", "iqr")})
    flat.update({"model": model, "intra_op_threads": threads.get("intra_op"), "inter_op_threads": threads.get("inter_op"),
                 "omp_num_threads": threads.get("omp_num_threads"), "optimization": settings["optimization"],
                 "execution_mode": settings["execution_mode"]})
    return {key: "" if flat.get(key) is None else flat[key] for key in CSV_COLUMNS}


def csv_text(doc: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in doc["results"]:
        writer.writerow(csv_row(doc["model"], row, doc["settings"]))
    return buffer.getvalue()


# -- text --------------------------------------------------------------------------------------------

def number(value: Any, digits: int = 3) -> str:
    """Three significant figures, no scientific notation for the magnitudes a benchmark shows."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    value = float(f"{float(value):.{digits}g}")
    if value == 0:
        return "0"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def machine_line(machine: dict[str, Any]) -> str:
    libs = machine.get("libraries", {})
    gpus = machine.get("gpus") or []
    gpu = ", ".join(g["name"] for g in gpus) if gpus else "no GPU"
    versions = ", ".join(f"{name} {libs[name]}" for name in ("onnxruntime", "onnxruntime-gpu", "torch") if name in libs)
    return (f"{machine.get('cpu')} ({machine.get('cores_available')} cores available of {machine.get('cores_logical')}), "
            f"{gpu}; {machine.get('platform')}; Python {machine.get('python')}, {versions}")


def threads_line(settings: dict[str, Any]) -> str:
    threads = settings["threads"]
    return (f"threads: intra-op {threads['intra_op']}, inter-op {threads['inter_op']} ({threads['origin']}), "
            f"OMP_NUM_THREADS={threads['environment']['OMP_NUM_THREADS']}, same for onnxruntime and PyTorch; "
            f"onnxruntime graph optimisation '{settings['optimization']}', execution mode '{settings['execution_mode']}'")


def timing_line(settings: dict[str, Any]) -> str:
    how = f"{settings['iters']} timed calls" if settings.get("iters") else f"timed calls for {settings['seconds']} s"
    return f"{how} after {settings['warmup']} warm-up calls, per batch size; one fresh process per runtime/provider/precision"


FIGURE_COLUMNS = ("p50 ms", "p90/p10", "p99 ms", "samples/s", "vs torch", "first call ms", "peak RSS MB (+model)")


def figures(row: dict[str, Any]) -> dict[str, str]:
    """The formatted figures of a measured row, keyed by column name."""
    latency = row["latency_ms"]
    speedup = row.get("speedup_vs_torch_eager")
    return {
        "p50 ms": number(latency["p50"]),
        "p90/p10": number(latency["p90"] / latency["p10"] if latency["p10"] else None),
        "p99 ms": number(latency["p99"]),
        "samples/s": number(row["throughput_per_s"]),
        "vs torch": "—" if speedup is None else f"{number(speedup)}x",
        "first call ms": number(row["first_call_ms"]),
        "peak RSS MB (+model)": f"{number(row['peak_rss_mb'])} (+{number(row['rss_increase_mb'])})",
        "peak MB": number(row["peak_rss_mb"]),
        "device MB": number(row.get("device_memory_mb")),
    }


def names(row: dict[str, Any]) -> list[str]:
    return [row["runtime"], row["provider"], row["precision"], "all" if row["batch_size"] is None else str(row["batch_size"])]


def footnotes(rows: list[dict[str, Any]]) -> dict[str, int]:
    """'status: reason' -> footnote number, for every row that was not measured (same reason, same number)."""
    notes: dict[str, int] = {}
    for row in rows:
        if row["status"] != "ok":
            notes.setdefault(f"{row['status']}: {row['reason']}", len(notes) + 1)
    return notes


COMPACT_COLUMNS = ("p50 ms", "p90/p10", "samples/s", "vs torch", "peak MB")
FULL_WIDTH = 150  # terminal columns the full table needs; narrower terminals get COMPACT_COLUMNS (bench.md has all)


def rich_report(doc: dict[str, Any], width: int = FULL_WIDTH) -> list[Any]:
    """The terminal report: the table (unmeasured rows point to a numbered reason), the reasons, the set-up."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    rows = doc["results"]
    notes = footnotes(rows)
    full = width >= FULL_WIDTH
    columns = list(FIGURE_COLUMNS if full else COMPACT_COLUMNS)
    if any(r.get("device_memory_mb") is not None for r in rows):
        columns.append("device MB")
    table = Table(title=escape(f"zoo bench — {doc['model']} ({doc['source']['origin']})"),
                  box=box.HEAVY_HEAD if full else box.SIMPLE_HEAD)
    for column in ("runtime", "provider", "precision"):
        table.add_column(column, no_wrap=True)
    for column in ["batch", *columns, "max |Δ| vs torch", "task metric (torch)", "status"]:
        table.add_column(column, justify="left" if column == "status" else "right", overflow="fold")
    for row in rows:
        if row["status"] == "ok":
            cells = [figures(row)[c] for c in columns] + [diff_cell(row), metric_cell(row) or "—", ok_status(row)]
        else:
            cells = ["—"] * (len(columns) + 2) + [f"{row['status']} ({notes[row['status'] + ': ' + row['reason']]})"]
        table.add_row(*(escape(cell) for cell in names(row) + cells), style=None if row["status"] == "ok" else "dim")
    settings = doc["settings"]
    lines = [f"({number}) {text}" for text, number in notes.items()]
    lines += [machine_line(doc["machine"]), threads_line(settings), timing_line(settings)]
    return [table, *(Text(line) for line in lines)]


def markdown(doc: dict[str, Any]) -> str:
    """A section ready to paste into a model card (and what docs/BENCHMARKS.md is made of)."""
    settings = doc["settings"]
    notes = [f"- machine: {machine_line(doc['machine'])}", f"- {threads_line(settings)}",
             f"- {timing_line(settings)}; inputs: {doc['inputs']['source']}",
             "- latency per call in ms (p50 = median; p90/p10 = spread); vs torch = PyTorch eager p50 / p50 "
             "at the same batch size and device; peak RSS = the measuring process's high-water mark, (+model) = "
             "its rise over the process with the runtime libraries and inputs loaded (model, session, activations)"]
    if doc.get("command"):
        notes.append(f"- command: `{doc['command']}`")
    lines = [f"### {doc['model']}: onnxruntime vs PyTorch", "", *notes, "",
             "| runtime | provider | precision | batch | " + " | ".join(FIGURE_COLUMNS) + " | max abs diff vs torch | check | task metric (PyTorch) |",
             "| --- | --- | --- | ---: |" + " ---: |" * len(FIGURE_COLUMNS) + " ---: | --- | ---: |"]
    for row in doc["results"]:
        if row["status"] == "ok":
            shown = figures(row)
            lines.append("| " + " | ".join(names(row) + [shown[c] for c in FIGURE_COLUMNS]
                                           + [diff_cell(row), row.get("check") or "", metric_cell(row)]) + " |")
    unmeasured: dict[tuple[str, str, str], list[str]] = {}  # (runtime / provider, batch, reason) -> precisions
    for row in doc["results"]:
        if row["status"] != "ok":
            batch = "" if row["batch_size"] is None else f" at batch {row['batch_size']}"
            key = (f"{row['runtime']} / {row['provider']}", batch, f"{row['status']}: {row['reason']}")
            unmeasured.setdefault(key, []).append(row["precision"])
    if unmeasured:
        lines += ["", "Not measured:", ""]
        lines += [f"- {where} ({', '.join(precisions)}){batch}: {reason}"
                  for (where, batch, reason), precisions in unmeasured.items()]
    return "\n".join(lines) + "\n"


# -- chart -------------------------------------------------------------------------------------------

def chart_png(doc: dict[str, Any]) -> bytes:
    """Latency (p50, p10-p90 band) and throughput against batch size, one line per runtime/provider/precision."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 5), dpi=110)
    FigureCanvasAgg(figure)
    latency_axes, throughput_axes = figure.subplots(1, 2)
    series: dict[str, list[dict[str, Any]]] = {}
    for row in doc["results"]:
        if row["status"] == "ok":
            series.setdefault(f"{row['runtime']} {row['provider']} {row['precision']}", []).append(row)
    for label, rows in series.items():
        rows = sorted(rows, key=lambda r: r["batch_size"])
        batches = [r["batch_size"] for r in rows]
        style = "--" if rows[0]["runtime"].startswith("torch") else "-"
        line, = latency_axes.plot(batches, [r["latency_ms"]["p50"] for r in rows], style, marker="o", label=label)
        latency_axes.fill_between(batches, [r["latency_ms"]["p10"] for r in rows], [r["latency_ms"]["p90"] for r in rows],
                                  color=line.get_color(), alpha=0.15)
        throughput_axes.plot(batches, [r["throughput_per_s"] for r in rows], style, marker="o", color=line.get_color(), label=label)
    batch_sizes = sorted({r["batch_size"] for rows in series.values() for r in rows})
    for axes, title, unit in ((latency_axes, "latency per call (p50, band p10–p90)", "ms"),
                              (throughput_axes, "throughput", "samples / s")):
        axes.set_xscale("log", base=2)
        axes.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
        axes.minorticks_off()
        axes.set_yscale("log")
        axes.set_xlabel("batch size")
        axes.set_ylabel(unit)
        axes.set_title(title, fontsize=10)
        axes.grid(True, which="both", alpha=0.3)
    legend_rows = 0
    if series:
        handles, labels = latency_axes.get_legend_handles_labels()
        columns = min(3, len(labels))
        legend_rows = -(-len(labels) // columns)
        figure.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    else:
        latency_axes.text(0.5, 0.5, "nothing could be measured", ha="center", transform=latency_axes.transAxes)
    figure.suptitle(f"{doc['model']} — {doc['machine'].get('cpu')}", fontsize=11)
    figure.tight_layout(rect=(0, 0.045 * legend_rows, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
