"""Verified conversions: ``export`` (PyTorch -> ONNX/Keras/TorchScript, optionally fp16/int8),
``convert`` (Keras -> ONNX, ONNX -> PyTorch, ONNX -> Keras) and ``verify`` (re-check a file).

Every conversion runs source and target on real held-out inputs (:mod:`exporters.parity`), and
only a file within tolerance reaches its destination: work happens in a hidden staging folder
inside the output folder, and the checked file is renamed into place with its
``<file>.parity.json`` report beside it. Otherwise ``ParityError`` and no file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoo import io as zio
from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    from torch import nn

    from exporters.sources import ResolvedSource
    from zoo.registry import Predict, ZooModel

Quantization = Literal["dynamic", "static"]
TARGETS: tuple[str, ...] = ("onnx", "keras", "torchscript")
CONVERSIONS: dict[tuple[str, str], str] = {  # (source suffix, --to) -> what happens
    (".keras", "onnx"): "Keras' own ONNX exporter",
    (".onnx", "keras"): "zoo's ONNX -> Keras 3 converter",
    (".onnx", "pytorch"): "onnx2torch, weights saved as safetensors",
}
PARITY_SUFFIX = ".parity.json"


@dataclass
class ExportResult:
    """The written file, its parity report (also at ``parity_path``) and its format
    ("onnx", "keras", "torchscript" or "pytorch"); ``graphs`` holds the results of the model's
    further graphs (``<model>.<graph>.onnx``), each checked on its own."""

    path: Path
    parity: dict[str, Any]
    parity_path: Path
    format: str
    graphs: list[ExportResult] = field(default_factory=list)


def output_name(model: str, to: str, *, fp16: bool = False, quantize: Quantization | None = None) -> str:
    """File name of an export: siamese.onnx, siamese.fp16.onnx, siamese.int8.onnx (dynamic),
    siamese.int8-static.onnx, siamese.keras, siamese.torchscript.pt."""
    if to == "keras":
        return f"{model}.keras"
    if to == "torchscript":
        return f"{model}.torchscript.pt"
    if fp16:
        return f"{model}.fp16.onnx"
    if quantize == "dynamic":
        return f"{model}.int8.onnx"
    if quantize == "static":
        return f"{model}.int8-static.onnx"
    return f"{model}.onnx"


def export(source: str | Path, to: str = "onnx", out_dir: str | Path | None = None, *, opset: int | None = None,
           dynamic_batch: bool = True, fp16: bool = False, quantize: str | None = None, atol: float | None = None,
           metric_tolerance: float | None = None, rows: int = 64, calibration_rows: int = 128,
           optimize: bool = True) -> ExportResult:
    """Export the PyTorch model at SOURCE (run dir, model.safetensors, hf://OWNER/NAME) to ``to``.

    Every graph of the model's export spec is written (``<model>.onnx``, ``<model>.<graph>.onnx``,
    likewise ``.keras``), each parity-checked against its PyTorch submodule on real inputs; the
    main graph's result is returned, the others are in its ``graphs``. ``fp16``/``quantize``
    ("dynamic"/"static", ONNX only) and TorchScript apply to the main graph. ``out_dir`` defaults to
    the run directory (the current directory for hf:// sources). Raises ZooError on bad input and
    ParityError when a graph is not within tolerance; in both cases nothing is written.
    """
    from exporters.sources import is_remote, resolve_source
    from zoo import graphs as zgraphs
    from zoo.runtime import torch_predictor

    from exporters.onnx import check_opset

    to = _check_target(to, TARGETS, "zoo export")
    opset = check_opset(opset)
    if quantize is not None and quantize not in ("dynamic", "static"):
        raise ZooError(f"--quantize must be 'dynamic' or 'static', got '{quantize}'.")
    if (fp16 or quantize) and to != "onnx":
        raise ZooError("--fp16/--quantize apply to ONNX only; use --to onnx.")
    if fp16 and quantize:
        raise ZooError("choose one of --fp16 and --quantize: each writes its own file.")
    src = resolve_source(source)
    if src.kind != "pytorch":
        raise ZooError(f"{source} is already a {src.kind} file; `zoo export` starts from PyTorch weights "
                       f"(a run directory, model.safetensors or hf://); use `zoo convert {source} --to ...`.")
    assert src.artifact is not None
    out = Path(out_dir) if out_dir is not None else (Path.cwd() if is_remote(str(source)) else src.path)
    graphs = zgraphs.graph_specs(src.spec)
    if to == "torchscript" or fp16 or quantize:
        graphs = graphs[:1]
    source_info = describe_source(src)
    staged_files: list[tuple[Path, Path, dict[str, Any]]] = []
    with staging(out) as stage:
        for index, graph in enumerate(graphs):  # stage and check every graph before any is published
            spec = zgraphs.view(src.spec, graph)
            module = zgraphs.module_of(src.artifact.model, graph)
            reference = src.predictor() if spec is src.spec else torch_predictor(
                module, [t.name for t in spec.inputs()], device="cpu")
            name = (output_name(src.spec.name, to, fp16=fp16, quantize=quantize) if index == 0  # type: ignore[arg-type]
                    else zgraphs.file_name(src.spec.name, graph, index, ".onnx" if to == "onnx" else ".keras"))
            if to == "onnx":
                staged, report = _stage_onnx(src, spec, module, stage, reference, source_info, name, opset=opset,
                                             dynamic_batch=dynamic_batch, fp16=fp16, quantize=quantize, atol=atol,
                                             metric_tolerance=metric_tolerance, rows=rows,
                                             calibration_rows=calibration_rows, optimize=optimize)
            elif to == "keras":
                staged, report = _stage_keras(src, spec, module, stage, reference, source_info, name, opset=opset,
                                              dynamic_batch=dynamic_batch, atol=atol, rows=rows, optimize=optimize)
            else:
                staged, report = _stage_torchscript(spec, module, stage, reference, source_info, name, atol=atol, rows=rows)
            staged_files.append((staged, out / name, report))
        results = [publish(staged, final, report, to) for staged, final, report in staged_files]
    results[0].graphs = results[1:]
    return results[0]


def convert(source: str | Path, to: str, out: str | Path | None = None, *, atol: float | None = None,
            rows: int = 64, opset: int | None = None) -> ExportResult:
    """Convert an exported file: ``.keras -> onnx``, ``.onnx -> keras`` or ``.onnx -> pytorch``.

    ``out`` is a target file or folder (default: beside the source, named ``<model>.from-keras.onnx``,
    ``<model>.keras`` or ``<model>.onnx2torch.safetensors``). Parity is checked against the source file.
    """
    from exporters.sources import resolve_source

    path = Path(source).expanduser()
    to = to.lower()
    if (path.suffix, to) not in CONVERSIONS:
        options = "; ".join(f"{s} --to {t} ({how})" for (s, t), how in CONVERSIONS.items())
        raise ZooError(f"cannot convert '{path.name}' to '{to}'; supported: {options}. "
                       "From PyTorch weights use `zoo export SOURCE --to onnx|keras|torchscript`.")
    src = resolve_source(path)
    stem = file_stem(src.spec)
    names = {"onnx": f"{stem}.from-keras.onnx", "keras": f"{stem}.keras", "pytorch": f"{stem}.onnx2torch.safetensors"}
    final = _target_path(out, path.parent, names[to])
    reference = src.predictor()
    source_info = describe_source(src)
    with staging(final.parent) as stage:
        if to == "onnx":
            from exporters.keras_onnx import keras_to_onnx
            from exporters.onnx import write_onnx
            from exporters.runtime import onnx_predictor

            staged = write_onnx(keras_to_onnx(path, src.spec, opset=opset), stage / final.name)
            report = _check(src.spec, reference, onnx_predictor(staged), source_info,
                            {"file": final.name, "format": "onnx", "runtime": _ort_runtime(), "via": CONVERSIONS[(".keras", "onnx")]},
                            atol=atol, rows=rows)
            return publish(_with_parity_metadata(staged, report), final, report, "onnx")
        if to == "keras":
            from exporters.onnx import load_onnx

            staged, report = _keras_from_onnx(src.spec, load_onnx(path), stage, reference, source_info, final.name,
                                              atol=atol, rows=rows)
            return publish(staged, final, report, "keras")
        return _convert_to_pytorch(src, path, final, stage, reference, source_info, atol=atol, rows=rows)


def verify(file: str | Path, *, source: str | Path | None = None, atol: float | None = None,
           metric_tolerance: float | None = None, rows: int | None = None) -> dict[str, Any]:
    """Re-run the parity check of an exported file against the source its report names (or ``source``).

    Tolerances and precision come from the stored report unless given. Returns the new report;
    raises ParityError if it fails. The file is not modified.
    """
    from exporters.parity import check_parity, require_parity
    from exporters.sources import resolve_source

    path = Path(file).expanduser()
    if path.is_dir():
        raise ZooError(f"{path} is a folder; pass one exported file in it (.onnx, .keras, .torchscript.pt or .safetensors).")
    if not path.is_file():
        raise ZooError(f"{path} does not exist; pass an exported .onnx, .keras, .torchscript.pt or .safetensors file.")
    stored = _stored_report(path) or {}
    if source is None:
        source = (stored.get("source") or {}).get("path")
        if not source:
            raise ZooError(f"{path} has no parity report naming its source; pass the run directory with --source.")
    ref = resolve_source(source)
    _warn_if_weights_changed(ref, stored)
    ref_spec, ref_predict = _graph_reference(ref, stored.get("graph"))
    candidate, runtime = _predictor_for(path, stored)
    target = {**stored.get("target", {}), "file": path.name, "runtime": runtime}
    precision = target.get("precision", "fp32")
    tolerance = stored.get("tolerance", {})
    report = check_parity(ref_spec, ref_predict, candidate, precision=precision,
                          atol=atol if atol is not None else tolerance.get("atol"),
                          metric_tolerance=metric_tolerance if metric_tolerance is not None else tolerance.get("max_drop"),
                          rows=rows or stored.get("inputs", {}).get("rows", 64), source=describe_source(ref), target=target)
    require_parity(report)
    return report


def file_stem(spec: ZooModel) -> str:
    """``<model>`` for a model's main graph, ``<model>.<graph>`` for another of its graphs."""
    graph = getattr(spec, "graph_name", None)
    return f"{spec.name}.{graph}" if graph else spec.name


def _graph_reference(ref: ResolvedSource, graph_name: str | None) -> tuple[ZooModel, Predict]:
    """The spec and reference ``Predict`` of graph ``graph_name`` of ``ref`` (the whole model for None)."""
    if not graph_name or ref.kind != "pytorch" or getattr(ref.spec, "graph_name", None) == graph_name:
        return ref.spec, ref.predictor()
    from zoo import graphs as zgraphs
    from zoo.runtime import torch_predictor

    assert ref.artifact is not None
    graph = zgraphs.find(ref.spec, graph_name)
    spec = zgraphs.view(ref.spec, graph)
    module = zgraphs.module_of(ref.artifact.model, graph)
    return spec, torch_predictor(module, [t.name for t in spec.inputs()], device="cpu")


# -- the staged conversions ---------------------------------------------------------------------------

_GRAPHS: dict[tuple[Any, ...], Any] = {}  # recent torch.onnx exports, by weights + config + graph + options


def _graph(src: ResolvedSource, spec: ZooModel, module: nn.Module, *, opset: int | None, dynamic_batch: bool,
           optimize: bool) -> Any:
    """``build_onnx`` of one graph of the source's network, reused (as a copy) when the same weights, config,
    graph and options are exported again in this process: `zoo push --with onnx,keras,fp16,int8` traces
    each graph once."""
    import onnx

    from exporters.onnx import build_onnx
    from exporters.parity import sha256

    assert src.artifact is not None
    key = (sha256(src.artifact.weights), json.dumps(src.spec.config.to_dict(), sort_keys=True, default=str),
           getattr(spec, "graph_name", None), opset, dynamic_batch, optimize)
    if key not in _GRAPHS:
        if len(_GRAPHS) >= 4:
            _GRAPHS.clear()  # a few graphs at a time: models can be large
        _GRAPHS[key] = build_onnx(spec, module, opset=opset, dynamic_batch=dynamic_batch, optimize=optimize)
    copy = onnx.ModelProto()
    copy.CopyFrom(_GRAPHS[key])
    return copy


def _stage_onnx(src: ResolvedSource, spec: ZooModel, module: nn.Module, stage: Path, reference: Predict,
                source_info: dict[str, Any], name: str, *,
                opset: int | None, dynamic_batch: bool, fp16: bool, quantize: str | None, atol: float | None,
                metric_tolerance: float | None, rows: int, calibration_rows: int,
                optimize: bool) -> tuple[Path, dict[str, Any]]:
    from exporters import quantize as q
    from exporters.onnx import set_metadata, write_onnx, zoo_metadata
    from exporters.parity import check_parity
    from exporters.runtime import FP16_DISABLED_OPTIMIZERS, onnx_predictor

    proto = _graph(src, spec, module, opset=opset, dynamic_batch=dynamic_batch, optimize=optimize)
    fp32 = write_onnx(set_metadata(proto, zoo_metadata(spec)), stage / f"{name}.fp32.onnx")
    target: dict[str, Any] = {"file": name, "format": "onnx", "runtime": _ort_runtime(), "dynamic_batch": dynamic_batch,
                              "opset": next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))}
    precision = "fp32"
    staged = fp32
    if fp16:
        precision, staged = "fp16", q.to_fp16(fp32, stage / name)
    elif quantize == "dynamic":
        precision, staged = "int8", q.quantize_dynamic(fp32, stage / name)
        target["quantization"] = "int8 dynamic (onnxruntime quantize_dynamic: MatMul+Conv+LSTM weights, per-tensor; GRU/RNN weights int8 weight-only)"
    elif quantize == "static":
        precision = "int8"
        staged = q.quantize_static(fp32, stage / name, q.calibration_inputs(spec, calibration_rows))
        target["quantization"] = (f"int8 static QDQ (onnxruntime quantize_static, MinMax calibration on "
                                  f"{calibration_rows} training-split inputs, per-channel weights)")
    disabled = FP16_DISABLED_OPTIMIZERS if fp16 else ()
    report = check_parity(spec, reference, onnx_predictor(staged, disabled_optimizers=disabled), precision=precision, atol=atol,  # type: ignore[arg-type]
                          metric_tolerance=metric_tolerance, rows=rows, source=source_info, target=target)
    report["sizes"] = {"bytes": staged.stat().st_size}
    if precision != "fp32":
        report["sizes"].update(fp32_bytes=fp32.stat().st_size,
                               ratio_vs_fp32=round(fp32.stat().st_size / staged.stat().st_size, 3))
    _require(report)
    return _with_parity_metadata(staged, report), report


def _stage_keras(src: ResolvedSource, spec: ZooModel, module: nn.Module, stage: Path, reference: Predict, source_info: dict[str, Any],
                 name: str, *, opset: int | None, dynamic_batch: bool, atol: float | None, rows: int,
                 optimize: bool) -> tuple[Path, dict[str, Any]]:
    proto = _graph(src, spec, module, opset=opset, dynamic_batch=dynamic_batch, optimize=optimize)
    return _keras_from_onnx(spec, proto, stage, reference, source_info, name, atol=atol, rows=rows)


def _keras_from_onnx(spec: ZooModel, proto: Any, stage: Path, reference: Predict, source_info: dict[str, Any],
                     name: str, *, atol: float | None, rows: int) -> tuple[Path, dict[str, Any]]:
    _ensure_keras_backend()
    from exporters.keras import onnx_to_keras, save_keras
    from exporters.runtime import keras_predictor

    staged = save_keras(onnx_to_keras(proto), stage / name)
    import keras

    target = {"file": name, "format": "keras", "runtime": f"keras {keras.__version__} ({keras.backend.backend()} backend)",
              "via": "ONNX (torch.onnx dynamo) -> zoo's ONNX->Keras 3 converter",
              "dynamic_batch": _has_dynamic_batch(proto)}
    report = _check(spec, reference, keras_predictor(staged), source_info, target, atol=atol, rows=rows)
    report["sizes"] = {"bytes": staged.stat().st_size}
    return staged, report


def _stage_torchscript(spec: ZooModel, module: nn.Module, stage: Path, reference: Predict, source_info: dict[str, Any],
                       name: str, *, atol: float | None, rows: int) -> tuple[Path, dict[str, Any]]:
    import numpy as np
    import torch

    from zoo.artifacts import config_document
    from zoo.runtime import torch_predictor

    names = [t.name for t in spec.inputs()]
    examples = spec.example_inputs(2)
    args = tuple(torch.from_numpy(np.ascontiguousarray(examples[n])) for n in names)
    staged = stage / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export; it still works
        try:
            traced = torch.jit.trace(module.cpu().eval(), args)
        except Exception as exc:
            raise ZooError(f"torch.jit.trace failed on {spec.name} ({first_line(exc)}); export to ONNX instead.") from exc
        torch.jit.save(traced, str(staged), _extra_files={"zoo.json": json.dumps(config_document(spec))})
        loaded = torch.jit.load(str(staged), map_location="cpu")
    target = {"file": name, "format": "torchscript", "runtime": f"torch {torch.__version__} (torch.jit, CPU)"}
    report = _check(spec, reference, torch_predictor(loaded, names, device="cpu"), source_info, target, atol=atol, rows=rows)
    report["sizes"] = {"bytes": staged.stat().st_size}
    return staged, report


def _convert_to_pytorch(src: ResolvedSource, onnx_path: Path, final: Path, stage: Path, reference: Predict,
                        source_info: dict[str, Any], *, atol: float | None, rows: int) -> ExportResult:
    from exporters.onnx import load_onnx, read_metadata
    from exporters.parity import sha256
    from exporters.pytorch import META_ONNX_SHA256, META_STRUCTURE, load_torch, onnx_to_torch, save_torch, structure_note
    from zoo.runtime import torch_predictor

    proto = load_onnx(onnx_path)
    metadata = {k: v for k, v in read_metadata(proto).items() if k != "parity"}
    metadata.update({META_ONNX_SHA256: sha256(onnx_path), META_STRUCTURE: structure_note(onnx_path.name)})
    staged = save_torch(onnx_to_torch(proto), stage / final.name, metadata)
    module = load_torch(staged, proto)  # check what was written, not what is in memory
    import torch

    target = {"file": final.name, "format": "pytorch", "runtime": f"torch {torch.__version__} (onnx2torch module, CPU)",
              "structure": f"rebuilt from {onnx_path.name} by onnx2torch; exporters.pytorch.load_torch(weights, onnx)"}
    report = _check(src.spec, reference, torch_predictor(module, [t.name for t in src.spec.inputs()], device="cpu"),
                    source_info, target, atol=atol, rows=rows)
    report["sizes"] = {"bytes": staged.stat().st_size}
    return publish(staged, final, report, "pytorch")


# -- helpers ----------------------------------------------------------------------------------------

def _check(spec: ZooModel, reference: Predict, candidate: Predict, source_info: dict[str, Any],
           target: dict[str, Any], *, atol: float | None, rows: int) -> dict[str, Any]:
    from exporters.parity import check_parity

    report = check_parity(spec, reference, candidate, atol=atol, rows=rows, source=source_info, target=target)
    _require(report)
    return report


def _require(report: dict[str, Any]) -> None:
    from exporters.parity import require_parity

    require_parity(report)


def publish(staged: Path, final: Path, report: dict[str, Any], fmt: str) -> ExportResult:
    """Move a checked file into place (atomic rename) and write its parity report beside it."""
    with zio.atomic_path(final) as tmp:
        os.replace(staged, tmp)
    parity_path = zio.write_json(final.with_name(final.name + PARITY_SUFFIX), report)
    return ExportResult(path=final, parity=report, parity_path=parity_path, format=fmt)


STAGING_PREFIX = ".zoo-export-"


@contextlib.contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """A hidden scratch folder inside ``out_dir`` (same file system, so the final rename is atomic).

    Its name carries this host and process id, so the staging folders of exports that were killed
    (SIGKILL, power loss) are recognised and removed by the next export into the same folder."""
    import socket

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ZooError(f"--out {out_dir} is an existing file; give a folder to write the export into.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out_dir)
        tmp = tempfile.TemporaryDirectory(dir=out_dir, prefix=f"{STAGING_PREFIX}{socket.gethostname()}-{os.getpid()}-")
    except OSError as exc:
        raise ZooError(f"cannot write into the output folder {out_dir} ({exc.strerror or first_line(exc)}); "
                       "choose a writable folder with --out.") from None
    with tmp as name:
        yield Path(name)


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove ``.zoo-export-*`` folders in ``out_dir`` left by exports of this host that are no longer running."""
    import shutil
    import socket
    import time

    host, removed = socket.gethostname(), []
    for entry in out_dir.glob(f"{STAGING_PREFIX}*"):
        if not entry.is_dir() or entry.is_symlink():
            continue
        parts = entry.name[len(STAGING_PREFIX):].rsplit("-", 2)
        if len(parts) == 3 and parts[1].isdigit():
            stale = parts[0] == host and not _process_alive(int(parts[1]))
        else:  # a name from before host/pid were recorded: stale once a day old
            stale = time.time() - entry.stat().st_mtime > 86400
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_source(src: ResolvedSource) -> dict[str, Any]:
    """Where the reference came from, precisely enough for `zoo verify` to find and check it again."""
    from exporters.parity import sha256

    from exporters.sources import is_remote

    origin = src.origin or str(src.path)
    path = origin if is_remote(origin) else str(Path(origin).expanduser().resolve())
    info: dict[str, Any] = {"path": path, "format": src.kind}
    weights = src.artifact.weights if src.artifact is not None else src.path
    info["sha256"] = sha256(weights)
    return info


def _with_parity_metadata(staged: Path, report: dict[str, Any]) -> Path:
    from exporters.onnx import META_PARITY, load_onnx, set_metadata, write_onnx

    proto = load_onnx(staged, check=False)
    return write_onnx(set_metadata(proto, {META_PARITY: json.dumps(report)}), staged)


def _stored_report(path: Path) -> dict[str, Any] | None:
    from exporters.sources import read_sidecar

    report = read_sidecar(path)
    if report is None and path.suffix == ".onnx":
        from exporters.onnx import parity_metadata

        report = parity_metadata(path)
    return report


def _predictor_for(path: Path, stored: dict[str, Any]) -> tuple[Predict, str]:
    if path.suffix == ".onnx":
        from exporters.runtime import onnx_predictor

        return onnx_predictor(path), _ort_runtime()
    if path.suffix == ".keras":
        _ensure_keras_backend()
        from exporters.runtime import keras_predictor

        return keras_predictor(path), "keras"
    if path.name.endswith(".torchscript.pt"):
        import torch

        from zoo.runtime import torch_predictor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location="cpu")
        return torch_predictor(module, _input_names(stored), device="cpu"), "torch.jit"
    if path.suffix == ".safetensors":
        from exporters.pytorch import load_torch, read_metadata
        from zoo.runtime import torch_predictor

        onnx_name = json.loads(read_metadata(path).get("structure", "{}")).get("onnx_file")
        if not onnx_name or not (path.parent / onnx_name).is_file():
            raise ZooError(f"{path} needs the ONNX file it was converted from ({onnx_name or 'unknown'}) beside it.")
        return torch_predictor(load_torch(path, path.parent / onnx_name), _input_names(stored), device="cpu"), "onnx2torch"
    raise ZooError(f"cannot verify '{path.name}': expected .onnx, .keras, .torchscript.pt or an onnx2torch .safetensors.")


def _input_names(stored: dict[str, Any]) -> list[str]:
    from zoo import registry

    if not stored.get("model"):
        raise ZooError("the parity report does not name the model; re-export the file.")
    spec = registry.create(stored["model"], stored.get("config") or {})
    if stored.get("graph"):
        from zoo import graphs as zgraphs

        spec = zgraphs.view(spec, zgraphs.find(spec, stored["graph"]))
    return [t.name for t in spec.inputs()]


def _warn_if_weights_changed(ref: ResolvedSource, stored: dict[str, Any]) -> None:
    recorded = (stored.get("source") or {}).get("sha256")
    if not recorded:
        return
    from exporters.parity import sha256

    weights = ref.artifact.weights if ref.artifact is not None else ref.path
    if sha256(weights) != recorded:
        warnings.warn(f"{weights} changed since this file was exported; verifying against the current weights.",
                      stacklevel=3)


def _target_path(out: str | Path | None, default_dir: Path, name: str) -> Path:
    if out is None:
        return default_dir / name
    out = Path(out).expanduser()
    if out.is_dir() or not out.suffix:
        return out / name
    expected = "".join(Path(name).suffixes[-1:])
    if out.suffix != expected:
        raise ZooError(f"--out {out} must end in '{expected}' for this conversion (or name a folder).")
    return out


def _has_dynamic_batch(proto: Any) -> bool:
    """Whether the ONNX graph's first input has a symbolic (dynamic) first axis."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim if len(proto.graph.input) else []
    return bool(dims) and not dims[0].HasField("dim_value")


def _check_target(to: str, allowed: tuple[str, ...], command: str) -> str:
    value = to.lower().strip()
    if value not in allowed:
        raise ZooError(f"{command} --to must be one of: {', '.join(allowed)} (got '{to}').")
    return value


def _ort_runtime() -> str:
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__} (CPUExecutionProvider)"


def _ensure_keras_backend() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
