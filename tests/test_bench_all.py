"""benchmarks/bench_all.py's page: the "Are the outputs right?" table reads each row's verdict, and only the
part between the bench-all markers is rewritten."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_all  # noqa: E402


def row(precision: str, batch: int, check: str, diff: float | None, status: str = "ok", **extra) -> dict:
    return {"runtime": "onnxruntime", "provider": "cpu", "precision": precision, "batch_size": batch, "status": status,
            "check": check, "max_abs_diff": diff, **extra}


def test_correctness_table_gives_each_configuration_one_verdict_and_its_worst_difference() -> None:
    metric = {"task_metric_name": "test/acc", "task_metric": 0.79, "task_metric_torch": 0.81}
    doc = {"results": [
        {"runtime": "torch", "provider": "cpu", "precision": "fp32", "batch_size": 1, "status": "ok", "check": "reference"},
        row("fp32", 1, "matched", 2e-7), row("fp32", 8, "matched", 9e-6),
        row("int8-static", 1, "differs (int8: test/acc 0.7900 vs PyTorch 0.8100, drop +0.0200, tolerance 0.01)", 0.3, **metric),
        {"runtime": "onnxruntime", "provider": "cuda", "precision": "fp32", "batch_size": 1, "status": "unavailable",
         "reason": "CUDAExecutionProvider is not in this onnxruntime build"},
    ]}
    lines = bench_all.correctness_table([(Path("runs/x"), "transfer", doc, ""), (Path("runs/y"), "vae", None, "exit code 1")])
    assert lines[2] == "| transfer | onnxruntime / cpu | fp32 | matched | 9e-06 |  |"
    assert lines[3] == "| transfer | onnxruntime / cpu | int8-static | differs | 0.3 | test/acc 0.79 (0.81) |"
    assert lines[4] == "| vae | | | could not run: exit code 1 | | |"
    assert lines[5].startswith("| transfer | onnxruntime / cuda | see status | could not run: CUDAExecutionProvider is not")
    assert len(lines) == 6  # PyTorch's own rows are the reference, not a verdict


def test_update_rewrites_only_the_marked_part(tmp_path: Path) -> None:
    page = tmp_path / "BENCHMARKS.md"
    page.write_text(f"# Benchmarks\n\nprose before\n\n{bench_all.START}\nold table\n{bench_all.END}\n\nprose after\n")
    bench_all.update(page, f"{bench_all.START}\nnew table\n{bench_all.END}\n")
    text = page.read_text()
    assert "old table" not in text and "new table" in text
    assert text.startswith("# Benchmarks\n\nprose before") and text.rstrip().endswith("prose after")
