"""Convert an ONNX model (as exported by ``torch.onnx.export(..., dynamo=True)``) to Keras 3.

Our own converter because pytorch2keras, onnx2keras and onnx2tf fail on current stacks.
It emits a functional model of built-in Keras layers (with their weights) and
``keras.ops`` calls only, so the ``.keras`` file loads with plain
``keras.saving.load_model(path)``, no zoo code and default ``safe_mode``.

The Keras model takes and returns arrays in the ONNX layout (NCHW stays NCHW), with the
same input/output names and order; channels-last is used internally only. The op
mappings live in :mod:`exporters.keras_ops` (``OP_CONVERTERS``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# zoo runs Keras on the torch backend; Keras reads this once, at its first import.
os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import onnx
from keras import layers
from onnx import numpy_helper

from exporters.keras_ops import (
    OP_CONVERTERS,
    Builder,
    NodeContext,
    Tensor,
    UnsupportedOpError,
    Value,
    fold_constants,
    identity_perm,
    sanitize_name,
)
from exporters.keras_ops.dtypes import KERAS_DTYPES, float_policy, keep_dtype
from zoo.errors import ZooError, first_line

__all__ = ["UnsupportedOpError", "onnx_to_keras", "save_keras"]

_DEFAULT_DOMAINS = ("", "ai.onnx")


def onnx_to_keras(onnx_model: onnx.ModelProto | str | Path) -> keras.Model:
    """Build a Keras functional model computing the same function as ``onnx_model``."""
    model = _prepare(onnx_model)
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS), 1)
    initializer_names = {init.name for init in graph.initializer}
    graph_inputs = [vi for vi in graph.input if vi.name not in initializer_names]
    io_names = {sanitize_name(vi.name) for vi in (*graph_inputs, *graph.output)}
    builder = Builder(opset=opset, used_outputs=_used_values(graph), taken_names=set(io_names))

    env: dict[str, Value] = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    keras_inputs = []
    for vi in graph_inputs:
        x = _make_input(vi, graph)
        keras_inputs.append(x)
        env[vi.name] = Tensor(x, identity_perm(len(x.shape)))

    expected_shapes = _inferred_shapes(graph)
    expected_dtypes = _inferred_dtypes(graph)
    for node in _live_nodes(graph):
        _convert_node(node, env, builder, expected_shapes, expected_dtypes)

    input_names = {sanitize_name(vi.name) for vi in graph_inputs}
    keras_outputs = [_make_output(vi.name, env, builder, input_names, keras_inputs) for vi in graph.output]
    _rename_ops_shadowing(keras_outputs, reserved=io_names)
    return keras.Model(
        inputs=keras_inputs[0] if len(keras_inputs) == 1 else keras_inputs,
        outputs=keras_outputs[0] if len(keras_outputs) == 1 else keras_outputs,
        name=sanitize_name(graph.name or "onnx_model"),
    )


def save_keras(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` to ``path`` (a ``.keras`` file) atomically; never leaves a partial file."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ZooError(f"Keras model path must end in '.keras', got '{path}'; rename the target file.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.keras")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        model.save(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- graph preparation


def _prepare(onnx_model: onnx.ModelProto | str | Path) -> onnx.ModelProto:
    if isinstance(onnx_model, (str, Path)):
        model = onnx.load(str(onnx_model))
    else:
        model = onnx.ModelProto()
        model.CopyFrom(onnx_model)
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except (onnx.shape_inference.InferenceError, ValueError):
        pass  # shapes are only used to cross-check the conversion
    return model


def _used_values(graph: onnx.GraphProto) -> set[str]:
    used = {o.name for o in graph.output}
    for node in graph.node:
        used.update(name for name in node.input if name)
    return used


def _live_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Nodes the graph outputs depend on, in the graph's (topological) order."""
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output if name}
    live: set[int] = set()
    stack = [o.name for o in graph.output]
    while stack:
        i = producer.get(stack.pop())
        if i is None or i in live:
            continue
        live.add(i)
        stack.extend(name for name in graph.node[i].input if name)
    return [node for i, node in enumerate(graph.node) if i in live]


def _dims(vi: onnx.ValueInfoProto) -> list[int | None] | None:
    tensor_type = vi.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]


def _inferred_shapes(graph: onnx.GraphProto) -> dict[str, list[int | None]]:
    shapes = {}
    for vi in (*graph.value_info, *graph.output):
        dims = _dims(vi)
        if dims is not None:
            shapes[vi.name] = dims
    return shapes


def _inferred_dtypes(graph: onnx.GraphProto) -> dict[str, np.dtype]:
    """ONNX element type of every value shape inference typed (outputs keep exactly this dtype)."""
    dtypes = {}
    for vi in (*graph.value_info, *graph.output):
        elem_type = vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0
        if elem_type:
            dtypes[vi.name] = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    return dtypes


def _make_input(vi: onnx.ValueInfoProto, graph: onnx.GraphProto) -> Any:
    dims = _dims(vi)
    consumer = next((n for n in graph.node if vi.name in n.input), None)
    where = f"ONNX op '{consumer.op_type}' (node '{consumer.name or consumer.output[0]}'): " if consumer else ""
    if not dims:
        raise UnsupportedOpError(
            f"{where}graph input '{vi.name}' has no known rank or no batch dimension; "
            "export with a batched input of known rank."
        )
    dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
    if np.dtype(dtype).name not in KERAS_DTYPES:
        raise UnsupportedOpError(
            f"{where}graph input '{vi.name}' has dtype {np.dtype(dtype).name}, which Keras on the torch backend "
            "cannot compute with; cast it to a supported type before export."
        )
    # A dynamic ONNX batch stays dynamic; a graph exported for a fixed batch keeps it fixed, like ONNX.
    return keras.Input(batch_shape=tuple(dims), name=sanitize_name(vi.name), dtype=np.dtype(dtype).name)


# --------------------------------------------------------------------------- node conversion


def _convert_node(
    node: onnx.NodeProto,
    env: dict[str, Value],
    builder: Builder,
    expected_shapes: dict[str, list[int | None]],
    expected_dtypes: dict[str, np.dtype] | None = None,
) -> None:
    node_name = node.name or next((o for o in node.output if o), node.op_type)
    if node.domain not in _DEFAULT_DOMAINS:
        raise _no_mapping(f"{node.domain}::{node.op_type}", node_name)
    missing = [name for name in node.input if name and name not in env]
    if missing:
        raise ZooError(f"ONNX node '{node_name}' reads undefined value(s) {missing}; the ONNX graph is malformed.")
    ctx = NodeContext(node, [env[name] if name else None for name in node.input], builder)
    try:
        outputs = fold_constants(ctx)
    except UnsupportedOpError:
        raise
    except Exception as error:  # the reference evaluator lacks the op or rejects it
        raise _no_mapping(node.op_type, node_name, f"constant folding failed: {error}") from error
    if outputs is None:
        converter = OP_CONVERTERS.get(node.op_type)
        if converter is None:
            raise _no_mapping(node.op_type, node_name)
        try:
            with float_policy(ctx):
                result = converter(ctx)
        except ValueError as error:  # Keras rejected a layer configuration
            raise ctx.error(f"could not be converted: {first_line(error)}") from error
        outputs = result if isinstance(result, list) else [result]
    for i, name in enumerate(node.output):
        value = outputs[i] if i < len(outputs) else None
        if not name:
            continue
        if value is None:
            if name in builder.used_outputs:
                raise ctx.error(f"output {i} ('{name}') is used but not supported")
            continue
        _check_shape(ctx, name, value, expected_shapes.get(name))
        builder.producers[name] = (node.op_type, node_name)
        env[name] = keep_dtype(ctx, value, (expected_dtypes or {}).get(name))


def _no_mapping(op_type: str, node_name: str, detail: str = "") -> UnsupportedOpError:
    hint = f" ({detail})" if detail else ""
    return UnsupportedOpError(
        f"ONNX op '{op_type}' (node '{node_name}') has no Keras mapping yet{hint}; "
        "change the model to avoid it, or add a converter in the exporters/keras_ops/ module of its op family."
    )


def _check_shape(ctx: NodeContext, name: str, value: Value, expected: list[int | None] | None) -> None:
    """Cross-check against ONNX shape inference so layout mistakes fail loudly, not silently."""
    if expected is None:
        return
    actual = list(value.onnx_shape) if isinstance(value, Tensor) else list(np.shape(value))
    if len(actual) != len(expected) or any(
        a is not None and e is not None and e != 0 and a != e for a, e in zip(actual, expected)
    ):
        raise ZooError(
            f"Keras conversion of ONNX node '{ctx.node_name}' ({ctx.op_type}) produced shape {tuple(actual)} "
            f"for '{name}', but ONNX expects {tuple(expected)}; this is a converter bug, please report it."
        )


# --------------------------------------------------------------------------- outputs and naming


def _make_output(
    name: str, env: dict[str, Value], builder: Builder, input_names: set[str], keras_inputs: list[Any]
) -> Any:
    value = env.get(name)
    if not isinstance(value, Tensor):
        value = _constant_output(name, value, builder, keras_inputs)
    value = builder.to_perm(value, identity_perm(value.rank), sanitize_name(name))
    layer_name = sanitize_name(name)
    if layer_name in input_names:  # a pass-through output cannot share its input's layer name
        layer_name = builder.unique_name(layer_name)
    dtype = str(value.value.dtype)
    # A layer's dtype policy casts floating inputs; give the output layer the tensor's own float dtype.
    kwargs = {"dtype": dtype} if dtype.startswith("float") else {}
    return layers.Identity(name=layer_name, **kwargs)(value.value)


def _constant_output(name: str, value: Value | None, builder: Builder, keras_inputs: list[Any]) -> Tensor:
    """A graph output known at conversion time (e.g. the Shape of a static input) as a Keras tensor.

    A functional model's outputs must depend on its inputs, so the constant is added to a zero
    computed from the first input (``sum(zeros_like(x))``, which is 0 even for NaN or inf inputs).
    """
    op_type, node_name = builder.producers.get(name, ("Constant", name))
    constant = value if isinstance(value, np.ndarray) else None
    if constant is None or constant.dtype == object or not keras_inputs or constant.dtype.name not in KERAS_DTYPES:
        why = "depends on runtime dimensions" if constant is not None and constant.dtype == object else (
            "has no graph input to hang on" if not keras_inputs else "has a type Keras cannot hold")
        raise UnsupportedOpError(
            f"ONNX op '{op_type}' (node '{node_name}'): its output '{name}' is a constant graph output that {why}; "
            "drop that output before export."
        )
    from keras import ops

    zero = ops.cast(ops.sum(ops.zeros_like(ops.cast(keras_inputs[0], "float32"))), constant.dtype.name)
    if constant.dtype == np.bool_:
        y = ops.logical_or(ops.cast(zero, "bool"), constant)
    else:
        y = ops.add(zero, constant)
    return Tensor(y, identity_perm(constant.ndim))


def _operations(outputs: Iterable[Any]) -> list[Any]:
    """All Keras operations upstream of ``outputs`` (walks the functional graph history)."""
    seen: dict[int, Any] = {}
    stack = list(outputs)
    while stack:
        tensor = stack.pop()
        operation, node_index, _ = tensor._keras_history
        if id(operation) in seen:
            continue
        seen[id(operation)] = operation
        stack.extend(operation._inbound_nodes[node_index].input_tensors)
    return list(seen.values())


def _rename_ops_shadowing(outputs: list[Any], reserved: set[str]) -> None:
    """Make operation names unique while keeping the ONNX input/output names on the I/O layers.

    Layers get unique names from the Builder, but keras.ops calls are auto-named ('add',
    'sqrt', ...) and may clash with those or with ONNX I/O names; rename the keras.ops
    operations (they carry no weights).
    """
    operations = _operations(outputs)
    layer_names = {op.name for op in operations if isinstance(op, layers.Layer)}
    taken = set(layer_names) | reserved
    for op in operations:
        if isinstance(op, layers.Layer):
            continue
        if op.name in taken:
            i = 1
            while f"{op.name}_{i}" in taken:
                i += 1
            op.name = f"{op.name}_{i}"
        taken.add(op.name)
