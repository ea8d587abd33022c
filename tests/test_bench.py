"""`zoo bench` through the CLI on a tiny siamese run: the four files and their schema, figures that are
positive and consistent with each other, CUDA reported unavailable with a reason (never replaced by CPU),
and bad input that ends in one line (ZooError) with nothing written."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cli import main

BATCHES = (1, 4)
ITERS = 15
WARMUP = 2
THREADS = 1
STATS = ("min", "p10", "p25", "p50", "p75", "p90", "p99", "max")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def assert_one_line_error(code: int, err: str, *expected: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for text in expected:
        assert text in lines[0], err


def bench_args(*extra: str) -> list[str]:
    return ["--batch-sizes", ",".join(map(str, BATCHES)), "--iters", str(ITERS), "--warmup", str(WARMUP),
            "--threads", str(THREADS), "--no-torch-compile", *extra]


@pytest.fixture(scope="module")
def benched(siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """`zoo bench RUN --int8` on a copy of the tiny run (default OUT: the run itself): (run, bench.json, stdout)."""
    run = tmp_path_factory.mktemp("bench") / "run"
    shutil.copytree(siamese_run, run)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as exit_info:
        main(["bench", str(run), "--providers", "cpu,cuda", "--int8", *bench_args()])
    assert exit_info.value.code == 0, stdout.getvalue()[-2000:]
    return run, json.loads((run / "bench.json").read_text(encoding="utf-8")), stdout.getvalue()


@pytest.fixture(scope="module")
def static_onnx(siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """siamese.onnx fixed to batch 1, alone in a folder (no weights beside it)."""
    from exporters.onnx import export_onnx
    from zoo import artifacts

    return export_onnx(artifacts.load(siamese_run), tmp_path_factory.mktemp("static") / "siamese.onnx", dynamic_batch=False)


def ok_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["results"] if r["status"] == "ok"]


def test_writes_the_four_files_into_the_run(benched: tuple[Path, dict[str, Any], str]) -> None:
    run, doc, stdout = benched
    assert (run / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc["schema"] == "zoo-bench/1" and doc["model"] == "siamese"
    for key in ("summary", "source", "machine", "settings", "inputs", "onnx", "results", "command"):
        assert key in doc, key
    machine = doc["machine"]
    assert machine["cpu"] and machine["cores_logical"] >= 1 and {"onnxruntime", "torch"} <= set(machine["libraries"])
    assert doc["settings"]["batch_sizes"] == list(BATCHES) and doc["settings"]["iters"] == ITERS
    assert set(doc["onnx"]["files"]) == {"fp32", "int8-dynamic", "int8-static"}
    # every measured group: torch eager and three onnxruntime precisions, each at every batch size
    measured = {(r["runtime"], r["precision"], r["batch_size"]) for r in ok_rows(doc) if r["provider"] == "cpu"}
    expected = {(rt, p, b) for rt, p in (("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8-dynamic"),
                                         ("onnxruntime", "int8-static")) for b in BATCHES}
    assert measured == expected, doc["results"]
    # the model card reads the first list of rows: the short summary, one per result
    assert list(doc).index("summary") < list(doc).index("results") and len(doc["summary"]) == len(doc["results"])

    with open(run / "bench.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(doc["results"])
    for row, result in zip(table, doc["results"]):
        assert (row["runtime"], row["provider"], row["status"]) == (result["runtime"], result["provider"], result["status"])
        if result["status"] == "ok":
            assert float(row["latency_p50_ms"]) == result["latency_ms"]["p50"]
            assert float(row["throughput_per_s"]) == result["throughput_per_s"]

    markdown = (run / "bench.md").read_text(encoding="utf-8")
    assert "| runtime | provider | precision | batch | p50 ms |" in markdown
    assert markdown.count("| onnxruntime | cpu |") == 3 * len(BATCHES) and "cuda" in markdown
    for text in ("torch", "onnxruntime", "int8-static", "cuda", "unavailable", "vs torch", "CUDAExecutionProvider"):
        assert text in stdout, text


def test_figures_are_positive_and_consistent(benched: tuple[Path, dict[str, Any], str]) -> None:
    _, doc, _ = benched
    eager = {r["batch_size"]: r["latency_ms"]["p50"] for r in ok_rows(doc) if r["runtime"] == "torch"}
    for row in ok_rows(doc):
        latency = row["latency_ms"]
        values = [latency[k] for k in STATS]
        assert values[0] > 0 and values == sorted(values), latency
        assert row["iterations"] == ITERS
        # throughput = samples / wall time of the whole loop, latency = time inside each call: the wall time
        # also holds the loop's own overhead, so throughput x mean latency is just under the batch size
        ratio = row["throughput_per_s"] * latency["mean"] / 1000 / row["batch_size"]
        assert 0.5 < ratio <= 1.001, row
        assert row["first_call_ms"] == pytest.approx(row["session_create_ms"] + row["first_run_ms"], abs=0.01)
        assert row["session_create_ms"] > 0 and row["first_run_ms"] > 0
        assert row["peak_rss_mb"] >= row["base_rss_mb"] > 0
        assert row["speedup_vs_torch_eager"] == pytest.approx(eager[row["batch_size"]] / latency["p50"], rel=1e-3)
        assert row["threads"]["intra_op"] == THREADS and row["threads"]["omp_num_threads"] == str(THREADS)
        if row["runtime"] == "onnxruntime":
            assert row["session_providers"] == ["CPUExecutionProvider"]
    # one process per group, batch sizes ascending: its memory high-water mark can only grow
    for runtime, precision in {(r["runtime"], r["precision"]) for r in ok_rows(doc)}:
        peaks = [r["peak_rss_mb"] for r in ok_rows(doc) if (r["runtime"], r["precision"]) == (runtime, precision)]
        assert peaks == sorted(peaks)
    # onnxruntime workers never load torch: their memory is far below the torch worker's
    ort_peak = max(r["peak_rss_mb"] for r in ok_rows(doc) if r["runtime"] == "onnxruntime")
    torch_base = min(r["base_rss_mb"] for r in ok_rows(doc) if r["runtime"] == "torch")
    assert ort_peak < torch_base


def test_cuda_is_reported_not_replaced(benched: tuple[Path, dict[str, Any], str]) -> None:
    import onnxruntime as ort
    import torch

    _, doc, _ = benched
    cuda = [r for r in doc["results"] if r["provider"] == "cuda"]
    assert {r["runtime"] for r in cuda} == {"onnxruntime", "torch"}
    for row in cuda:
        has_cuda = ("CUDAExecutionProvider" in ort.get_available_providers() if row["runtime"] == "onnxruntime"
                    else torch.cuda.is_available())
        if has_cuda:
            assert row["status"] == "ok" and row.get("device_memory_mb") is not None, row
            if row["runtime"] == "onnxruntime":
                assert row["session_providers"][0] == "CUDAExecutionProvider"
        else:
            assert row["status"] == "unavailable" and row["batch_size"] is None, row
            assert ("CUDAExecutionProvider" if row["runtime"] == "onnxruntime" else "torch.cuda") in row["reason"]


@pytest.mark.parametrize(("extra", "expected"), [
    (["--providers", "cpu,rocm"], ("unknown provider 'rocm'", "cpu, cuda, tensorrt")),
    (["--batch-sizes", "1,0"], ("--batch-sizes", "'0'", "from 1 to 65536")),
    (["--iters", "10", "--seconds", "2"], ("either --iters or --seconds",)),
    (["--optimization", "max"], ("--optimization must be one of", "all, extended, basic, disabled")),
])
def test_bad_options_are_one_line_errors(extra: list[str], expected: tuple[str, ...], siamese_run: Path,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["bench", str(siamese_run), *extra, "--out", str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, *expected)
    assert not (tmp_path / "out").exists()


def test_fixed_batch_onnx_refuses_other_batch_sizes(static_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["bench", str(static_onnx), "--batch-sizes", "1,8"], capsys)
    assert_one_line_error(code, err, "fixed batch size of 1", "batch size 8", "--batch-sizes 1")
    assert list(tmp_path.iterdir()) == []


def test_onnx_file_without_weights(static_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A bare .onnx: onnxruntime is measured (and profiled), PyTorch is reported unavailable, OUT is ./bench-MODEL."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["bench", str(static_onnx), "--providers", "cpu", "--batch-sizes", "1", "--iters", "5",
                              "--warmup", "1", "--threads", "1", "--profile"], capsys)
    assert code == 0, err
    out_dir = tmp_path / "bench-siamese"
    doc = json.loads((out_dir / "bench.json").read_text(encoding="utf-8"))
    assert doc["source"]["kind"] == "onnx" and not doc["onnx"]["exported"]
    by_runtime = {r["runtime"]: r for r in doc["results"]}
    ort_row = by_runtime["onnxruntime"]
    assert ort_row["status"] == "ok" and ort_row["speedup_vs_torch_eager"] is None
    profile = ort_row["profile"]
    assert (out_dir / profile["file"]).is_file() and profile["runs"] > 0
    assert profile["nodes_by_provider"].keys() == {"CPUExecutionProvider"} and any("Conv" in op["op"] for op in profile["top_ops"])
    for runtime in ("torch", "torch.compile"):
        assert by_runtime[runtime]["status"] == "unavailable" and "no PyTorch weights beside" in by_runtime[runtime]["reason"]
    assert "unavailable" in out


def test_every_measured_row_says_whether_its_outputs_are_right(benched: tuple[Path, dict[str, Any], str]) -> None:
    run, doc, stdout = benched
    recorded = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["metrics"]
    rows = ok_rows(doc)
    assert rows and all("outputs_file" not in r for r in rows)
    for row in rows:
        if row["runtime"] == "torch":
            assert row["check"] == "reference" and row["max_abs_diff"] == 0.0, row
        elif row["precision"] == "fp32":
            assert row["check"] == "matched" and 0.0 <= row["max_abs_diff"] <= 1e-4, row
        else:  # int8: a real, non-zero difference to PyTorch, judged by the task metric on held-out data
            assert row["max_abs_diff"] is not None and row["max_abs_diff"] > 0, row
            assert row["task_metric_name"] == "test/20way_acc" and 0.0 <= row["task_metric"] <= 1.0, row
            assert row["task_metric_torch"] == pytest.approx(recorded["test/20way_acc"]), row
            drop = row["task_metric_torch"] - row["task_metric"]
            assert row["check"].startswith("matched (int8:" if drop <= 0.01 else "differs (int8:"), row
            assert f"drop {drop:+.4f}" in row["check"], row
    assert "max |Δ| vs torch" in stdout and "ok, matched" in stdout and "task metric (torch)" in stdout
    md = (run / "bench.md").read_text(encoding="utf-8")
    assert "| max abs diff vs torch | check | task metric (PyTorch) |" in md and "| matched |" in md


def test_outputs_beyond_tolerance_are_reported_as_differing(tmp_path: Path) -> None:
    import numpy as np

    from exporters.bench import add_accuracy

    def saved(name: str, value: np.ndarray) -> str:
        np.savez(tmp_path / name, value)
        return str(tmp_path / name)

    reference = np.linspace(0, 1, 8, dtype=np.float32).reshape(2, 4)
    rows = [
        {"runtime": "torch", "provider": "cpu", "precision": "fp32", "batch_size": 2, "status": "ok",
         "outputs_file": saved("t.npz", reference)},
        {"runtime": "onnxruntime", "provider": "cpu", "precision": "fp32", "batch_size": 2, "status": "ok",
         "outputs_file": saved("o.npz", reference + np.float32(0.5))},
        {"runtime": "onnxruntime", "provider": "cpu", "precision": "fp16", "batch_size": 2, "status": "ok",
         "outputs_file": saved("h.npz", reference + np.float32(0.001))},
        {"runtime": "onnxruntime", "provider": "cpu", "precision": "fp32", "batch_size": 8, "status": "ok",
         "outputs_file": saved("b8.npz", reference)},
    ]
    torch_row, wrong, fp16, no_reference = add_accuracy(rows)
    assert torch_row["check"] == "reference"
    assert wrong["check"].startswith("differs: max abs diff 0.5 > atol 0.0001") and wrong["max_abs_diff"] == 0.5
    assert fp16["check"] == "matched" and abs(fp16["max_abs_diff"] - 0.001) < 1e-5
    assert no_reference["check"].startswith("not compared") and no_reference["max_abs_diff"] is None
    # fp32 is held to the model's own export tolerance (ExportSpec.atol, e.g. style-transfer's 1e-3), as in `zoo export`
    rows = [{"runtime": "torch", "provider": "cpu", "precision": "fp32", "batch_size": 2, "status": "ok",
             "outputs_file": saved("t2.npz", reference)},
            {"runtime": "onnxruntime", "provider": "cpu", "precision": "fp32", "batch_size": 2, "status": "ok",
             "outputs_file": saved("o2.npz", reference + np.float32(5e-4))}]
    assert add_accuracy(rows, fp32_atol=1e-3)[1]["check"] == "matched"


def test_int8_verdict_reads_an_error_metric_the_right_way_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For a lower-is-better headline metric (forecast MAE, perplexity) a rise is the drop: int8 that
    raises the MAE by 0.5 differs, int8 that lowers it matches (the old rule read both backwards)."""
    from types import SimpleNamespace

    import exporters.runtime
    from exporters.bench import add_task_metrics

    maes = {"torch": 1.0, "worse.onnx": 1.5, "better.onnx": 0.9}
    spec = SimpleNamespace(primary_metric="test/mae", evaluate=lambda predict: {"test/mae": maes[predict]})
    src = SimpleNamespace(kind="pytorch", spec=spec, predictor=lambda: "torch")
    monkeypatch.setattr(exporters.runtime, "onnx_predictor", lambda path, providers, **options: Path(path).name)
    rows = [{"runtime": "onnxruntime", "provider": "cpu", "precision": precision, "batch_size": 1, "status": "ok",
             "check": "compared"} for precision in ("int8-dynamic", "int8-static")]
    worse, better = add_task_metrics(rows, src, {"int8-dynamic": tmp_path / "worse.onnx",
                                                 "int8-static": tmp_path / "better.onnx"})
    assert worse["check"].startswith("differs (int8: test/mae 1.5000 vs PyTorch 1.0000, drop +0.5000"), worse
    assert better["check"].startswith("matched (int8: test/mae 0.9000 vs PyTorch 1.0000, drop -0.1000"), better


def test_bench_json_records_the_onnxruntime_build(benched: tuple[Path, dict[str, Any], str]) -> None:
    import onnxruntime as ort

    _, doc, _ = benched
    build = doc["machine"]["onnxruntime"]
    assert build["version"] == ort.__version__ and build["providers"] == ort.get_available_providers()
    assert "cuda_version" in build and "cudnn_version" in build


def test_int8_on_gpu_providers_is_an_unsupported_row_not_a_cpu_fallback(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    from types import SimpleNamespace

    from exporters import bench

    monkeypatch.setattr(bench, "onnxruntime_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    settings = bench.make_settings(providers="cpu,cuda,tensorrt", batch_sizes="1,4", iters=5, fp16=True, int8=True,
                                   compare_torch=False, torch_compile=False)
    models = {p: tmp_path / f"m.{p}.onnx" for p in ("fp32", "fp16", "int8-dynamic", "int8-static")}
    spec = SimpleNamespace(inputs=lambda: [SimpleNamespace(name="x")])
    jobs, skipped = bench.plan_jobs(SimpleNamespace(spec=spec), settings, bench.ThreadSettings.of(settings), models, {},
                                    None, "no weights", tmp_path / "inputs.npz", tmp_path)
    measured = {(j.provider, j.precision) for j in jobs}
    assert measured == {("cpu", p) for p in models} | {("cuda", "fp32"), ("cuda", "fp16"), ("tensorrt", "fp32"), ("tensorrt", "fp16")}
    unsupported = {(r["provider"], r["precision"]): r for r in skipped if r["status"] == "unsupported"}
    assert set(unsupported) == {(p, q) for p in ("cuda", "tensorrt") for q in ("int8-dynamic", "int8-static")}
    assert all(r["reason"] for r in unsupported.values())


def test_tensorrt_gets_fp16_an_engine_cache_and_shape_profiles(static_onnx: Path, tmp_path: Path) -> None:
    from exporters.bench import Job, tensorrt_options

    job = Job(runtime="onnxruntime", provider="tensorrt", precision="fp16", target=str(static_onnx), inputs="",
              input_names=[], batch_sizes=[1, 8], warmup=1, iters=1, seconds=None, intra_op=1, inter_op=1,
              optimization="all", execution_mode="sequential", profile_dir=None, result=str(tmp_path / "r.json"))
    options = tensorrt_options(job)
    assert options["trt_fp16_enable"] is True and options["trt_engine_cache_enable"] is True
    assert Path(options["trt_engine_cache_path"]).is_dir()
    assert options["trt_profile_min_shapes"].split(",")[0].split(":")[1].startswith("1x")
    assert options["trt_profile_max_shapes"].split(",")[0].split(":")[1].startswith("8x")
