"""`zoo bench`: latency, throughput, first-call time and memory of a zoo model on onnxruntime (CPU, CUDA,
TensorRT; fp32, fp16, int8) against PyTorch eager (and ``torch.compile``) on the same real inputs.

How it measures (see docs/BENCHMARKS.md for the why):

- Every (runtime, provider, precision) group runs in its **own fresh Python process** (a *worker*:
  ``python -m exporters.bench JOB.json``), so a group's peak resident memory is its own -- not the
  parent's export machinery, not torch's allocator when onnxruntime is measured -- and thread
  settings (``OMP_NUM_THREADS``) are applied before any library starts its thread pools. Inside a
  worker the batch sizes run in ascending order, each with a fresh session / freshly loaded model,
  so first-call time is per batch size; peak RSS is the process high-water mark after that batch
  size (``ru_maxrss``), i.e. the peak of the largest batch measured so far.
- Per call: ``time.perf_counter_ns`` around the call only; warm-up calls are excluded; the garbage
  collector is paused during the timed loop; CUDA work is synchronised inside the timed call and, on
  onnxruntime, inputs and outputs stay on the device through IO binding (host<->device copies are
  timed separately). Throughput = samples / wall-clock time of the whole timed loop.
- Threads: ``--threads N`` (default: the physical cores this process may use) is applied the same to
  both runtimes: onnxruntime intra-op = N, PyTorch ``set_num_threads(N)``, ``OMP_NUM_THREADS=N``;
  inter-op = 1 (N in ``--execution-mode parallel``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import io as zio
from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    from exporters.sources import ResolvedSource
    from zoo.registry import ZooModel

SCHEMA = "zoo-bench/1"
PROVIDERS: dict[str, str] = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
                             "tensorrt": "TensorrtExecutionProvider"}
DEVICE_OF_PROVIDER: dict[str, str] = {"cpu": "cpu", "cuda": "cuda", "tensorrt": "cuda"}
OPTIMIZATION_LEVELS: dict[str, str] = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED",
                                       "basic": "ORT_ENABLE_BASIC", "disabled": "ORT_DISABLE_ALL"}
EXECUTION_MODES: dict[str, str] = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}
PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-static")
DEFAULT_SECONDS = 2.0
MIN_ITERS = 20  # with --seconds: at least this many timed calls, however slow
MAX_ITERS = 1_000_000
EXAMPLE_ROWS = 64  # real examples drawn from the data set; larger batches repeat them
CALIBRATION_ROWS = 128
PROFILE_RUNS = 50
PROFILE_WARMUP = 5  # calls before the profiled ones (onnxruntime records them: its summary leaves them out)
TRANSFER_REPEATS = 5
# Wall-clock limits of one worker process: beyond these a group is reported as not finished.
WORKER_SETUP_S = 300.0
PER_BATCH_S = 300.0
COMPILE_PER_BATCH_S = 600.0


# -- settings ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchSettings:
    providers: tuple[str, ...] = ("cpu", "cuda")
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    threads: int | None = None  # None: physical cores available to this process
    warmup: int = 10
    iters: int | None = None  # exactly this many timed calls ...
    seconds: float | None = None  # ... or timed calls for this long (DEFAULT_SECONDS if neither is given)
    compare_torch: bool = True
    torch_compile: bool = True
    fp16: bool = False
    int8: bool = False
    optimization: str = "all"
    execution_mode: str = "sequential"
    profile: bool = False

    def precisions(self) -> list[str]:
        return ["fp32"] + (["fp16"] if self.fp16 else []) + (["int8-dynamic", "int8-static"] if self.int8 else [])

    def command_line(self, source: str, out: Path | None) -> str:
        """The `zoo bench` command that reproduces these settings, every one spelled out."""
        parts = ["zoo", "bench", source, "--providers", ",".join(self.providers),
                 "--batch-sizes", ",".join(map(str, self.batch_sizes)), "--warmup", str(self.warmup)]
        if self.iters is not None:
            parts += ["--iters", str(self.iters)]
        elif self.seconds is not None:
            parts += ["--seconds", str(self.seconds)]
        if self.threads:
            parts += ["--threads", str(self.threads)]
        parts += ["--optimization", self.optimization, "--execution-mode", self.execution_mode]
        flags = {"--no-compare-torch": not self.compare_torch, "--no-torch-compile": not self.torch_compile,
                 "--fp16": self.fp16, "--int8": self.int8, "--profile": self.profile}
        parts += [flag for flag, on in flags.items() if on]
        if out is not None:
            parts += ["--out", str(out)]
        return " ".join(shlex.quote(p) for p in parts)


def make_settings(*, providers: str = "cpu,cuda", batch_sizes: str = "1,8,32", threads: int | None = None,
                  warmup: int = 10, iters: int | None = None, seconds: float | None = None,
                  compare_torch: bool = True, torch_compile: bool = True, fp16: bool = False, int8: bool = False,
                  optimization: str = "all", execution_mode: str = "sequential", profile: bool = False) -> BenchSettings:
    """Validated settings from command-line values; bad values raise a one-line ZooError."""
    if iters is not None and seconds is not None:
        raise ZooError("give either --iters or --seconds, not both: one fixes the number of timed calls, the other their duration.")
    if iters is not None and iters < 1:
        raise ZooError(f"--iters must be at least 1, got {iters}; e.g. --iters 200.")
    if seconds is not None and not seconds > 0:
        raise ZooError(f"--seconds must be positive, got {seconds}; e.g. --seconds 2.")
    if warmup < 0:
        raise ZooError(f"--warmup must be 0 or more, got {warmup}; e.g. --warmup 10.")
    if threads is not None and threads < 1:
        raise ZooError(f"--threads must be at least 1, got {threads}; omit it to use every physical core.")
    return BenchSettings(
        providers=parse_providers(providers), batch_sizes=parse_batch_sizes(batch_sizes), threads=threads,
        warmup=warmup, iters=iters, seconds=seconds, compare_torch=compare_torch, torch_compile=torch_compile,
        fp16=fp16, int8=int8, optimization=_choice(optimization, OPTIMIZATION_LEVELS, "--optimization"),
        execution_mode=_choice(execution_mode, EXECUTION_MODES, "--execution-mode"), profile=profile)


def parse_providers(text: str) -> tuple[str, ...]:
    names = [p.strip().lower() for p in text.split(",") if p.strip()]
    if not names:
        raise ZooError(f"--providers needs at least one of: {', '.join(PROVIDERS)} (e.g. --providers cpu,cuda).")
    for name in names:
        if name not in PROVIDERS:
            raise ZooError(f"unknown provider '{name}'; --providers takes a comma-separated list of: {', '.join(PROVIDERS)}.")
    return tuple(dict.fromkeys(names))


MAX_BATCH_SIZE = 65536  # inputs are materialised at the largest batch size: bound it before allocating


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for part in (p.strip() for p in text.split(",")):
        if not part.lstrip("-").isdigit() or not 1 <= int(part) <= MAX_BATCH_SIZE:
            raise ZooError(f"--batch-sizes takes whole numbers from 1 to {MAX_BATCH_SIZE}, got '{part}'; e.g. --batch-sizes 1,8,32.")
        sizes.append(int(part))
    return tuple(sorted(set(sizes)))


def _choice(value: str, allowed: dict[str, str], option: str) -> str:
    key = value.strip().lower()
    if key not in allowed:
        raise ZooError(f"{option} must be one of: {', '.join(allowed)} (got '{value}').")
    return key


@dataclass(frozen=True)
class ThreadSettings:
    intra_op: int
    inter_op: int
    requested: int | None
    origin: str

    @classmethod
    def of(cls, settings: BenchSettings) -> ThreadSettings:
        intra = settings.threads or available_physical_cores()
        inter = intra if settings.execution_mode == "parallel" else 1
        origin = "--threads" if settings.threads else "default: physical cores available to this process"
        return cls(intra_op=intra, inter_op=inter, requested=settings.threads, origin=origin)

    def environment(self) -> dict[str, str]:
        """Set before the worker starts, so OpenMP/MKL pools (PyTorch's CPU kernels) take the same count."""
        return {"OMP_NUM_THREADS": str(self.intra_op), "MKL_NUM_THREADS": str(self.intra_op)}


def available_physical_cores() -> int:
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or logical
    except ImportError:
        physical = logical
    return max(1, min(logical, physical))


# -- the parent: prepare models and inputs, run one worker per group, collect -----------------------

@dataclass
class Job:
    """One worker's task: a (runtime, provider, precision) group over all batch sizes. JSON-able."""

    runtime: str  # onnxruntime | torch | torch.compile
    provider: str  # cpu | cuda | tensorrt (torch: the device, cpu | cuda)
    precision: str
    target: str  # the .onnx file, or the PyTorch weights (run dir / model.safetensors)
    inputs: str  # .npz of the inputs at the largest batch size
    input_names: list[str]
    batch_sizes: list[int]
    warmup: int
    iters: int | None
    seconds: float | None
    intra_op: int
    inter_op: int
    optimization: str
    execution_mode: str
    profile_dir: str | None
    result: str

    def label(self) -> str:
        return f"{self.runtime}-{self.provider}-{self.precision}"

    def timeout_s(self) -> float:
        per_batch = PER_BATCH_S + (self.seconds or 0.0)
        if self.runtime == "torch.compile":
            per_batch += COMPILE_PER_BATCH_S * (2 if self.profile_dir else 1)  # profiling compiles again
        return WORKER_SETUP_S + per_batch * len(self.batch_sizes)


@dataclass
class BenchRun:
    """Everything `zoo bench` measured, ready for the report writers."""

    doc: dict[str, Any]
    out: Path
    profiles: list[Path] = field(default_factory=list)


def run_bench(source: str, settings: BenchSettings, out: Path | None = None, *, command: str = "",
              progress: Callable[[str], None] | None = None) -> BenchRun:
    """Benchmark SOURCE (run dir, model.safetensors, hf://OWNER/NAME, .onnx) and return the report document.

    Writes nothing; :func:`exporters.bench_report.write_outputs` writes the files into ``BenchRun.out``.
    """
    from exporters.sources import resolve_source

    say = progress or (lambda _: None)
    src = resolve_source(source)
    if src.kind == "keras":
        raise ZooError(f"zoo bench measures ONNX and PyTorch, not Keras; convert it first: `zoo convert {source} --to onnx`, "
                       "then bench the .onnx file.")
    if src.kind == "onnx":
        check_batch_sizes_fit(src.path, settings.batch_sizes)
    out_dir = Path(out) if out is not None else default_out(src)
    threads = ThreadSettings.of(settings)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        work = Path(tmp)
        inputs_file, input_shapes = write_inputs(src.spec, max(settings.batch_sizes), work / "inputs.npz")
        say("preparing ONNX files")
        models, model_notes = prepare_onnx_files(src, settings, work)
        torch_weights, torch_reason = torch_weights_of(src)
        jobs, skipped = plan_jobs(src, settings, threads, models, model_notes, torch_weights, torch_reason,
                                  inputs_file, work)
        rows = list(skipped)
        for job in jobs:
            say(f"measuring {job.label()} at batch sizes {', '.join(map(str, job.batch_sizes))}")
            rows += run_worker(job, threads)
        profiles = collect_profiles(work / "profiles", out_dir / "profiles") if settings.profile else []
        files = {precision: {"name": path.name, "bytes": path.stat().st_size} for precision, path in models.items()}
        rows = add_accuracy(rows, fp32_atol=src.spec.export_spec().atol)
        say("task metric of the fp16/int8 files on held-out data")
        rows = add_task_metrics(rows, src, models)
    rows = order_rows(add_speedups(rows))
    doc = report_document(src, settings, threads, machine, rows, files, input_shapes, command)
    return BenchRun(doc=doc, out=out_dir, profiles=profiles)


def default_out(src: ResolvedSource) -> Path:
    """The run directory for a local PyTorch source (so `zoo push` uploads bench.json), else ./bench-MODEL."""
    from exporters.sources import is_remote

    if src.kind == "pytorch" and not is_remote(src.origin):
        return src.path
    return Path.cwd() / f"bench-{src.spec.name}"


def check_batch_sizes_fit(onnx_path: Path, batch_sizes: tuple[int, ...]) -> None:
    """ZooError when the graph fixes its batch axis to a size other than those asked for."""
    from exporters.onnx import graph_io, load_onnx

    proto = load_onnx(onnx_path, check=False)
    names, _ = graph_io(proto)
    for value in proto.graph.input:
        if value.name not in names or not value.type.tensor_type.shape.dim:
            continue
        first = value.type.tensor_type.shape.dim[0]
        fixed = first.dim_value if first.HasField("dim_value") else None
        wrong = [b for b in batch_sizes if fixed is not None and b != fixed]
        if wrong:
            shape = "x".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
                             for d in value.type.tensor_type.shape.dim)
            raise ZooError(f"{onnx_path.name} has a fixed batch size of {fixed} (input '{value.name}' is {shape}) and cannot run "
                           f"batch size {wrong[0]}; pass --batch-sizes {fixed}, or re-export with a dynamic batch axis "
                           "(`zoo export RUN` without --static).")


def write_inputs(spec: ZooModel, largest_batch: int, path: Path) -> tuple[Path, dict[str, list[int]]]:
    """Real held-out examples (``spec.example_inputs``) repeated to the largest batch size, saved for the workers."""
    specs = spec.inputs()
    examples = spec.example_inputs(min(largest_batch, EXAMPLE_ROWS))
    missing = [t.name for t in specs if t.name not in examples]
    if missing:
        raise ZooError(f"{spec.name}.example_inputs() lacks input(s) {missing}; it must return every input of inputs().")
    arrays = {t.name: tile_rows(np.asarray(examples[t.name], dtype=t.dtype), largest_batch) for t in specs}
    np.savez(path, **arrays)
    return path, {name: list(a.shape[1:]) for name, a in arrays.items()}


def tile_rows(array: np.ndarray, rows: int) -> np.ndarray:
    if len(array) == 0:
        raise ZooError("the model's data set returned no example inputs; check its test split.")
    return np.ascontiguousarray(np.take(array, np.arange(rows) % len(array), axis=0))


def prepare_onnx_files(src: ResolvedSource, settings: BenchSettings, work: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """precision -> ONNX file, and precision -> why it could not be made. The fp32 file is exported (PyTorch
    sources, with exporters.onnx.export_onnx as `zoo export` does) or is the given file; --fp16/--int8
    files are made from it with exporters.quantize."""
    from exporters import quantize

    name = src.spec.name
    if src.kind == "onnx":
        given = onnx_precision(src.path)
        if given != "fp32":
            notes = {p: f"the source file is already {given}; bench the fp32 file (or the run) to compare precisions"
                     for p in settings.precisions()[1:] if p != given}
            return {given: src.path}, notes
        fp32 = src.path
    else:
        from exporters.onnx import export_onnx

        assert src.artifact is not None
        fp32 = export_onnx(src.artifact, work / f"{name}.onnx")
    files: dict[str, Path] = {"fp32": fp32}
    notes: dict[str, str] = {}
    makers: dict[str, Callable[[Path], Path]] = {
        "fp16": lambda target: quantize.to_fp16(fp32, target),
        "int8-dynamic": lambda target: quantize.quantize_dynamic(fp32, target),
        "int8-static": lambda target: quantize.quantize_static(
            fp32, target, quantize.calibration_inputs(src.spec, CALIBRATION_ROWS)),
    }
    for precision in settings.precisions()[1:]:
        try:
            with quiet_root_logger():
                files[precision] = makers[precision](work / f"{name}.{precision}.onnx")
        except ZooError as exc:
            notes[precision] = f"could not make the {precision} file: {exc}"
    return files, notes


def onnx_precision(path: Path) -> str:
    """What a given ONNX file computes in: int8-dynamic, int8-static (QDQ / QLinear ops), fp16 or fp32."""
    from onnx import TensorProto

    from exporters.onnx import load_onnx

    graph = load_onnx(path, check=False).graph
    ops = {node.op_type for node in graph.node}
    if ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}:
        return "int8-dynamic"
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}:
        return "int8-static"
    if any(init.data_type == TensorProto.FLOAT16 for init in graph.initializer):
        return "fp16"
    return "fp32"


@contextlib.contextmanager
def quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs advice ("consider pre-processing") on the root logger; not for our users."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def torch_weights_of(src: ResolvedSource) -> tuple[str | None, str]:
    """Where a worker loads the PyTorch model from, or why there is none."""
    from zoo.artifacts import CONFIG_JSON, WEIGHTS

    if src.artifact is not None:
        art = src.artifact
        return str(art.root if art.weights == art.root / WEIGHTS else art.weights), ""
    folder = src.path.parent
    if (folder / WEIGHTS).is_file() and (folder / CONFIG_JSON).is_file():
        from zoo.artifacts import read_config

        model, _ = read_config(folder)
        if model == src.spec.name:
            return str(folder), ""
    return None, (f"no PyTorch weights beside {src.path.name} (model.safetensors + config.json); "
                  "pass the run directory as SOURCE to compare with PyTorch")


def plan_jobs(src: ResolvedSource, settings: BenchSettings, threads: ThreadSettings, models: dict[str, Path],
              model_notes: dict[str, str], torch_weights: str | None, torch_reason: str, inputs_file: Path,
              work: Path) -> tuple[list[Job], list[dict[str, Any]]]:
    """Worker jobs in measuring order (PyTorch eager first: it is the baseline), and rows for groups that
    cannot run here (provider or device unavailable, file not made), each with its reason."""
    ort_available = onnxruntime_providers()
    jobs: list[Job] = []
    skipped: list[dict[str, Any]] = []

    def job(runtime: str, provider: str, precision: str, target: str) -> Job:
        label = f"{runtime}-{provider}-{precision}"
        return Job(runtime=runtime, provider=provider, precision=precision, target=target, inputs=str(inputs_file),
                   input_names=[t.name for t in src.spec.inputs()], batch_sizes=list(settings.batch_sizes),
                   warmup=settings.warmup, iters=settings.iters,
                   seconds=settings.seconds if settings.iters is None else None,
                   intra_op=threads.intra_op, inter_op=threads.inter_op, optimization=settings.optimization,
                   execution_mode=settings.execution_mode,
                   profile_dir=str(work / "profiles") if settings.profile else None,
                   result=str(work / f"result-{label}.json"))

    torch_devices = list(dict.fromkeys(DEVICE_OF_PROVIDER[p] for p in settings.providers))
    torch_runtimes = ["torch"] + (["torch.compile"] if settings.torch_compile else [])
    torch_jobs: list[Job] = []
    if settings.compare_torch:
        for runtime in torch_runtimes:
            for device in torch_devices:
                reason = torch_reason or (torch_device_unavailable(device) if device != "cpu" else "")
                if reason:
                    skipped.append(unavailable_row(runtime, device, "fp32", reason))
                else:
                    torch_jobs.append(job(runtime, device, "fp32", str(torch_weights)))
    eager = [j for j in torch_jobs if j.runtime == "torch"]
    jobs += eager
    precisions = [p for p in PRECISIONS if p in models or p in model_notes]
    for provider in settings.providers:
        missing = provider_unavailable(provider, ort_available)
        for precision in precisions:
            if missing:
                skipped.append(unavailable_row("onnxruntime", provider, precision, missing))
            elif precision in model_notes:
                skipped.append(unavailable_row("onnxruntime", provider, precision, model_notes[precision]))
            elif (provider, precision) in UNSUPPORTED:
                skipped.append(unavailable_row("onnxruntime", provider, precision, UNSUPPORTED[(provider, precision)],
                                               status="unsupported"))
            else:
                jobs.append(job("onnxruntime", provider, precision, str(models[precision])))
    jobs += [j for j in torch_jobs if j.runtime != "torch"]  # torch.compile last: it may take minutes
    return jobs, skipped


# (provider, precision) combinations onnxruntime would run mostly on CPU inside a GPU session (its int8
# kernels, DynamicQuantizeLinear/MatMulInteger and QLinear ops, are CPU ones), so timing them would report
# CPU as GPU; TensorRT int8 needs its own calibration table, which zoo does not build.
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("cuda", "int8-dynamic"): "the CUDA provider has no kernels for dynamic int8 ops (MatMulInteger, DynamicQuantizeLinear); they would fall back to CPU",
    ("cuda", "int8-static"): "the CUDA provider would run the QDQ int8 graph's quantised ops on CPU; use TensorRT with a calibration table",
    ("tensorrt", "int8-dynamic"): "TensorRT does not run dynamic int8 quantisation",
    ("tensorrt", "int8-static"): "TensorRT int8 needs a calibration table (trt_int8_calibration_table_name), which zoo bench does not build",
}


def onnxruntime_providers() -> list[str]:
    """Providers of the one onnxruntime installed (refuses a CPU+GPU mix; preloads CUDA libraries on the GPU build)."""
    import onnxruntime as ort

    from exporters.ort_install import check_single_install, preload_gpu_libraries

    check_single_install()
    preload_gpu_libraries()
    return list(ort.get_available_providers())


def provider_unavailable(provider: str, available: list[str]) -> str:
    """Why onnxruntime cannot offer ``provider`` in this environment ("" when it can)."""
    import onnxruntime as ort

    name = PROVIDERS[provider]
    if name in available:
        return ""
    shown = ", ".join(available)
    if provider == "cpu":
        return f"onnxruntime {ort.__version__} lists no {name} (has: {shown})"
    return (f"{name} is not in this onnxruntime {ort.__version__} (has: {shown}); it needs onnxruntime-gpu "
            f"(.ci/setup --gpu, which replaces onnxruntime by it){' built with TensorRT' if provider == 'tensorrt' else ''} and an NVIDIA GPU")


def torch_device_unavailable(device: str) -> str:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        built = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        return f"torch.cuda.is_available() is False (torch {torch.__version__}, {built}): no NVIDIA GPU or driver visible"
    return ""


def unavailable_row(runtime: str, provider: str, precision: str, reason: str, batch_size: int | None = None,
                    status: str = "unavailable") -> dict[str, Any]:
    return {"runtime": runtime, "provider": provider, "precision": precision, "batch_size": batch_size,
            "status": status, "reason": " ".join(reason.split())}


def run_worker(job: Job, threads: ThreadSettings) -> list[dict[str, Any]]:
    """Run ``job`` in a fresh interpreter; its rows, with a row per batch size it did not finish."""
    job_file = Path(job.result).with_suffix(".job.json")
    zio.write_json(job_file, asdict(job))
    log_file = Path(job.result).with_suffix(".log")
    env = {**os.environ, **threads.environment(), "PYTHONPATH": _pythonpath()}
    limit = job.timeout_s()
    with open(log_file, "w", encoding="utf-8") as log:
        try:
            code = subprocess.run([sys.executable, "-m", "exporters.bench", str(job_file)], stdout=log, stderr=log,
                                  env=env, timeout=limit, check=False).returncode
            problem = "" if code == 0 else f"worker exited with code {code}: {_last_line(log_file)}"
        except subprocess.TimeoutExpired:
            what = "torch.compile" if job.runtime == "torch.compile" else "the measurement"
            problem = f"{what} did not finish within {limit:.0f} s"
    rows = read_worker_rows(Path(job.result))
    done = {r["batch_size"] for r in rows}
    if problem and None not in done:  # None: the worker already reported the whole group unavailable
        status = "unavailable" if job.runtime == "torch.compile" else "failed"
        rows += [unavailable_row(job.runtime, job.provider, job.precision, problem, b, status)
                 for b in job.batch_sizes if b not in done]
    return rows


def read_worker_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("rows", []))


def _pythonpath() -> str:
    root = str(Path(__file__).resolve().parents[1])
    current = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([root, current]) if current else root


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def collect_profiles(staged: Path, target: Path) -> list[Path]:
    """Move the workers' profiling files into OUT/profiles (each atomically)."""
    written = []
    for path in sorted(staged.glob("*.json")) if staged.is_dir() else []:
        with zio.atomic_path(target / path.name) as tmp:
            shutil.move(str(path), tmp)
        written.append(target / path.name)
    return written


def add_speedups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """speedup_vs_torch_eager = PyTorch eager p50 / this row's p50, same device and batch size."""
    eager = {(r["provider"], r["batch_size"]): r["latency_ms"]["p50"] for r in rows
             if r["runtime"] == "torch" and r["status"] == "ok"}
    for row in rows:
        if row["status"] != "ok":
            continue
        base = eager.get((DEVICE_OF_PROVIDER[row["provider"]], row["batch_size"]))
        row["speedup_vs_torch_eager"] = round(base / row["latency_ms"]["p50"], 3) if base else None
    return rows


def add_accuracy(rows: list[dict[str, Any]], *, fp32_atol: float | None = None) -> list[dict[str, Any]]:
    """Per measured row, ``max_abs_diff`` to PyTorch eager (same inputs and batch size; its own device, else
    CPU) and ``check``: "reference" (eager itself), "matched" / "differs" (against exporters.parity's
    DEFAULT_ATOL for fp16, and for fp32 the model's own ``ExportSpec.atol`` (``fp32_atol``, the tolerance
    `zoo export` holds it to; default DEFAULT_ATOL); int8 is judged by the task metric, so "compared" only),
    or "not compared: why". Reads and drops each row's ``outputs_file``."""
    from exporters.parity import DEFAULT_ATOL

    loaded = {r["outputs_file"]: _load_outputs(r["outputs_file"]) for r in rows if r.get("outputs_file")}
    eager = {(r["provider"], r["batch_size"]): loaded.get(r.get("outputs_file"))
             for r in rows if r["runtime"] == "torch" and r["status"] == "ok"}
    for row in rows:
        if row["status"] != "ok":
            continue
        mine = loaded.get(row.pop("outputs_file", None))
        if row["runtime"] == "torch":
            row.update(max_abs_diff=0.0, check="reference")
            continue
        device = DEVICE_OF_PROVIDER[row["provider"]]
        reference = eager.get((device, row["batch_size"])) or eager.get(("cpu", row["batch_size"]))
        if mine is None or reference is None:
            row.update(max_abs_diff=None, check="not compared: no PyTorch eager row at this batch size"
                       if mine is not None else "not compared: the runtime returned no outputs")
            continue
        if len(mine) != len(reference) or any(a.shape != b.shape for a, b in zip(mine, reference)):
            row.update(max_abs_diff=None, check="differs: output shapes "
                       f"{[a.shape for a in mine]} vs PyTorch {[b.shape for b in reference]}")
            continue
        diff = max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
                   for a, b in zip(mine, reference))
        tolerance = fp32_atol if row["precision"] == "fp32" and fp32_atol is not None else DEFAULT_ATOL.get(row["precision"])
        row["max_abs_diff"] = significant_float(diff)
        row["atol"] = tolerance
        if tolerance is None:
            row["check"] = "compared (int8: judged by the task metric)"
        else:
            row["check"] = "matched" if diff <= tolerance else f"differs: max abs diff {diff:.3g} > atol {tolerance:g}"
    return rows


REDUCED_PRECISIONS = ("fp16", "int8-dynamic", "int8-static")


def add_task_metrics(rows: list[dict[str, Any]], src: ResolvedSource, models: dict[str, Path]) -> list[dict[str, Any]]:
    """Per measured fp16/int8 onnxruntime row: the model's own held-out evaluation (``spec.evaluate``) run
    through that file on that provider (``task_metric``), beside PyTorch's (``task_metric_torch``, when the
    source has weights) and the name of the headline metric; int8's ``check`` then says the drop, judged
    against exporters.parity's DEFAULT_METRIC_TOLERANCE. Evaluated once per (provider, precision)."""
    from exporters.parity import DEFAULT_METRIC_TOLERANCE, primary_drop
    from exporters.runtime import FP16_DISABLED_OPTIMIZERS, onnx_predictor

    groups = sorted({(r["provider"], r["precision"]) for r in rows if r["runtime"] == "onnxruntime"
                     and r["status"] == "ok" and r["precision"] in REDUCED_PRECISIONS and r["precision"] in models})
    if not groups:
        return rows
    name = src.spec.primary_metric
    reference = None
    if src.kind == "pytorch":
        reference = src.spec.evaluate(src.predictor()).get(name)
    measured: dict[tuple[str, str], float | str] = {}
    for provider, precision in groups:
        try:
            predict = onnx_predictor(models[precision], [PROVIDERS[provider]],
                                     disabled_optimizers=FP16_DISABLED_OPTIMIZERS if precision == "fp16" else ())
            measured[(provider, precision)] = float(src.spec.evaluate(predict)[name])
        except Exception as exc:  # noqa: BLE001 - reported in the row; the timing rows stand
            measured[(provider, precision)] = f"evaluation failed: {' '.join(str(exc).split())[:200]}"
    for row in rows:
        value = measured.get((row["provider"], row["precision"])) if row["runtime"] == "onnxruntime" and row["status"] == "ok" else None
        if value is None:
            continue
        if isinstance(value, str):
            row.update(task_metric=None, task_metric_name=name, check=f"{row.get('check', '')}; {value}".lstrip("; "))
            continue
        row.update(task_metric=round(value, 6), task_metric_name=name,
                   task_metric_torch=None if reference is None else round(float(reference), 6))
        if row["precision"].startswith("int8") and reference is not None and str(row.get("check", "")).startswith("compared"):
            drop = primary_drop(name, float(reference), value)  # a rise of an error metric is a drop too
            verdict = "matched" if drop <= DEFAULT_METRIC_TOLERANCE else "differs"
            row["check"] = (f"{verdict} (int8: {name} {value:.4f} vs PyTorch {float(reference):.4f}, drop {drop:+.4f}, "
                            f"tolerance {DEFAULT_METRIC_TOLERANCE:g})")
    return rows


def _load_outputs(path: str) -> list[np.ndarray] | None:
    try:
        with np.load(path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]
    except OSError:
        return None


def significant_float(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}")


def order_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    runtimes = {"torch": 0, "torch.compile": 1, "onnxruntime": 2}
    providers = {name: i for i, name in enumerate(PROVIDERS)}
    return sorted(rows, key=lambda r: (providers.get(r["provider"], 9), runtimes.get(r["runtime"], 9),
                                       PRECISIONS.index(r["precision"]), r["batch_size"] or 0))


def report_document(src: ResolvedSource, settings: BenchSettings, threads: ThreadSettings, machine: dict[str, Any],
                    rows: list[dict[str, Any]], files: dict[str, dict[str, Any]], input_shapes: dict[str, list[int]],
                    command: str) -> dict[str, Any]:
    """The content of bench.json. ``summary`` is the first list of flat rows: the model card shows it."""
    from exporters.bench_report import summary_rows

    exported = src.kind != "onnx"
    return {
        "schema": SCHEMA,
        "model": src.spec.name,
        "summary": summary_rows(rows),
        "source": {"origin": src.origin, "kind": src.kind, "path": str(src.path)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "machine": machine,
        "settings": {
            "providers": list(settings.providers), "batch_sizes": list(settings.batch_sizes),
            "precisions": [p for p in PRECISIONS if p in files], "warmup": settings.warmup, "iters": settings.iters,
            "seconds": None if settings.iters is not None else (settings.seconds or DEFAULT_SECONDS),
            "optimization": settings.optimization, "execution_mode": settings.execution_mode,
            "compare_torch": settings.compare_torch, "torch_compile": settings.torch_compile, "profile": settings.profile,
            "threads": {"intra_op": threads.intra_op, "inter_op": threads.inter_op, "requested": threads.requested,
                        "origin": threads.origin, "environment": threads.environment()},
            "isolation": "one fresh Python process per (runtime, provider, precision); batch sizes ascending inside it",
            "throughput": "samples / wall-clock seconds of the timed loop",
            "speedup": "PyTorch eager p50 / p50, same device and batch size",
        },
        "inputs": {"source": f"{src.spec.name}.example_inputs({EXAMPLE_ROWS} or fewer), rows repeated to the batch size",
                   "shapes": {name: ["batch", *shape] for name, shape in input_shapes.items()}},
        "onnx": {"exported": exported,
                 "how": "exporters.onnx.export_onnx (dynamic batch, optimised) into a temporary folder" if exported
                 else f"the given file {src.path}",
                 "files": files},
        "results": rows,
    }


# -- the machine -------------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    libraries = {}
    for package in ("onnxruntime", "onnxruntime-gpu", "onnx", "torch", "numpy", "zoo"):
        with contextlib.suppress(PackageNotFoundError):
            libraries[package] = version(package)
    return {
        "platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_model(),
        "cores_logical": os.cpu_count(), "cores_physical": _physical_cores(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_mb": _total_memory_mb(), "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "gpus": gpus(), "libraries": libraries, "onnxruntime": _onnxruntime_build(),
    }


def _onnxruntime_build() -> dict[str, Any]:
    from exporters.ort_install import build_info

    return build_info()


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs from nvidia-smi, else from torch.cuda; empty when there are none."""
    text = _nvidia_smi("--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits")
    if text:
        rows = [[c.strip() for c in line.split(",")] for line in text.splitlines() if line.strip()]
        return [{"name": r[0], "memory_mb": float(r[1]), "driver": r[2], "via": "nvidia-smi"} for r in rows if len(r) >= 3]
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            return [{"name": torch.cuda.get_device_name(i),
                     "memory_mb": torch.cuda.get_device_properties(i).total_memory / 2**20, "via": "torch.cuda"}
                    for i in range(torch.cuda.device_count())]
    return []


def _nvidia_smi(*args: str) -> str:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ""
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except ImportError:
        return None


def _total_memory_mb() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


# -- the worker: one group, measured in this fresh process -------------------------------------------

class Unavailable(Exception):
    """This group cannot run here (provider not really used, no device, graph not runnable); the reason."""


@dataclass
class Prepared:
    """A loaded model bound to one batch of inputs: ``step()`` is one timed call."""

    step: Callable[[], Any]
    fetch: Callable[[], Any] | None = None  # device -> host copy of the outputs (CUDA only)
    outputs: Callable[[], list[np.ndarray]] | None = None  # one call's outputs on the host, for the accuracy check
    h2d_ms: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


class OnnxRuntimeBackend:
    """onnxruntime on one provider; on CUDA/TensorRT inputs and outputs live on the device (IO binding)."""

    def __init__(self, job: Job) -> None:
        import onnxruntime as ort

        self.ort = ort
        self.job = job
        self.provider = PROVIDERS[job.provider]
        if self.provider not in ort.get_available_providers():
            raise Unavailable(f"{self.provider} is not in this onnxruntime {ort.__version__}")
        self.on_device = job.provider != "cpu"
        if self.on_device:
            from exporters.ort_install import preload_gpu_libraries

            preload_gpu_libraries()
        self.device_total_before = gpu_memory_used_mb() if self.on_device else None

    def options(self, profile_prefix: str | None = None) -> Any:
        ort = self.ort
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[self.job.optimization])
        options.execution_mode = getattr(ort.ExecutionMode, EXECUTION_MODES[self.job.execution_mode])
        options.intra_op_num_threads = self.job.intra_op
        options.inter_op_num_threads = self.job.inter_op
        if profile_prefix:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        return options

    def load(self, profile_prefix: str | None = None) -> Any:
        chain: dict[str, list[Any]] = {
            "cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
            "tensorrt": [("TensorrtExecutionProvider", tensorrt_options(self.job)), "CUDAExecutionProvider",
                         "CPUExecutionProvider"]}
        try:
            from exporters.runtime import FP16_DISABLED_OPTIMIZERS

            session = self.ort.InferenceSession(self.job.target, self.options(profile_prefix), providers=chain[self.job.provider],
                                                disabled_optimizers=list(FP16_DISABLED_OPTIMIZERS if self.job.precision == "fp16" else ()))
        except Exception as exc:  # pybind Fail / NotImplemented / InvalidGraph: the graph cannot run on this provider
            raise Unavailable(f"onnxruntime cannot create a {self.provider} session for the {self.job.precision} "
                              f"graph ({first_line(exc)})") from None
        used = session.get_providers()
        if not used or used[0] != self.provider:
            raise Unavailable(f"onnxruntime created the session on {used} instead of {self.provider} "
                              "(missing CUDA/cuDNN/TensorRT libraries or no device); not measured, to avoid reporting CPU as GPU")
        return session

    def prepare(self, session: Any, feeds: dict[str, np.ndarray]) -> Prepared:
        options = session.get_session_options()
        info = {"session_providers": session.get_providers(),
                "threads": {"intra_op": options.intra_op_num_threads, "inter_op": options.inter_op_num_threads,
                            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}}
        if not self.on_device:
            outputs = [o.name for o in session.get_outputs()]
            return Prepared(step=lambda: session.run(outputs, feeds), info=info,
                            outputs=lambda: [np.asarray(o) for o in session.run(outputs, feeds)])
        ort = self.ort
        binding = session.io_binding()
        start = time.perf_counter_ns()
        device_inputs = {name: ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0) for name, value in feeds.items()}
        h2d_ms = (time.perf_counter_ns() - start) / 1e6
        for name, value in device_inputs.items():
            binding.bind_ortvalue_input(name, value)
        for output in session.get_outputs():
            binding.bind_output(output.name, "cuda", 0)

        def step() -> None:
            session.run_with_iobinding(binding)
            binding.synchronize_outputs()

        info["device_inputs"] = device_inputs  # keep the device buffers alive as long as the binding
        def host_outputs() -> list[np.ndarray]:
            step()
            return [np.asarray(o.numpy() if hasattr(o, "numpy") else o) for o in binding.copy_outputs_to_cpu()]

        return Prepared(step=step, fetch=binding.copy_outputs_to_cpu, h2d_ms=h2d_ms, info=info, outputs=host_outputs)

    def device_memory(self) -> dict[str, Any]:
        if not self.on_device:
            return {}
        own = gpu_process_memory_mb(os.getpid())
        if own is not None:
            return {"device_memory_mb": own, "device_memory_method": "nvidia-smi, this process"}
        after = gpu_memory_used_mb()
        if after is None or self.device_total_before is None:
            return {"device_memory_mb": None, "device_memory_method": "unavailable: nvidia-smi gave no figures"}
        return {"device_memory_mb": round(after - self.device_total_before, 1),
                "device_memory_method": "nvidia-smi, device total after - before (other processes included)"}

    def profile(self, feeds: dict[str, np.ndarray], stem: str) -> dict[str, Any]:
        """onnxruntime's own profiler, in a session of its own: the timed runs carry no profiling cost."""
        assert self.job.profile_dir is not None
        folder = Path(self.job.profile_dir)
        folder.mkdir(parents=True, exist_ok=True)
        session = self.load(profile_prefix=str(folder / f"{stem}-raw"))
        prepared = self.prepare(session, feeds)
        for _ in range(PROFILE_WARMUP + PROFILE_RUNS):
            prepared.step()
        raw = Path(session.end_profiling())
        target = folder / f"{stem}.json"
        os.replace(raw, target)
        return {"file": f"profiles/{target.name}", **summarise_ort_profile(target, PROFILE_WARMUP)}

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        yield


def tensorrt_options(job: Job) -> dict[str, Any]:
    """TensorRT provider options: fp16 kernels for the fp16 row, an engine cache beside the job (so the
    first-call time shows the build and later batch sizes reuse it), and a shape profile over the batch sizes."""
    import onnx

    cache = Path(job.result).parent / "trt-cache"
    cache.mkdir(exist_ok=True)
    graph = onnx.load(job.target, load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    shapes = {v.name: [d.dim_value or 1 for d in v.type.tensor_type.shape.dim] for v in graph.input if v.name not in initializers}

    def profile(batch: int) -> str:
        return ",".join(f"{name}:{'x'.join(map(str, [batch, *dims[1:]]))}" for name, dims in shapes.items())

    low, high = min(job.batch_sizes), max(job.batch_sizes)
    return {"trt_fp16_enable": job.precision == "fp16", "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache), "trt_timing_cache_enable": True,
            "trt_profile_min_shapes": profile(low), "trt_profile_opt_shapes": profile(high),
            "trt_profile_max_shapes": profile(high)}


class TorchBackend:
    """PyTorch eager (or ``torch.compile``) on the CPU or a CUDA device, weights loaded the zoo way."""

    def __init__(self, job: Job) -> None:
        import torch

        self.torch = torch
        self.job = job
        self.compiled = job.runtime == "torch.compile"
        self.device = torch.device(job.provider)
        torch.set_num_threads(job.intra_op)
        torch.set_num_interop_threads(job.inter_op)  # allowed only before any inter-op work: fresh process
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise Unavailable(torch_device_unavailable("cuda"))
        from zoo import registry
        from zoo.artifacts import read_config

        target = Path(job.target)
        registry.get(read_config(target if target.is_dir() else target.parent)[0])  # import the model module untimed

    def load(self) -> Any:
        from zoo import artifacts

        model = artifacts.load(self.job.target).model.to(self.device).eval()
        if self.compiled:
            self.torch._dynamo.reset()  # a fresh compile (and its time) per batch size
            model = self.torch.compile(model, dynamic=False)
        return model

    def prepare(self, model: Any, feeds: dict[str, np.ndarray]) -> Prepared:
        torch = self.torch
        start = time.perf_counter_ns()
        args = [torch.from_numpy(feeds[name]).to(self.device) for name in self.job.input_names]
        on_cuda = self.device.type == "cuda"
        if on_cuda:
            torch.cuda.synchronize()
        h2d_ms = (time.perf_counter_ns() - start) / 1e6 if on_cuda else None
        last: list[Any] = []

        def step() -> None:
            out = model(*args)
            if on_cuda:
                torch.cuda.synchronize()
                last[:] = [out]

        def fetch() -> Any:
            out = last[0] if last else model(*args)
            return [o.cpu() for o in (out if isinstance(out, (tuple, list)) else (out,))]

        info = {"threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads(),
                            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}}
        if on_cuda:
            torch.cuda.reset_peak_memory_stats()
        def host_outputs() -> list[np.ndarray]:
            with torch.no_grad():
                out = model(*args)
            return [o.detach().float().cpu().numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]

        return Prepared(step=step, fetch=fetch if on_cuda else None, h2d_ms=h2d_ms, info=info, outputs=host_outputs)

    def device_memory(self) -> dict[str, Any]:
        if self.device.type != "cuda":
            return {}
        own = gpu_process_memory_mb(os.getpid())
        return {"device_memory_mb": own if own is not None else round(self.torch.cuda.max_memory_reserved() / 2**20, 1),
                "device_memory_method": "nvidia-smi, this process" if own is not None else "torch.cuda.max_memory_reserved",
                "torch_max_allocated_mb": round(self.torch.cuda.max_memory_allocated() / 2**20, 1)}

    def profile(self, feeds: dict[str, np.ndarray], stem: str) -> dict[str, Any]:
        """torch.profiler over PROFILE_RUNS calls of a freshly loaded (compiled) model, after PROFILE_WARMUP
        calls: a Chrome trace and the top operators by self time."""
        from torch.profiler import ProfilerActivity, profile

        assert self.job.profile_dir is not None
        folder = Path(self.job.profile_dir)
        folder.mkdir(parents=True, exist_ok=True)
        prepared = self.prepare(self.load(), feeds)
        for _ in range(PROFILE_WARMUP):
            prepared.step()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for _ in range(PROFILE_RUNS):
                prepared.step()
        target = folder / f"{stem}.json"
        prof.export_chrome_trace(str(target))
        return {"file": f"profiles/{target.name}", **summarise_torch_profile(prof, PROFILE_RUNS)}

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        with self.torch.inference_mode():
            yield


def worker_main(job_file: str) -> int:
    job = Job(**json.loads(Path(job_file).read_text(encoding="utf-8")))
    arrays = dict(np.load(job.inputs))
    rows: list[dict[str, Any]] = []

    def save() -> None:
        zio.write_json(job.result, {"rows": rows})

    try:
        backend: Any = OnnxRuntimeBackend(job) if job.runtime == "onnxruntime" else TorchBackend(job)
    except Unavailable as exc:
        rows.append(unavailable_row(job.runtime, job.provider, job.precision, str(exc)))
        save()
        return 0
    base_rss = peak_rss_mb()  # interpreter, libraries and inputs: what every batch size starts from
    for batch in job.batch_sizes:
        try:
            with backend.context():
                rows.append(measure(backend, job, batch, batch_feeds(arrays, job, batch), base_rss))
        except Unavailable as exc:
            rows.append(unavailable_row(job.runtime, job.provider, job.precision, str(exc), batch))
        except Exception as exc:  # an error at one batch size (e.g. out of memory) must not hide the others
            reason = f"{type(exc).__name__}: {first_line(exc)}"
            status = "unavailable" if job.runtime == "torch.compile" else "failed"
            rows.append(unavailable_row(job.runtime, job.provider, job.precision, reason, batch, status))
        save()
    if job.profile_dir:  # after every timing, so no batch size's peak memory holds a profiling session
        for row in (r for r in rows if r["status"] == "ok"):
            row["profile"] = profile_batch(backend, job, row["batch_size"], batch_feeds(arrays, job, row["batch_size"]))
            save()
    return 0


def batch_feeds(arrays: dict[str, np.ndarray], job: Job, batch: int) -> dict[str, np.ndarray]:
    return {name: np.ascontiguousarray(arrays[name][:batch]) for name in job.input_names}


def profile_batch(backend: Any, job: Job, batch: int, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    try:
        with backend.context():
            return backend.profile(feeds, f"{job.runtime}-{job.provider}-{job.precision}-b{batch}")
    except Exception as exc:  # a profiler failure must not lose the timings
        return {"error": f"{type(exc).__name__}: {first_line(exc)}"}


def measure(backend: Any, job: Job, batch: int, feeds: dict[str, np.ndarray], base_rss: float) -> dict[str, Any]:
    """One batch size: first call (load + first run), then the timed loop, memory and transfers."""
    gc.collect()
    start = time.perf_counter_ns()
    model = backend.load()
    loaded = time.perf_counter_ns()
    prepared = backend.prepare(model, feeds)
    first_start = time.perf_counter_ns()
    prepared.step()
    first_end = time.perf_counter_ns()
    latencies_ns, wall_ns = time_calls(prepared.step, job.warmup, job.iters, job.seconds)
    peak = peak_rss_mb()
    outputs_file = save_outputs(prepared, job, batch)
    return {
        "runtime": job.runtime, "provider": job.provider, "precision": job.precision, "batch_size": batch,
        "status": "ok", "reason": "", "iterations": len(latencies_ns),
        "latency_ms": latency_stats(latencies_ns),
        "throughput_per_s": round(batch * len(latencies_ns) / (wall_ns / 1e9), 3),
        "timed_wall_s": round(wall_ns / 1e9, 4),
        "first_call_ms": round((loaded - start + first_end - first_start) / 1e6, 3),
        "session_create_ms": round((loaded - start) / 1e6, 3),
        "first_run_ms": round((first_end - first_start) / 1e6, 3),
        "peak_rss_mb": peak, "base_rss_mb": base_rss, "rss_increase_mb": round(peak - base_rss, 1),
        "h2d_ms": None if prepared.h2d_ms is None else round(prepared.h2d_ms, 4),
        "d2h_ms": transfer_ms(prepared.fetch),
        **{k: v for k, v in prepared.info.items() if k != "device_inputs"},
        **backend.device_memory(),
        "outputs_file": outputs_file,
    }


def save_outputs(prepared: Prepared, job: Job, batch: int) -> str | None:
    """One call's outputs, after the timing, saved for :func:`add_accuracy` (None when the backend has none)."""
    if prepared.outputs is None:
        return None
    path = Path(job.result).with_suffix(f".b{batch}.npz")
    np.savez(path, *prepared.outputs())
    return str(path)


def time_calls(step: Callable[[], Any], warmup: int, iters: int | None, seconds: float | None) -> tuple[np.ndarray, int]:
    """Per-call latencies (ns) after ``warmup`` untimed calls, and the wall-clock time of the timed loop."""
    for _ in range(warmup):
        step()
    limit = iters if iters is not None else MAX_ITERS
    duration_ns = int((seconds or DEFAULT_SECONDS) * 1e9)
    minimum = iters if iters is not None else MIN_ITERS
    latencies = []
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()  # a collection inside one call would be charged to that call alone
    try:
        loop_start = clock()
        while len(latencies) < limit:
            before = clock()
            step()
            after = clock()
            latencies.append(after - before)
            if iters is None and after - loop_start >= duration_ns and len(latencies) >= minimum:
                break
        wall = clock() - loop_start
    finally:
        gc.enable()
    return np.asarray(latencies, dtype=np.int64), wall


def latency_stats(latencies_ns: np.ndarray) -> dict[str, float]:
    ms = latencies_ns / 1e6
    p10, p25, p50, p75, p90, p99 = np.percentile(ms, [10, 25, 50, 75, 90, 99])
    return {key: round(float(value), 5) for key, value in {
        "mean": ms.mean(), "std": ms.std(), "min": ms.min(), "max": ms.max(), "p10": p10, "p25": p25, "p50": p50,
        "p75": p75, "p90": p90, "p99": p99, "iqr": p75 - p25}.items()}


def transfer_ms(fetch: Callable[[], Any] | None) -> float | None:
    """Median time of a device -> host copy of the outputs."""
    if fetch is None:
        return None
    times = []
    for _ in range(TRANSFER_REPEATS):
        start = time.perf_counter_ns()
        fetch()
        times.append(time.perf_counter_ns() - start)
    return round(float(np.median(times)) / 1e6, 4)


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark.

    Linux: VmHWM of /proc/self/status, which belongs to the process image and starts afresh at exec.
    Not ``ru_maxrss``: the kernel carries that over exec from the forked parent, so every worker
    would report at least the parent's size. Elsewhere ``ru_maxrss`` (bytes on macOS) is all there is.
    """
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def gpu_process_memory_mb(pid: int) -> float | None:
    text = _nvidia_smi("--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits")
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid):
            with contextlib.suppress(ValueError):
                return float(parts[1])
    return None


def gpu_memory_used_mb() -> float | None:
    text = _nvidia_smi("--query-gpu=memory.used", "--format=csv,noheader,nounits", "--id=0")
    with contextlib.suppress(ValueError):
        return float(text.strip().splitlines()[0]) if text.strip() else None
    return None


def summarise_ort_profile(path: Path, warmup_runs: int) -> dict[str, Any]:
    """Kernel time per run by op type, where the nodes ran, and the time outside kernels (framework overhead).

    The profiler records from session creation, so the first ``warmup_runs`` runs (allocations, first-run
    set-up) are left out. Per node the median over the runs is taken, so a run that the OS pre-empted
    does not inflate one operator.
    """
    events = json.loads(path.read_text(encoding="utf-8"))
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])[warmup_runs:]
    windows = [(float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0))) for e in runs]
    durations: dict[str, list[float]] = {}
    op_of: dict[str, str] = {}
    nodes_by_provider: dict[str, set[str]] = {}
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        args = event.get("args", {})
        nodes_by_provider.setdefault(args.get("provider", "?"), set()).add(event["name"])
        if any(start <= float(event.get("ts", -1)) <= end for start, end in windows):
            durations.setdefault(event["name"], []).append(float(event.get("dur", 0)))
            op_of[event["name"]] = args.get("op_name", "?")
    by_op: dict[str, float] = {}
    for node, values in durations.items():
        by_op[op_of[node]] = by_op.get(op_of[node], 0.0) + float(np.median(values)) * len(values) / max(len(runs), 1)
    run_us = float(np.median([end - start for start, end in windows])) if windows else 0.0
    kernels_us = sum(by_op.values())
    return {"runs": len(runs), "run_us": round(run_us, 2), "kernels_us": round(kernels_us, 2),
            "outside_kernels_us": round(run_us - kernels_us, 2),
            "nodes_by_provider": {p: len(n) for p, n in nodes_by_provider.items()}, "top_ops": top_ops(by_op)}


def summarise_torch_profile(prof: Any, runs: int) -> dict[str, Any]:
    """Self CPU time per run by operator (time in the op itself, children excluded), medians per call."""
    durations: dict[str, list[float]] = {}
    for event in prof.events():
        if not event.key.startswith("ProfilerStep"):
            durations.setdefault(event.key, []).append(float(event.self_cpu_time_total))
    by_op = {key: float(np.median(values)) * len(values) / runs for key, values in durations.items()}
    return {"runs": runs, "self_cpu_us": round(sum(by_op.values()), 2), "top_ops": top_ops(by_op)}


def top_ops(by_op: dict[str, float], count: int = 10) -> list[dict[str, Any]]:
    total = sum(by_op.values())
    ranked = sorted(by_op.items(), key=lambda item: -item[1])[:count]
    return [{"op": op, "us_per_run": round(us, 2), "share": round(us / total, 4) if total else 0.0} for op, us in ranked]


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
