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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoo import io as zio
from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    from exporters.sources import ResolvedSource
    from zoo.registry import Predict

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
    ("onnx", "keras", "torchscript" or "pytorch")."""

    path: Path
    parity: dict[str, Any]
    parity_path: Path
    format: str


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

    ``out_dir`` defaults to the run directory (the current directory for hf:// sources). ``fp16`` or
    ``quantize`` ("dynamic"/"static") apply to ONNX only. Raises ZooError on bad input and
    ParityError when the result is not within tolerance; in both cases nothing is written.
    """
    from exporters.sources import resolve_source

    to = _check_target(to, TARGETS, "zoo export")
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
    out = Path(out_dir) if out_dir is not None else (Path.cwd() if str(source).startswith("hf://") else src.path)
    final = out / output_name(src.spec.name, to, fp16=fp16, quantize=quantize)  # type: ignore[arg-type]
    reference = src.predictor()
    source_info = describe_source(src)
    with staging(out) as stage:
        if to == "onnx":
            staged, report = _stage_onnx(src, stage, reference, source_info, final.name, opset=opset,
                                         dynamic_batch=dynamic_batch, fp16=fp16, quantize=quantize, atol=atol,
                                         metric_tolerance=metric_tolerance, rows=rows,
                                         calibration_rows=calibration_rows, optimize=optimize)
        elif to == "keras":
            staged, report = _stage_keras(src, stage, reference, source_info, final.name, opset=opset,
                                          dynamic_batch=dynamic_batch, atol=atol, rows=rows, optimize=optimize)
        else:
            staged, report = _stage_torchscript(src, stage, reference, source_info, final.name, atol=atol, rows=rows)
        return publish(staged, final, report, to)


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
    names = {"onnx": f"{src.spec.name}.from-keras.onnx", "keras": f"{src.spec.name}.keras",
             "pytorch": f"{src.spec.name}.onnx2torch.safetensors"}
    final = _target_path(out, path.parent, names[to])
    reference = src.predictor()
    source_info = describe_source(src)
    with staging(final.parent) as stage:
        if to == "onnx":
            from exporters.keras_onnx import keras_to_onnx
            from exporters.onnx import write_onnx
            from exporters.runtime import onnx_predictor

            staged = write_onnx(keras_to_onnx(path, src.spec, opset=opset), stage / final.name)
            report = _check(src, reference, onnx_predictor(staged), source_info,
                            {"file": final.name, "format": "onnx", "runtime": _ort_runtime(), "via": CONVERSIONS[(".keras", "onnx")]},
                            atol=atol, rows=rows)
            return publish(_with_parity_metadata(staged, report), final, report, "onnx")
        if to == "keras":
            from exporters.onnx import load_onnx

            staged, report = _keras_from_onnx(src, load_onnx(path), stage, reference, source_info, final.name,
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
    if not path.is_file():
        raise ZooError(f"{path} does not exist; pass an exported .onnx, .keras, .torchscript.pt or .safetensors file.")
    stored = _stored_report(path) or {}
    if source is None:
        source = (stored.get("source") or {}).get("path")
        if not source:
            raise ZooError(f"{path} has no parity report naming its source; pass the run directory with --source.")
    ref = resolve_source(source)
    _warn_if_weights_changed(ref, stored)
    candidate, runtime = _predictor_for(path, stored)
    target = {**stored.get("target", {}), "file": path.name, "runtime": runtime}
    precision = target.get("precision", "fp32")
    tolerance = stored.get("tolerance", {})
    report = check_parity(ref.spec, ref.predictor(), candidate, precision=precision,
                          atol=atol if atol is not None else tolerance.get("atol"),
                          metric_tolerance=metric_tolerance if metric_tolerance is not None else tolerance.get("max_drop"),
                          rows=rows or stored.get("inputs", {}).get("rows", 64), source=describe_source(ref), target=target)
    require_parity(report)
    return report


# -- the staged conversions ---------------------------------------------------------------------------

def _stage_onnx(src: ResolvedSource, stage: Path, reference: Predict, source_info: dict[str, Any], name: str, *,
                opset: int | None, dynamic_batch: bool, fp16: bool, quantize: str | None, atol: float | None,
                metric_tolerance: float | None, rows: int, calibration_rows: int,
                optimize: bool) -> tuple[Path, dict[str, Any]]:
    from exporters import quantize as q
    from exporters.onnx import build_onnx, set_metadata, write_onnx, zoo_metadata
    from exporters.parity import check_parity
    from exporters.runtime import onnx_predictor

    assert src.artifact is not None
    proto = build_onnx(src.spec, src.artifact.model, opset=opset, dynamic_batch=dynamic_batch, optimize=optimize)
    fp32 = write_onnx(set_metadata(proto, zoo_metadata(src.spec)), stage / "fp32.onnx")
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
        staged = q.quantize_static(fp32, stage / name, q.calibration_inputs(src.spec, calibration_rows))
        target["quantization"] = (f"int8 static QDQ (onnxruntime quantize_static, MinMax calibration on "
                                  f"{calibration_rows} training-split inputs, per-channel weights)")
    report = check_parity(src.spec, reference, onnx_predictor(staged), precision=precision, atol=atol,  # type: ignore[arg-type]
                          metric_tolerance=metric_tolerance, rows=rows, source=source_info, target=target)
    report["sizes"] = {"bytes": staged.stat().st_size}
    if precision != "fp32":
        report["sizes"].update(fp32_bytes=fp32.stat().st_size,
                               ratio_vs_fp32=round(fp32.stat().st_size / staged.stat().st_size, 3))
    _require(report)
    return _with_parity_metadata(staged, report), report


def _stage_keras(src: ResolvedSource, stage: Path, reference: Predict, source_info: dict[str, Any], name: str, *,
                 opset: int | None, dynamic_batch: bool, atol: float | None, rows: int,
                 optimize: bool) -> tuple[Path, dict[str, Any]]:
    from exporters.onnx import build_onnx

    assert src.artifact is not None
    proto = build_onnx(src.spec, src.artifact.model, opset=opset, dynamic_batch=dynamic_batch, optimize=optimize)
    return _keras_from_onnx(src, proto, stage, reference, source_info, name, atol=atol, rows=rows)


def _keras_from_onnx(src: ResolvedSource, proto: Any, stage: Path, reference: Predict, source_info: dict[str, Any],
                     name: str, *, atol: float | None, rows: int) -> tuple[Path, dict[str, Any]]:
    _ensure_keras_backend()
    from exporters.keras import onnx_to_keras, save_keras
    from exporters.runtime import keras_predictor

    staged = save_keras(onnx_to_keras(proto), stage / name)
    import keras

    target = {"file": name, "format": "keras", "runtime": f"keras {keras.__version__} ({keras.backend.backend()} backend)",
              "via": "ONNX (torch.onnx dynamo) -> zoo's ONNX->Keras 3 converter",
              "dynamic_batch": _has_dynamic_batch(proto)}
    report = _check(src, reference, keras_predictor(staged), source_info, target, atol=atol, rows=rows)
    report["sizes"] = {"bytes": staged.stat().st_size}
    return staged, report


def _stage_torchscript(src: ResolvedSource, stage: Path, reference: Predict, source_info: dict[str, Any], name: str, *,
                       atol: float | None, rows: int) -> tuple[Path, dict[str, Any]]:
    import numpy as np
    import torch

    from zoo.artifacts import config_document
    from zoo.runtime import torch_predictor

    assert src.artifact is not None
    names = [t.name for t in src.spec.inputs()]
    examples = src.spec.example_inputs(2)
    args = tuple(torch.from_numpy(np.ascontiguousarray(examples[n])) for n in names)
    staged = stage / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export; it still works
        try:
            traced = torch.jit.trace(src.artifact.model.cpu().eval(), args)
        except Exception as exc:
            raise ZooError(f"torch.jit.trace failed on {src.spec.name} ({first_line(exc)}); export to ONNX instead.") from exc
        torch.jit.save(traced, str(staged), _extra_files={"zoo.json": json.dumps(config_document(src.spec))})
        loaded = torch.jit.load(str(staged), map_location="cpu")
    target = {"file": name, "format": "torchscript", "runtime": f"torch {torch.__version__} (torch.jit, CPU)"}
    report = _check(src, reference, torch_predictor(loaded, names, device="cpu"), source_info, target, atol=atol, rows=rows)
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
    report = _check(src, reference, torch_predictor(module, [t.name for t in src.spec.inputs()], device="cpu"),
                    source_info, target, atol=atol, rows=rows)
    report["sizes"] = {"bytes": staged.stat().st_size}
    return publish(staged, final, report, "pytorch")


# -- helpers ----------------------------------------------------------------------------------------

def _check(src: ResolvedSource, reference: Predict, candidate: Predict, source_info: dict[str, Any],
           target: dict[str, Any], *, atol: float | None, rows: int) -> dict[str, Any]:
    from exporters.parity import check_parity

    report = check_parity(src.spec, reference, candidate, atol=atol, rows=rows, source=source_info, target=target)
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


@contextlib.contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """A hidden scratch folder inside ``out_dir`` (same file system, so the final rename is atomic)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".zoo-export-") as tmp:
        yield Path(tmp)


def describe_source(src: ResolvedSource) -> dict[str, Any]:
    """Where the reference came from, precisely enough for `zoo verify` to find and check it again."""
    from exporters.parity import sha256

    origin = src.origin or str(src.path)
    path = origin if origin.startswith("hf://") else str(Path(origin).expanduser().resolve())
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
    return [t.name for t in registry.create(stored["model"], stored.get("config") or {}).inputs()]


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
