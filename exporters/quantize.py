"""Smaller ONNX files: float16 weights, int8 dynamic and int8 static (calibrated) quantisation.

All three keep the source's inputs and outputs in float32 and carry its zoo metadata over, so a
quantised file is as self-describing as its source. Parity of a quantised file is judged by the
task metric (see :mod:`exporters.parity`), not by tensor error alone.

Why the graph is rewritten before int8 quantisation: torch exports ``nn.Linear`` as ``Gemm``
(``transB=1``). onnxruntime's *dynamic* quantiser only has integer kernels for ``MatMul`` and
``Conv`` (``MatMulInteger``/``ConvInteger``); for ``Gemm`` it either leaves the weights in float32
or, in onnxruntime 1.31, emits a ``MatMulInteger`` with the untransposed weight that does not load.
:func:`gemm_to_matmul` turns each constant-weight ``Gemm`` into ``MatMul`` (pre-transposed weight)
+ ``Add`` first, so dense weights -- most of the bytes in our models -- are quantised too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    import onnx

    from zoo.registry import ZooModel

# Op types quantised by default: every op that holds weights in our graphs. onnxruntime's dynamic
# quantiser has an integer kernel for LSTM (com.microsoft DynamicQuantizeLSTM) but none for GRU/RNN:
# their weights are stored as int8 + DequantizeLinear (weight-only, see int8_recurrent_weights).
WEIGHT_ONLY_OP_TYPES = ("GRU", "RNN")
DYNAMIC_OP_TYPES = ("MatMul", "Conv", "LSTM", *WEIGHT_ONLY_OP_TYPES)
STATIC_OP_TYPES = ("MatMul", "Conv", "Gemm")


def to_fp16(source: str | Path | onnx.ModelProto, target: str | Path) -> Path:
    """float16 weights and compute, float32 inputs/outputs (casts inserted at the graph edges).

    Uses onnxruntime's ``onnxruntime.transformers.float16`` converter (onnxconverter-common's
    algorithm, shipped inside onnxruntime) with ``keep_io_types=True``.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = _load(source)
    try:
        half = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=False)
    except Exception as exc:  # the converter raises plain Exceptions on graphs it cannot type
        raise ZooError(f"float16 conversion failed ({first_line(exc)}); export the fp32 model only.") from exc
    return _save(topologically_sorted(half), target, proto)


def quantize_dynamic(source: str | Path | onnx.ModelProto, target: str | Path, *, per_channel: bool = False,
                     op_types: tuple[str, ...] = DYNAMIC_OP_TYPES) -> Path:
    """int8 weights, activations quantised on the fly (``onnxruntime.quantization.quantize_dynamic``).

    Dense layers are rewritten to MatMul first (see module docstring). Weights are signed int8,
    activations uint8 (onnxruntime's CPU ``ConvInteger``/``MatMulInteger``/``DynamicQuantizeLSTM``
    kernels). GRU and RNN weights, which onnxruntime cannot quantise, are stored as int8 and
    dequantised when the session loads (:func:`int8_recurrent_weights`).
    """
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    proto = _load(source)
    prepared = unshare_weights(gemm_to_matmul(proto), ("LSTM",))
    with tempfile.TemporaryDirectory(prefix="zoo-quant-") as tmp:
        out = Path(tmp) / "int8.onnx"
        try:
            ort_quantize_dynamic(prepared, out, op_types_to_quantize=[t for t in op_types if t not in WEIGHT_ONLY_OP_TYPES],
                                 per_channel=per_channel,
                                 weight_type=QuantType.QInt8,
                                 extra_options={"DefaultTensorType": _float_type()})
        except Exception as exc:  # onnxruntime.quantization raises assorted errors on odd graphs
            raise ZooError(f"int8 dynamic quantisation failed ({first_line(exc)}); export without --quantize.") from exc
        quantized = _load(out)
        weight_only = tuple(t for t in op_types if t in WEIGHT_ONLY_OP_TYPES)
        return _save(deduplicate_initializers(int8_recurrent_weights(quantized, weight_only)), target, proto)


def unshare_weights(proto: onnx.ModelProto, op_types: tuple[str, ...]) -> onnx.ModelProto:
    """``proto`` where no two ``op_types`` nodes read the same initialiser, in place: the second and later
    readers get their own copy (``NAME__shared1``, ...).

    Why: a siamese model runs one LSTM on two inputs, so its graph has two LSTM nodes reading the same
    W/R. onnxruntime's dynamic LSTM quantiser (1.2x) caches the quantised weight by name and then
    transposes it once *per node*, in place: the second node transposes the shared int8 weight back and
    scrambles it (measured: test accuracy 0.996 -> 0.62 on siamese-lstm). With one copy per node each
    weight is transposed once; :func:`deduplicate_initializers` merges the identical int8 copies again.
    """
    graph = proto.graph
    weights = {init.name: init for init in graph.initializer}
    seen: dict[str, int] = {}
    for node in graph.node:
        if node.op_type not in op_types or node.domain not in ("", "ai.onnx"):
            continue
        for i, name in enumerate(node.input):
            if name not in weights:
                continue
            seen[name] = seen.get(name, 0) + 1
            if seen[name] == 1:
                continue
            copy = type(weights[name])()
            copy.CopyFrom(weights[name])
            copy.name = f"{name}__shared{seen[name] - 1}"
            graph.initializer.append(copy)
            node.input[i] = copy.name
    return proto


def deduplicate_initializers(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` with byte-identical initialisers (same type, shape and data) stored once, in place; every
    reader of a duplicate reads the first copy. Undoes :func:`unshare_weights` after quantisation."""
    import hashlib

    graph = proto.graph
    if any(a.type in (a.GRAPH, a.GRAPHS) for node in graph.node for a in node.attribute):
        return proto  # subgraphs may read initialisers by name too; leave such graphs alone
    first: dict[tuple[int, tuple[int, ...], str], str] = {}
    rename: dict[str, str] = {}
    pinned = {o.name for o in graph.output} | {i.name for i in graph.input}  # an input may override its initialiser
    for init in graph.initializer:
        if init.name in pinned:
            continue
        unnamed = type(init)()
        unnamed.CopyFrom(init)
        unnamed.name = ""
        key = (init.data_type, tuple(init.dims), hashlib.sha256(unnamed.SerializeToString(deterministic=True)).hexdigest())
        if key in first:
            rename[init.name] = first[key]
        else:
            first[key] = init.name
    if not rename:
        return proto
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    kept = [init for init in graph.initializer if init.name not in rename]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return proto


def int8_recurrent_weights(proto: onnx.ModelProto, op_types: tuple[str, ...] = WEIGHT_ONLY_OP_TYPES) -> onnx.ModelProto:
    """``proto`` with the constant W and R weights of its ``op_types`` nodes stored as int8, in place.

    Symmetric int8 with one scale per gate row (``DequantizeLinear`` along axis 1 of ``[directions,
    gates*hidden, inputs]``); the recurrent op itself keeps computing in float32. Used for GRU/RNN, which
    have no integer kernel in onnxruntime: the file's weights are 4x smaller, the arithmetic unchanged.
    """
    from onnx import helper, numpy_helper

    graph = proto.graph
    weights = {init.name: init for init in graph.initializer}
    converted: dict[str, str] = {}
    dequantize = []
    for node in graph.node:
        if node.op_type not in op_types or node.domain not in ("", "ai.onnx"):
            continue
        for i in (1, 2):  # W, R
            name = node.input[i] if i < len(node.input) else ""
            if name not in weights or weights[name].data_type != _float_type():
                continue
            if name not in converted:
                value = numpy_helper.to_array(weights[name]).astype(np.float32)
                scale = np.abs(value).max(axis=(0, 2)) / 127.0
                scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
                q = np.clip(np.round(value / scale[None, :, None]), -127, 127).astype(np.int8)
                converted[name] = f"{name}__dequantized"
                graph.initializer.extend([numpy_helper.from_array(q, f"{name}__int8"),
                                          numpy_helper.from_array(scale, f"{name}__scale"),
                                          numpy_helper.from_array(np.zeros_like(scale, np.int8), f"{name}__zero_point")])
                dequantize.append(helper.make_node("DequantizeLinear", [f"{name}__int8", f"{name}__scale",
                                                                        f"{name}__zero_point"], [converted[name]],
                                                   name=f"{name}_DequantizeLinear", axis=1))
            node.input[i] = converted[name]
    if not converted:
        return proto
    nodes = dequantize + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [init for init in graph.initializer if init.name in used]  # the float32 W/R are dropped
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return proto


def quantize_static(source: str | Path | onnx.ModelProto, target: str | Path,
                    calibration: dict[str, np.ndarray], *, per_channel: bool = True, batch: int = 16,
                    op_types: tuple[str, ...] = STATIC_OP_TYPES) -> Path:
    """int8 weights and activations in QDQ format, activation ranges calibrated (MinMax) on ``calibration``.

    ``calibration`` holds real training-split inputs (``calibration_inputs(spec, n)``), fed in
    batches of ``batch`` rows.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    proto = _load(source)
    if not calibration or not len(next(iter(calibration.values()))):
        raise ZooError("int8 static quantisation needs calibration inputs; the data set returned none.")
    prepared = gemm_to_matmul(proto)
    with tempfile.TemporaryDirectory(prefix="zoo-quant-") as tmp:
        out = Path(tmp) / "int8.onnx"
        try:
            ort_quantize_static(prepared, out, _CalibrationReader(calibration, batch), quant_format=QuantFormat.QDQ,
                                op_types_to_quantize=list(op_types), per_channel=per_channel,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax,
                                extra_options={"DefaultTensorType": _float_type()})
        except ZooError:
            raise
        except Exception as exc:
            raise ZooError(f"int8 static quantisation failed ({first_line(exc)}); try --quantize dynamic.") from exc
        return _save(_load(out), target, proto)


def calibration_inputs(spec: ZooModel, n: int = 128) -> dict[str, np.ndarray]:
    """``n`` real training-split inputs for static calibration (never the held-out split)."""
    return spec.example_inputs(n, split="train")


def gemm_to_matmul(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` where every ``Gemm`` with a constant weight is ``MatMul`` (+ ``Add`` for the bias).

    Only the form torch emits for ``nn.Linear`` is rewritten (alpha = beta = 1, ``transA = 0``);
    other Gemms stay as they are.
    """
    import onnx
    from onnx import helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    weights = {init.name: init for init in graph.initializer}
    transposed: dict[str, str] = {}
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        rewritable = (node.op_type == "Gemm" and node.domain in ("", "ai.onnx") and len(node.input) >= 2
                      and node.input[1] in weights and attrs.get("transA", 0) == 0
                      and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0)
        if not rewritable:
            nodes.append(node)
            continue
        weight_name = node.input[1]
        if attrs.get("transB", 0):
            if weight_name not in transposed:
                matrix = np.ascontiguousarray(numpy_helper.to_array(weights[weight_name]).T)
                transposed[weight_name] = f"{weight_name}__transposed"
                graph.initializer.append(numpy_helper.from_array(matrix, transposed[weight_name]))
            weight_name = transposed[weight_name]
        has_bias = len(node.input) > 2 and bool(node.input[2])
        product = f"{node.output[0]}__matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], weight_name], [product], name=f"{node.name or product}_MatMul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name or product}_Add"))
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.value_info[:]
    return onnx.shape_inference.infer_shapes(out, strict_mode=True)


def topologically_sorted(proto: onnx.ModelProto) -> onnx.ModelProto:
    """``proto`` with its nodes in dependency order, in place (the float16 converter appends its
    input casts at the end of the node list, which ``onnx.checker`` rejects)."""
    graph = proto.graph
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise ZooError("the ONNX graph has a cycle or reads undefined values; re-export the model.")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
    return proto


def file_size(path: str | Path) -> int:
    return Path(path).stat().st_size


class _CalibrationReader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over in-memory batches."""

    def __init__(self, inputs: dict[str, np.ndarray], batch: int) -> None:
        self._batches = self._split(inputs, batch)

    @staticmethod
    def _split(inputs: dict[str, np.ndarray], batch: int) -> Iterator[dict[str, np.ndarray]]:
        n = len(next(iter(inputs.values())))
        for start in range(0, n, batch):
            yield {k: np.ascontiguousarray(v[start:start + batch]) for k, v in inputs.items()}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _load(source: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(source, (str, Path)):
        from exporters.onnx import load_onnx

        return load_onnx(source, check=False)
    return source


def _save(proto: onnx.ModelProto, target: str | Path, source: onnx.ModelProto) -> Path:
    from exporters.onnx import check_model, set_metadata, write_onnx

    set_metadata(proto, {p.key: p.value for p in source.metadata_props})
    check_model(proto, what="the quantised model")
    return write_onnx(proto, target)


def _float_type() -> int:
    from onnx import TensorProto

    return TensorProto.FLOAT
