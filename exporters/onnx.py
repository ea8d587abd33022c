"""PyTorch -> ONNX: dynamo export, checks, graph optimisation and self-describing metadata.

Every ONNX file zoo writes carries, in ``metadata_props``:

- ``zoo``: JSON of :func:`zoo.artifacts.config_document` (model name, zoo version, config, inputs,
  outputs, preprocessing, labels, task) -- enough to rebuild the model spec with
  ``zoo.registry.create(doc["model"], doc["config"])``;
- readable keys ``model``, ``zoo_version``, ``task``, ``input_layout``, ``preprocessing``, ``labels``,
  ``output_meaning``;
- ``parity``: the parity report JSON (added by :mod:`exporters.export` once the file passed).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from zoo import io as zio
from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    import onnx
    from torch import nn

    from zoo.artifacts import Artifact
    from zoo.registry import TensorSpec, ZooModel

META_DOCUMENT = "zoo"
META_PARITY = "parity"
# Opset the exporter targets when none is asked for; 18+ is what the dynamo exporter emits natively.
DEFAULT_OPSET = 20

# torch's dynamo exporter emits opset 18 natively (lower opsets go through a lossy version converter that
# may leave the graph at 18); the top is the newest opset both torch and the installed onnx know.
MIN_OPSET = 18


def max_opset() -> int:
    import onnx.defs
    from torch.onnx import _constants

    return min(int(getattr(_constants, "ONNX_MAX_OPSET", DEFAULT_OPSET)), onnx.defs.onnx_opset_version())


def check_opset(opset: int | None) -> int | None:
    """``--opset`` within what torch's exporter writes, before any work (never silently another opset)."""
    if opset is None:
        return None
    top = max_opset()
    if isinstance(opset, bool) or not MIN_OPSET <= int(opset) <= top:
        raise ZooError(f"--opset {opset} is not supported: torch's ONNX exporter writes opsets {MIN_OPSET} to {top}; "
                       f"pick one in that range (default {DEFAULT_OPSET}).")
    return int(opset)


ModelSource = Union["Artifact", tuple["ZooModel", "nn.Module"]]


def export_onnx(source: ModelSource, path: str | Path, *, opset: int | None = None, dynamic_batch: bool = True,
                optimize: bool = True, metadata: dict[str, str] | None = None) -> Path:
    """Export a zoo model to ONNX at ``path`` (atomically) and return the path.

    ``source`` is an :class:`~zoo.artifacts.Artifact` or a ``(spec, nn.Module)`` pair. Inputs and
    outputs keep the names of ``spec.inputs()/outputs()``; with ``dynamic_batch`` every ``"batch"``
    axis stays symbolic, else the graph is fixed to batch 1. The graph is checked
    (``onnx.checker`` full check), optimised (onnxscript optimizer, then onnxruntime's portable
    "basic" offline optimisation: constant folding, Conv+BatchNorm fusion) and stamped with the
    zoo metadata (see module docstring) plus ``metadata``. No parity check here: see
    :func:`exporters.export.export` for the verified path.
    """
    spec, model = _spec_and_model(source)
    proto = build_onnx(spec, model, opset=opset, dynamic_batch=dynamic_batch, optimize=optimize)
    proto = set_metadata(proto, {**zoo_metadata(spec), **(metadata or {})})
    return write_onnx(proto, path)


def build_onnx(spec: ZooModel, model: nn.Module, *, opset: int | None = None, dynamic_batch: bool = True,
               optimize: bool = True) -> onnx.ModelProto:
    """The checked (and optionally optimised) ONNX graph of ``model``, without zoo metadata."""
    import numpy as np
    import torch

    inputs, outputs = spec.inputs(), spec.outputs()
    # Real inputs; 2 rows so torch.export does not specialise the batch axis to the constant 1.
    examples = spec.example_inputs(2 if dynamic_batch else 1)
    missing = [t.name for t in inputs if t.name not in examples]
    if missing:
        raise ZooError(f"{spec.name}.example_inputs() lacks input(s) {missing}; it must return every input of inputs().")
    args = tuple(torch.from_numpy(np.ascontiguousarray(examples[t.name])) for t in inputs)
    dynamic_shapes = None
    if dynamic_batch:
        dims = {name: torch.export.Dim(name, min=1) for t in inputs for name in t.shape if isinstance(name, str)}
        dynamic_shapes = tuple({i: dims[d] for i, d in enumerate(t.shape) if isinstance(d, str)} or None
                               for t in inputs)
    model = model.cpu().eval()
    _forget_rnn_kernels()
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            # Every input shares the one "batch" Dim, which torch reports as a renaming it skips.
            warnings.filterwarnings("ignore", message=r".*axis name: .* will not be used")
            program = torch.onnx.export(
                model, args, dynamo=True, input_names=[t.name for t in inputs], output_names=[t.name for t in outputs],
                opset_version=opset or DEFAULT_OPSET, dynamic_shapes=dynamic_shapes, optimize=optimize,
                external_data=False, verbose=False, report=False)
    except Exception as exc:  # torch.export / onnx translation errors come in many classes
        raise ZooError(f"PyTorch could not export {spec.name} to ONNX ({first_line(exc)}); "
                       "the model's forward must be traceable by torch.export.") from exc
    proto = program.model_proto
    if dynamic_batch:
        declare_dynamic_axes(proto, inputs, outputs)
    written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is not None and written != opset:
        raise ZooError(f"torch exported {spec.name} at opset {written}, not the --opset {opset} asked for; "
                       f"use --opset {written} or leave it out.")
    if optimize:
        proto = optimize_with_onnxruntime(proto)
    check_model(proto, what=f"the exported {spec.name} graph")
    return proto


def _forget_rnn_kernels() -> None:
    """Clear the dispatch caches of the aten RNN ops before an export.

    torch.onnx exports LSTM/GRU with a dynamic time axis by swapping in a while_loop kernel for
    ``aten.lstm.input``/``aten.gru.input`` (``torch.export._patches``) while it traces. It changes the op's
    ``py_kernels`` but not the op's dispatch cache, so once the eager kernel was cached (by any LSTM/GRU
    call or an earlier export in this process) the swap is ignored: the second export of a recurrent
    model in one process silently froze the time axis at the example's length (torch 2.14). Seen as a
    Keras/ONNX file that fails at another sequence length; tested in tests/test_sequence.py."""
    import torch

    for name in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        packet = getattr(torch.ops.aten, name, None)
        overload = getattr(packet, "input", None) if packet is not None else None
        cache = getattr(overload, "_dispatch_cache", None)
        if isinstance(cache, dict):
            cache.clear()


def declare_dynamic_axes(proto: onnx.ModelProto, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
    """Name every dynamic axis of the graph's inputs and outputs as the TensorSpecs do, in place.

    The dynamo exporter can declare an axis it was told is dynamic with the export example's size (torch
    2.14 types the sequence output of ``nn.LSTM``/``nn.GRU`` as ``[batch, 5, hidden]`` for a length-5
    example), which makes onnxruntime warn and consumers believe the axis is fixed. Whether the graph really
    computes at other sizes is then up to the parity check at ``ExportSpec.axis_sizes``.
    """
    specs = {t.name: t for t in (*inputs, *outputs)}
    for value in (*proto.graph.input, *proto.graph.output):
        spec = specs.get(value.name)
        if spec is None or not value.type.HasField("tensor_type"):
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(spec.shape):
            continue
        for dim, declared in zip(dims, spec.shape):
            if isinstance(declared, str) and dim.dim_param != declared:
                dim.Clear()
                dim.dim_param = declared


def optimize_with_onnxruntime(proto: onnx.ModelProto) -> onnx.ModelProto:
    """onnxruntime's offline graph optimisation at the portable "basic" level.

    Only "basic" rewrites (constant folding, redundant nodes, Conv+BatchNorm/Add/Mul fusions) keep
    the graph in standard ONNX ops; higher levels emit com.microsoft ops that other runtimes (and
    our Keras converter) do not know, and tie the file to one execution provider.
    """
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="zoo-ortopt-") as tmp:
        target = Path(tmp) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(target)
        options.log_severity_level = 3
        ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        optimized = onnx.load(str(target))
    _tidy(optimized)
    optimized.metadata_props.extend(proto.metadata_props)
    optimized.producer_name, optimized.producer_version = proto.producer_name, proto.producer_version
    return optimized


def _tidy(proto: onnx.ModelProto) -> None:
    """Drop what onnxruntime's optimiser leaves behind: value_info of removed values (stale shapes break
    later shape inference, e.g. in quantisation) and opset imports of every domain it knows."""
    import onnx

    used_domains = {n.domain for n in proto.graph.node} | {""}
    kept = [o for o in proto.opset_import if o.domain in used_domains or (o.domain == "ai.onnx" and "" in used_domains)]
    del proto.opset_import[:]
    proto.opset_import.extend(kept)
    del proto.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    proto.graph.value_info.extend(inferred.graph.value_info)


def check_model(proto: onnx.ModelProto, *, what: str = "the ONNX model") -> None:
    """``onnx.checker`` with full shape/type checking; failures become a ZooError."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ZooError(f"{what} is not valid ONNX ({first_line(exc)}); the file is corrupt or was written by a broken exporter.") from None


def zoo_metadata(spec: ZooModel) -> dict[str, str]:
    """The self-describing metadata_props of a zoo ONNX file (without ``parity``)."""
    from zoo import __version__
    from zoo.artifacts import config_document

    pre = spec.preprocessing()
    layout = f" ({pre.layout})" if pre.layout else ""
    return {
        META_DOCUMENT: json.dumps(config_document(spec)),
        "model": spec.name,
        "zoo_version": __version__,
        "task": spec.task,
        "input_layout": "; ".join(f"{t.name}: {t.dtype}[{', '.join(map(str, t.shape))}]{layout}" for t in spec.inputs()),
        "preprocessing": json.dumps(pre.to_dict()),
        "labels": json.dumps(spec.labels()),
        "output_meaning": "; ".join(f"{t.name}: {t.meaning or 'value'}[{', '.join(map(str, t.shape))}]"
                                    f"{' - ' + t.description if t.description else ''}" for t in spec.outputs()),
    }


def set_metadata(proto: onnx.ModelProto, values: dict[str, str]) -> onnx.ModelProto:
    """``proto`` with ``values`` in its metadata_props (existing keys replaced, others kept), in place."""
    current = {p.key: p.value for p in proto.metadata_props}
    current.update({k: str(v) for k, v in values.items()})
    del proto.metadata_props[:]
    for key, value in current.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto


def read_metadata(source: str | Path | onnx.ModelProto) -> dict[str, str]:
    """metadata_props of an ONNX file or proto as a dict."""
    proto = load_onnx(source, check=False) if isinstance(source, (str, Path)) else source
    return {p.key: p.value for p in proto.metadata_props}


def zoo_document(source: str | Path | onnx.ModelProto) -> dict[str, Any]:
    """The parsed ``zoo`` metadata document; ZooError if the file was not written by zoo."""
    meta = read_metadata(source)
    where = source if isinstance(source, (str, Path)) else "the ONNX model"
    if META_DOCUMENT not in meta:
        raise ZooError(f"{where} has no zoo metadata (metadata_props key 'zoo'); export it with `zoo export`, "
                       "or pass the run directory it came from with --source.")
    doc = zio.parse_json_object(meta[META_DOCUMENT], f"the zoo metadata in {where}", "re-export the model")
    if "model" not in doc or not isinstance(doc.get("config"), dict):
        raise ZooError(f"the zoo metadata in {where} lacks 'model'/'config'; re-export the model with `zoo export`.")
    return doc


def parity_metadata(source: str | Path | onnx.ModelProto) -> dict[str, Any] | None:
    """The parity report stored in the file, if any."""
    meta = read_metadata(source)
    if META_PARITY not in meta:
        return None
    where = source if isinstance(source, (str, Path)) else "the ONNX model"
    return zio.parse_json_object(meta[META_PARITY], f"the parity metadata in {where}",
                                 "re-export the file, or pass its source with --source")


def load_onnx(path: str | Path, *, check: bool = True) -> onnx.ModelProto:
    """Read an ONNX file; a missing, truncated or corrupt file is a one-line ZooError."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"{path} does not exist; pass an .onnx file written by `zoo export`.")
    try:
        proto = onnx.load(str(path))
    except onnx.checker.ValidationError as exc:  # e.g. external data pointing outside the file's folder
        raise ZooError(f"{path} is refused by onnx ({first_line(exc, 200)}); zoo reads only self-contained ONNX files, "
                       "re-export it with the weights inside.") from None
    except (DecodeError, ValueError, OSError, RuntimeError) as exc:
        raise ZooError(f"{path} is not a readable ONNX file ({first_line(exc)}); it is truncated or corrupt, re-export or re-download it.") from None
    if not proto.graph.node and not proto.graph.output:
        raise ZooError(f"{path} holds no ONNX graph; it is truncated or not an ONNX file, re-export or re-download it.")
    if check:
        check_model(proto, what=str(path))
    return proto


def write_onnx(proto: onnx.ModelProto, path: str | Path) -> Path:
    """Save ``proto`` (weights inside the file) atomically."""
    import onnx

    path = Path(path)
    with zio.atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
    return path


def graph_io(proto: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """(input names, output names) of the graph, initializers excluded."""
    initializers = {i.name for i in proto.graph.initializer}
    return [i.name for i in proto.graph.input if i.name not in initializers], [o.name for o in proto.graph.output]


def _spec_and_model(source: ModelSource) -> tuple[ZooModel, nn.Module]:
    if isinstance(source, tuple):
        spec, model = source
        return spec, model
    return source.spec, source.model
