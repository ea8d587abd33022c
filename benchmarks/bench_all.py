"""Run `zoo bench` for every registered model that has a trained run, check the speed targets and write the
results into docs/BENCHMARKS.md.

    python benchmarks/bench_all.py RUN_DIR [RUN_DIR...] --out docs/BENCHMARKS.md
    python benchmarks/bench_all.py runs/siamese/2026* runs/nlnl/2026* runs/deepinsight/2026* --threads 1 --seconds 3

Each run is benched through the real CLI (``python -m cli bench RUN --int8 --profile ...``), in a separate
process, one model after another; bench.json/.csv/.md/.png land in the run directory (``zoo push`` uploads
bench.json) or under ``--bench-out``. Targets, side by side in one run on the CPU at batch size 1:
onnxruntime fp32 >= 1.5x PyTorch eager, onnxruntime int8 (graph optimisation 'all') >= 2.5x.

Only the part of ``--out`` between the ``bench-all`` markers is rewritten; the prose around it (method,
explanations of missed targets) is kept. Registered models without a run are listed as not benchmarked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

START = "<!-- bench-all:start (written by benchmarks/bench_all.py; edits inside are overwritten) -->"
END = "<!-- bench-all:end -->"
TARGET_FP32 = 1.5
TARGET_INT8 = 2.5
INT8 = ("int8-dynamic", "int8-static")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="Trained run directories (one or more per model).")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md", help="Markdown file to update.")
    parser.add_argument("--bench-out", type=Path, default=None,
                        help="Write each model's bench files to BENCH_OUT/MODEL instead of its run directory.")
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--providers", default="cpu,cuda")
    parser.add_argument("--seconds", type=float, default=3.0, help="Timed seconds per configuration.")
    parser.add_argument("--threads", type=int, default=None, help="Threads for both runtimes (default: all physical cores).")
    parser.add_argument("--no-torch-compile", action="store_true", help="Skip torch.compile (it compiles once per batch size).")
    parser.add_argument("--no-profile", action="store_true", help="Skip the onnxruntime/torch.profiler runs.")
    parser.add_argument("--fp16", action="store_true", help="Also measure fp16 ONNX files (max |Δ| and the task metric).")
    parser.add_argument("--reuse", action="store_true",
                        help="Use a run's existing bench.json instead of measuring it again (only rewrite the page).")
    return parser.parse_args(argv)


def model_of(run: Path) -> str:
    from zoo.artifacts import read_config

    return read_config(run)[0]


def bench_command(run: Path, out: Path, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "cli", "bench", str(run), "--providers", args.providers, "--batch-sizes",
               args.batch_sizes, "--seconds", str(args.seconds), "--int8", "--optimization", "all", "--out", str(out)]
    command += ["--threads", str(args.threads)] if args.threads else []
    command += [] if args.no_profile else ["--profile"]
    command += ["--no-torch-compile"] if args.no_torch_compile else []
    command += ["--fp16"] if args.fp16 else []
    return command


def bench(run: Path, args: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    """(bench.json of ``run``, "") or (None, why it failed)."""
    out = args.bench_out / model_of(run) if args.bench_out else run
    if args.reuse and (out / "bench.json").is_file():
        print(f"reusing {out / 'bench.json'}", flush=True)
        return json.loads((out / "bench.json").read_text(encoding="utf-8")), ""
    command = bench_command(run, out, args)
    print("$", " ".join(command[2:]), flush=True)
    env = {**os.environ, "COLUMNS": "200"}  # the captured table is printed at full width
    done = subprocess.run(command, cwd=ROOT, check=False, text=True, capture_output=True, env=env)
    print(done.stdout[-6000:], flush=True)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return None, lines[-1] if lines else f"exit code {done.returncode}"
    return json.loads((out / "bench.json").read_text(encoding="utf-8")), ""


def speedup_at_batch_1(doc: dict[str, Any], precision: str) -> float | None:
    for row in doc["results"]:
        if (row["runtime"], row["provider"], row["precision"], row["batch_size"], row["status"]) == (
                "onnxruntime", "cpu", precision, 1, "ok"):
            return row.get("speedup_vs_torch_eager")
    return None


def verdicts(doc: dict[str, Any]) -> dict[str, Any]:
    """The two targets at batch size 1 on the CPU: measured speed-ups and whether they are met."""
    fp32 = speedup_at_batch_1(doc, "fp32")
    int8 = {p: speedup_at_batch_1(doc, p) for p in INT8}
    best = max(((s, p) for p, s in int8.items() if s is not None), default=(None, None))
    return {"fp32": fp32, "fp32_met": fp32 is not None and fp32 >= TARGET_FP32, "int8": best[0], "int8_precision": best[1],
            "int8_all": int8, "int8_met": best[0] is not None and best[0] >= TARGET_INT8}


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def targets_table(results: list[tuple[Path, str, dict[str, Any] | None, str]]) -> list[str]:
    lines = [f"| model | run | onnxruntime fp32 (target ≥ {TARGET_FP32}x) | best int8 (target ≥ {TARGET_INT8}x) | "
             "int8-dynamic | int8-static |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for run, model, doc, error in results:
        if doc is None:
            lines.append(f"| {model} | `{run}` | failed: {error} | | | |")
            continue
        v = verdicts(doc)
        mark = {True: "met", False: "**missed**"}
        lines.append(f"| {model} | `{run.name}` | {fmt(v['fp32'])} ({mark[v['fp32_met']]}) | "
                     f"{fmt(v['int8'])} {v['int8_precision'] or ''} ({mark[v['int8_met']]}) | "
                     f"{fmt(v['int8_all']['int8-dynamic'])} | {fmt(v['int8_all']['int8-static'])} |")
    return lines


def verdict(check: str | None) -> str:
    """The status word of a row's ``check``: matched, differs, not compared or reference."""
    text = (check or "").strip()
    for word in ("matched", "differs", "not compared", "reference"):
        if text.startswith(word):
            return word
    return text or "not compared"


def correctness_table(results: list[tuple[Path, str, dict[str, Any] | None, str]]) -> list[str]:
    """Are the outputs right? One row per model, runtime and precision over every provider and batch size:
    the verdicts, the largest difference to PyTorch eager on the same inputs and the task metric. A provider
    that could not run any precision for the same reason is one row for all the models it failed on."""
    lines = ["| model | runtime / provider | precision | status | max abs diff vs PyTorch | task metric (PyTorch) |",
             "| --- | --- | --- | --- | ---: | --- |"]
    not_run: dict[tuple[str, str, str], list[str]] = {}
    for _, model, doc, error in results:
        if doc is None:
            lines.append(f"| {model} | | | could not run: {error} | | |")
            continue
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for row in doc["results"]:
            if row["runtime"] == "onnxruntime":
                groups.setdefault((row["runtime"], row["provider"], row["precision"]), []).append(row)
        for (runtime, provider, precision), rows in groups.items():
            ran = [r for r in rows if r["status"] == "ok"]
            if not ran:
                reason = rows[0].get("reason") or rows[0]["status"]
                not_run.setdefault((runtime, provider, reason), [])
                if model not in not_run[(runtime, provider, reason)]:
                    not_run[(runtime, provider, reason)].append(model)
                continue
            words = sorted({verdict(r.get("check")) for r in ran})
            diffs = [r["max_abs_diff"] for r in ran if r.get("max_abs_diff") is not None]
            metric = next((r for r in ran if r.get("task_metric") is not None), None)
            metric_text = "" if metric is None else (f"{metric['task_metric_name']} {metric['task_metric']:.4g}"
                                                     + ("" if metric.get("task_metric_torch") is None
                                                        else f" ({metric['task_metric_torch']:.4g})"))
            lines.append(f"| {model} | {runtime} / {provider} | {precision} | {', '.join(words)} | "
                         f"{'' if not diffs else f'{max(diffs):.2g}'} | {metric_text} |")
    benched = [model for _, model, doc, _ in results if doc is not None]
    for (runtime, provider, reason), models in not_run.items():
        who = "every model above" if len(models) == len(benched) > 1 else ", ".join(models)
        lines.append(f"| {who} | {runtime} / {provider} | see status | could not run: {reason} | | |")
    return lines


def profile_lines(doc: dict[str, Any]) -> list[str]:
    """Where the time goes at batch size 1: top operators of onnxruntime fp32/int8 and PyTorch eager."""
    lines = []
    for row in doc["results"]:
        profile = row.get("profile")
        if not profile or row["batch_size"] != 1 or row["provider"] != "cpu":
            continue
        top = ", ".join(f"{op['op']} {op['share']:.0%}" for op in profile["top_ops"][:5])
        if row["runtime"] == "onnxruntime":
            lines.append(f"- onnxruntime {row['precision']}: {profile['run_us']:.0f} µs per profiled run, of which "
                         f"{profile['outside_kernels_us']:.0f} µs outside kernels; kernels: {top}")
        else:
            lines.append(f"- {row['runtime']}: {profile['self_cpu_us']:.0f} µs self CPU time per profiled run; {top}")
    return lines


def section(results: list[tuple[Path, str, dict[str, Any] | None, str]], unbenched: list[str]) -> str:
    from exporters.bench_report import machine_line, markdown

    docs = [doc for _, _, doc, _ in results if doc is not None]
    lines = [START, "", f"## Results ({time.strftime('%Y-%m-%d')})", ""]
    if docs:
        machine = docs[0]["machine"]
        load = machine.get("load_average")
        lines += [f"Machine: {machine_line(machine)}."
                  + (f" Load average when the first bench started: {load[0]:.2f} (1 min)." if load else ""), ""]
    lines += ["### Are the outputs right?", "",
              "Every onnxruntime configuration against PyTorch eager on the same real inputs (fp32 within 1e-4, fp16 "
              "within 1e-2; int8 judged by the task metric, at most 0.01 worse), over all batch sizes.", "",
              *correctness_table(results), ""]
    lines += ["### Speed targets (CPU, batch size 1, side by side in one run)", "", *targets_table(results), ""]
    if unbenched:
        lines += [f"Not benchmarked (no trained run given): {', '.join(unbenched)}.", ""]
    for (_, _, doc, _) in results:
        if doc is None:
            continue
        lines += [markdown(doc).rstrip("\n"), ""]
        profiled = profile_lines(doc)
        if profiled:
            lines += ["Profiles at batch size 1 (files in the run's `profiles/`; timings above were taken without profiling):",
                      "", *profiled, ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


def update(path: Path, text: str) -> None:
    """Replace the bench-all part of ``path`` (or append it), keeping everything else."""
    from zoo import io as zio

    current = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n\n"
    start = current.find(START.split(" (")[0])
    end = current.find(END)
    if start != -1 and end != -1:
        updated = current[:start] + text + current[end + len(END):].lstrip("\n")
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    zio.write_text(path, updated)


def main(argv: list[str] | None = None) -> int:
    from zoo import registry

    args = parse_args(argv)
    missing = [str(run) for run in args.runs if not (run / "model.safetensors").is_file()]
    if missing:
        print(f"not trained runs (no model.safetensors): {', '.join(missing)}", file=sys.stderr)
        return 2
    results = []
    for run in args.runs:
        model = model_of(run)
        doc, error = bench(run, args)
        results.append((run, model, doc, error))
    unbenched = [name for name in registry.names() if name not in {model for _, model, _, _ in results}]
    update(args.out, section(results, unbenched))
    print(f"updated {args.out}")
    for run, model, doc, error in results:
        v = verdicts(doc) if doc else None
        print(f"{model}: " + (f"failed: {error}" if v is None else
                              f"onnxruntime fp32 {fmt(v['fp32'])}, best int8 {fmt(v['int8'])} ({v['int8_precision']})"))
    return 1 if any(doc is None for _, _, doc, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
