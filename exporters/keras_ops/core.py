"""Core of the ONNX -> Keras converter: value tracking, the builder, node context, shared helpers.

Every ONNX tensor is tracked as either a constant (``np.ndarray``; ``dtype=object``
when it is a shape vector holding symbolic dimensions such as the batch size) or a
:class:`Tensor`: a Keras symbolic tensor plus ``perm``, the permutation such that
``keras_value == onnx_value.transpose(perm)``.  Conv/pool layers want channels-last
data, so they move their input to ``(0, 2, ..., 1)``; layout-agnostic ops keep
whatever layout they get, ONNX ``Transpose`` only rewrites ``perm``, and
layout-sensitive ops (Reshape, Flatten, MatMul, ...) first go back to ONNX layout.
Nothing is permuted until a consumer needs it.

Only built-in Keras layers and ``keras.ops`` calls are emitted: Keras 3 functional
models record ``keras.ops`` calls as ``Operation`` nodes and serialise them by
class (``keras.src.ops.numpy.Absolute`` ...), so the saved ``.keras`` file loads
without any zoo code and with ``safe_mode=True``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# zoo runs Keras on the torch backend; Keras reads this once, at its first import.
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import onnx
from keras import layers, ops

from zoo.errors import ZooError

_FLOAT32_LOWEST = float(np.finfo(np.float32).min)


class UnsupportedOpError(ZooError):
    """The ONNX graph uses an op (or an attribute value) the Keras converter cannot map."""


@dataclass(frozen=True)
class Sym:
    """A dimension whose value is unknown at conversion time (e.g. the batch size).

    ``source`` is (Keras tensor, Keras axis) of a tensor that has this dimension, so that ops which
    need its runtime value (Range, Expand, ConstantOfShape) can compute it in the graph.
    """

    name: str
    source: Any = field(default=None, compare=False, hash=False, repr=False)


BATCH = Sym("batch")


@dataclass(frozen=True)
class Tensor:
    """A Keras symbolic tensor holding ONNX value ``v`` as ``v.transpose(perm)``."""

    value: Any
    perm: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def onnx_shape(self) -> tuple[int | None, ...]:
        shape: list[int | None] = [None] * self.rank
        for keras_axis, onnx_axis in enumerate(self.perm):
            shape[onnx_axis] = self.value.shape[keras_axis]
        return tuple(shape)

    def keras_axis(self, onnx_axis: int) -> int:
        return self.perm.index(normalize_axis(onnx_axis, self.rank))


@dataclass(frozen=True)
class TensorSequence:
    """An ONNX sequence value (unoptimised exports split tensors via SplitToSequence)."""

    items: tuple[Tensor | np.ndarray, ...]


Value = Tensor | np.ndarray | TensorSequence


def identity_perm(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def channels_last_perm(rank: int) -> tuple[int, ...]:
    return (0, *range(2, rank), 1)


def normalize_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def sanitize_name(name: str) -> str:
    """Keras operation names may not contain '/'; keep them readable otherwise."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).strip("_")
    return cleaned or "node"


@dataclass
class Builder:
    """Per-conversion state shared by all node converters."""

    opset: int
    used_outputs: set[str]
    taken_names: set[str] = field(default_factory=set)
    producers: dict[str, tuple[str, str]] = field(default_factory=dict)  # value -> (op type, node name)
    # weight-holding layers keyed by their op, attributes and weights: ONNX nodes that read the same weights
    # (a siamese model's two LSTM nodes) become calls of ONE shared Keras layer, as in the source model
    shared_layers: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    # (id of Keras tensor, its perm, target perm) -> (that Keras tensor, converted Tensor); the
    # source is stored so its id cannot be recycled while the entry exists.
    _layout_cache: dict[tuple[int, tuple[int, ...], tuple[int, ...]], tuple[Any, Tensor]] = field(
        default_factory=dict
    )

    def unique_name(self, base: str) -> str:
        base = sanitize_name(base)
        name, i = base, 1
        while name in self.taken_names:
            name, i = f"{base}_{i}", i + 1
        self.taken_names.add(name)
        return name

    def to_perm(self, t: Tensor, target: Sequence[int], name_hint: str) -> Tensor:
        """Return ``t`` laid out as ``onnx_value.transpose(target)`` (cached per tensor)."""
        target = tuple(target)
        if t.perm == target:
            return t
        key = (id(t.value), t.perm, target)
        if key in self._layout_cache:
            return self._layout_cache[key][1]
        axes = tuple(t.perm.index(a) for a in target)
        if axes[0] == 0:
            y = layers.Permute(axes[1:], name=self.unique_name(f"{name_hint}_permute"))(t.value)
        else:
            y = ops.transpose(t.value, axes)
        out = Tensor(y, target)
        self._layout_cache[key] = (t.value, out)
        return out


@dataclass
class NodeContext:
    """What a converter sees: the node, its resolved inputs, and the builder."""

    node: onnx.NodeProto
    inputs: list[Value | None]
    builder: Builder

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def node_name(self) -> str:
        return self.node.name or next((o for o in self.node.output if o), self.op_type)

    @property
    def opset(self) -> int:
        return self.builder.opset

    def error(self, detail: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"ONNX op '{self.op_type}' (node '{self.node_name}'): {detail}")

    def attr(self, name: str, default: Any = None) -> Any:
        for a in self.node.attribute:
            if a.name == name:
                value = onnx.helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def input(self, i: int) -> Value | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def tensor(self, i: int = 0) -> Tensor:
        value = self.input(i)
        if not isinstance(value, Tensor):
            raise self.error(f"input {i} must be a runtime tensor for this conversion")
        return value

    def const(self, i: int, what: str) -> np.ndarray | None:
        """Input ``i`` as a numpy constant, ``None`` if omitted; raise if it is computed at runtime."""
        value = self.input(i)
        if value is None:
            return None
        if isinstance(value, Tensor):
            raise self.error(f"{what} (input {i}) must be a constant; a runtime value is not supported")
        return value

    def ints(self, i: int, attr_name: str, what: str) -> list[int] | None:
        """An int list given either as input ``i`` (newer opsets) or attribute ``attr_name``."""
        value = self.const(i, what)
        if value is not None:
            if value.dtype == object:
                raise self.error(f"{what} must be fully known at conversion time")
            return [int(v) for v in value.reshape(-1)]
        value = self.attr(attr_name)
        return None if value is None else [int(v) for v in value]

    def output_used(self, i: int) -> bool:
        return i < len(self.node.output) and self.node.output[i] in self.builder.used_outputs

    def layer_name(self, suffix: str = "") -> str:
        return self.builder.unique_name(f"{self.node_name}_{suffix}" if suffix else self.node_name)

    def to_perm(self, t: Tensor, target: Sequence[int]) -> Tensor:
        return self.builder.to_perm(t, target, self.node_name)

    def onnx_layout(self, t: Tensor) -> Tensor:
        return self.to_perm(t, identity_perm(t.rank))

    def channels_last(self, t: Tensor) -> Tensor:
        if t.rank not in (3, 4, 5):
            raise self.error(f"expected a 3-D, 4-D or 5-D (N, C, spatial...) input, got rank {t.rank}")
        return self.to_perm(t, channels_last_perm(t.rank))


Converter = Callable[[NodeContext], "list[Value | None] | Value"]


# --------------------------------------------------------------------------- helpers


def _static_dims(ctx: NodeContext, dims: Sequence[int | None], what: str) -> list[int]:
    if any(d is None for d in dims):
        raise ctx.error(f"{what} must have static sizes, got {tuple(dims)}")
    return [int(d) for d in dims]  # type: ignore[arg-type]


def _keras_const(c: np.ndarray) -> np.ndarray | float | int:
    """A constant operand as keras.ops wants it: float32 arrays, Python scalars for size-1."""
    if c.dtype == object:
        raise ValueError("symbolic constant")
    if np.issubdtype(c.dtype, np.floating):
        c = c.astype(np.float32)
    elif c.dtype.kind == "u" and c.dtype.itemsize > 1:  # torch has uint8 only
        c = c.astype(np.int64)
    if c.ndim == 0:
        return c.item()
    return c


def _align_const(c: np.ndarray, rank: int, perm: tuple[int, ...]) -> np.ndarray | float | int:
    """Bring a constant broadcastable against an ONNX rank-``rank`` tensor into layout ``perm``."""
    if c.size == 1 and c.ndim <= rank:
        return _keras_const(c.reshape(()))
    if c.ndim < rank:
        c = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if c.ndim == rank:
        c = c.transpose(perm)
    return _keras_const(c)


def _elementwise(ctx: NodeContext, fn: Callable[..., Any], operands: Sequence[Value]) -> Tensor:
    """Apply a broadcasting keras.ops function, agreeing on one layout for all operands."""
    tensors = [v for v in operands if isinstance(v, Tensor)]
    out_rank = max(v.rank if isinstance(v, Tensor) else v.ndim for v in operands)
    if all(t.rank == out_rank for t in tensors):
        perm = next((t.perm for t in tensors if t.perm != identity_perm(t.rank)), tensors[0].perm)
    else:
        perm = identity_perm(out_rank)
    args: list[Any] = []
    for v in operands:
        if isinstance(v, Tensor):
            target = perm if v.rank == out_rank else identity_perm(v.rank)
            args.append(ctx.to_perm(v, target).value)
        else:
            if v.dtype == object:
                raise ctx.error("symbolic shape values cannot be mixed with runtime tensors")
            args.append(_match_dtype(_align_const(v, out_rank, perm), tensors[0].value.dtype))
    return Tensor(fn(*args), perm)


def take(x: Any, indices: Any, axis: int) -> Any:
    """``ops.take(x, indices, axis)`` without ``ops.take``.

    On torch, ``ops.take`` is ``index_select(...).squeeze(axis)``; with constant indices the ONNX
    export writes a Squeeze of a dimension that is not 1, an invalid graph, and ``take_along_axis``
    makes torch.export specialise the batch. So constant indices become slices: a scalar is
    ``x[..., i]``, an arithmetic progression ``x[..., a:b:s]``, anything else a concatenation of such
    slices and of repeated single slices. Runtime indices are a row lookup (:func:`_take_rows`).
    """
    rank = len(x.shape)
    axis = axis + rank if axis < 0 else axis
    lead = (slice(None),) * axis
    if isinstance(indices, (int, np.integer)) or (isinstance(indices, np.ndarray) and indices.ndim == 0):
        return x[lead + (int(indices),)]
    if isinstance(indices, np.ndarray):
        flat = indices.reshape(-1).astype(np.int64)
        step = int(flat[1] - flat[0]) if flat.size > 1 else 1
        if flat.size and step > 0 and np.array_equal(flat, flat[0] + step * np.arange(flat.size)):
            sliced = x[lead + (slice(int(flat[0]), int(flat[-1]) + 1, step),)]
            if indices.ndim == 1:
                return sliced
            return _unflatten_axis(sliced, axis, indices.shape)
        gathered = _take_by_slices(x, flat, axis)
        return gathered if indices.ndim == 1 else _unflatten_axis(gathered, axis, indices.shape)
    index_rank = len(indices.shape)
    flat_idx = ops.reshape(indices, (-1,)) if index_rank != 1 else indices
    by_rows = _take_rows(x, flat_idx, axis, tuple(indices.shape))
    if by_rows is not None:
        return by_rows
    # Both the gathered axis and another one are dynamic: torch's ops.take. Exported back to ONNX
    # (exporters.keras_onnx), its squeeze of the runtime-length axis is an invalid Squeeze.
    gathered = ops.take(x, flat_idx, axis=axis)
    if index_rank == 1:
        return gathered
    return _unflatten_axis(gathered, axis, tuple(indices.shape))


def _take_rows(x: Any, flat_idx: Any, axis: int, index_shape: tuple[int | None, ...]) -> Any | None:
    """Runtime gather as a row lookup in a 2-D table; None when the reshapes need two runtime dims.

    On torch, ``ops.take`` of a 2-D tensor along axis 0 is ``embedding``, exported to ONNX as one
    Gather; along other axes it is ``index_select(...).squeeze(axis)``, whose squeeze of a runtime
    length torch.onnx writes as a Squeeze that ONNX shape inference rejects (and
    ``take_along_axis`` makes torch.export fix the batch). So the gathered axis is moved first, the
    others are merged into one, and the rows are looked up.
    """
    rank = len(x.shape)
    rest = [d for i, d in enumerate(x.shape) if i != axis]
    out_dims = list(index_shape) + rest
    if out_dims.count(None) > 1 or (None in rest and x.shape[axis] is None):
        return None
    moved = x if axis == 0 else ops.transpose(x, [axis] + [i for i in range(rank) if i != axis])
    width = int(np.prod(rest)) if None not in rest else -1
    table = ops.reshape(moved, (-1 if width != -1 else int(x.shape[axis]), width))
    rows = ops.take(table, flat_idx, axis=0)
    gathered = ops.reshape(rows, tuple(-1 if d is None else int(d) for d in out_dims))
    k = len(index_shape)
    if axis == 0:
        return gathered
    # back in place: the index axes where the gathered axis was
    order = list(range(k, k + axis)) + list(range(k)) + list(range(k + axis, k + len(rest)))
    return ops.transpose(gathered, order)


def _take_by_slices(x: Any, flat: np.ndarray, axis: int) -> Any:
    """x gathered at constant 1-D ``flat`` along ``axis`` as a concatenation of slices."""
    lead = (slice(None),) * axis
    if flat.size == 0:
        return x[lead + (slice(0, 0),)]
    pieces: list[Any] = []
    i = 0
    while i < flat.size:
        j = i + 1
        while j < flat.size and flat[j] == flat[i]:
            j += 1
        if j - i > 1:  # a repeated index
            pieces.append(ops.repeat(x[lead + (slice(int(flat[i]), int(flat[i]) + 1),)], j - i, axis=axis))
            i = j
            continue
        step = int(flat[i + 1] - flat[i]) if i + 1 < flat.size else 1
        j = i + 1
        while step > 0 and j < flat.size and flat[j] - flat[j - 1] == step and (j + 1 >= flat.size or flat[j + 1] != flat[j]):
            j += 1
        stop = int(flat[j - 1]) + 1
        pieces.append(x[lead + (slice(int(flat[i]), stop, step if step > 0 else 1),)])
        i = j
    return pieces[0] if len(pieces) == 1 else ops.concatenate(pieces, axis=axis)


def _unflatten_axis(x: Any, axis: int, shape: Sequence[int | None]) -> Any:
    """Split axis ``axis`` of ``x`` into ``shape`` (at most one unknown dim among all of them)."""
    dims = list(x.shape[:axis]) + list(shape) + list(x.shape[axis + 1 :])
    if dims.count(None) > 1:
        raise ValueError(f"cannot reshape to {tuple(dims)}: more than one dimension known only at runtime")
    return ops.reshape(x, tuple(-1 if d is None else d for d in dims))


def int_like(value: int, tensor: Any) -> Any:
    """``value`` typed like an integer tensor (see :func:`_match_dtype`); unchanged for floats."""
    dtype = np.dtype(str(tensor.dtype))
    return np.asarray(value, dtype=dtype) if dtype.kind in "iu" else value


def _match_dtype(c: np.ndarray | float | int, tensor_dtype: Any) -> np.ndarray | float | int:
    """An integer constant in the integer type of the tensor it meets (as a 0-d array, not a Python
    int, which Keras would make int32: int64 * int32 is invalid ONNX once the model is exported)."""
    dtype = np.dtype(str(tensor_dtype))
    if dtype.kind in "iu" and isinstance(c, (int, np.ndarray)) and not isinstance(c, bool):
        array = np.asarray(c)
        if array.dtype.kind in "iu":
            return array.astype(dtype)
    return c


def _dropped_axes_perm(perm: tuple[int, ...], dropped: set[int]) -> tuple[int, ...]:
    """Layout of a tensor after removing ONNX axes ``dropped`` (reduce/squeeze)."""
    kept = [a for a in perm if a not in dropped]
    order = sorted(kept)
    return tuple(order.index(a) for a in kept)


def _pairs(pads: Sequence[int], n: int) -> list[tuple[int, int]]:
    """ONNX pads ``[b1, ..., bn, e1, ..., en]`` -> ``[(b1, e1), ...]``."""
    return [(int(pads[i]), int(pads[i + n])) for i in range(n)]


def _nd_arg(pairs: list[tuple[int, int]]) -> Any:
    """Padding/cropping argument for Keras' 1D/2D/3D layers."""
    return pairs[0] if len(pairs) == 1 else tuple(pairs)


_CONV = {1: layers.Conv1D, 2: layers.Conv2D, 3: layers.Conv3D}
_DEPTHWISE = {1: layers.DepthwiseConv1D, 2: layers.DepthwiseConv2D}
_CONV_T = {1: layers.Conv1DTranspose, 2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}
_ZERO_PAD = {1: layers.ZeroPadding1D, 2: layers.ZeroPadding2D, 3: layers.ZeroPadding3D}
_CROP = {1: layers.Cropping1D, 2: layers.Cropping2D, 3: layers.Cropping3D}
_MAX_POOL = {1: layers.MaxPooling1D, 2: layers.MaxPooling2D, 3: layers.MaxPooling3D}
_AVG_POOL = {1: layers.AveragePooling1D, 2: layers.AveragePooling2D, 3: layers.AveragePooling3D}
_GLOBAL_AVG = {
    1: layers.GlobalAveragePooling1D,
    2: layers.GlobalAveragePooling2D,
    3: layers.GlobalAveragePooling3D,
}
_GLOBAL_MAX = {1: layers.GlobalMaxPooling1D, 2: layers.GlobalMaxPooling2D, 3: layers.GlobalMaxPooling3D}


def _zero_pad(ctx: NodeContext, x: Any, pairs: list[tuple[int, int]]) -> Any:
    if not any(b or e for b, e in pairs):
        return x
    return _ZERO_PAD[len(pairs)](_nd_arg(pairs), data_format="channels_last", name=ctx.layer_name("pad"))(x)


def _crop(ctx: NodeContext, x: Any, pairs: list[tuple[int, int]]) -> Any:
    if not any(b or e for b, e in pairs):
        return x
    kwargs = {} if len(pairs) == 1 else {"data_format": "channels_last"}
    return _CROP[len(pairs)](_nd_arg(pairs), name=ctx.layer_name("crop"), **kwargs)(x)


def _spatial_attrs(
    ctx: NodeContext, n: int, sizes: Sequence[int | None] | None = None, kernel: Sequence[int] | None = None
) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """strides, dilations and (begin, end) pads of a conv/pool node with ``n`` spatial dims.

    ``auto_pad=SAME_*`` is resolved to explicit pads from the static spatial ``sizes`` and ``kernel``.
    """
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    strides = [int(v) for v in ctx.attr("strides", [1] * n)]
    dilations = [int(v) for v in ctx.attr("dilations", [1] * n)]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if sizes is None or kernel is None or any(d is None for d in sizes):
            raise ctx.error(f"attribute auto_pad='{auto_pad}' needs static spatial sizes here")
        pairs = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            out = -(-int(size) // s)  # type: ignore[arg-type]
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - int(size))  # type: ignore[arg-type]
            small, large = total // 2, total - total // 2
            pairs.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
        return strides, dilations, pairs
    if auto_pad not in ("NOTSET", "VALID"):
        raise ctx.error(f"attribute auto_pad='{auto_pad}' is not supported")
    pads = list(ctx.attr("pads", [0] * (2 * n))) if auto_pad == "NOTSET" else [0] * (2 * n)
    return strides, dilations, _pairs(pads, n)


def _set_weights(layer: layers.Layer, weights: list[np.ndarray]) -> None:
    layer.set_weights([w.astype(np.float32) for w in weights])



OP_CONVERTERS: dict[str, Converter] = {}


def register(op_type: str, converter: Converter) -> Converter:
    """Make ``converter`` the Keras mapping of ONNX op ``op_type`` (one family module per op family)."""
    if op_type in OP_CONVERTERS:
        raise RuntimeError(f"two converters registered for ONNX op '{op_type}'")
    OP_CONVERTERS[op_type] = converter
    return converter


def register_all(converters: dict[str, Converter]) -> None:
    for op_type, converter in converters.items():
        register(op_type, converter)

