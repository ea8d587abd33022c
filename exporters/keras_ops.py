"""ONNX node -> Keras 3 layer converters used by :mod:`exporters.keras`.

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

import math
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
from onnx import numpy_helper

from zoo.errors import ZooError

_FLOAT32_LOWEST = float(np.finfo(np.float32).min)


class UnsupportedOpError(ZooError):
    """The ONNX graph uses an op (or an attribute value) the Keras converter cannot map."""


@dataclass(frozen=True)
class Sym:
    """A dimension whose value is unknown at conversion time (e.g. the batch size)."""

    name: str


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
        return self.node.name or (self.node.output[0] if self.node.output else self.op_type)

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
            args.append(_align_const(v, out_rank, perm))
    return Tensor(fn(*args), perm)


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


def _spatial_attrs(ctx: NodeContext, n: int) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """strides, dilations and (begin, end) pads of a conv/pool node with ``n`` spatial dims."""
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID"):
        raise ctx.error(f"auto_pad='{auto_pad}' is not supported; export with explicit pads")
    strides = list(ctx.attr("strides", [1] * n))
    dilations = list(ctx.attr("dilations", [1] * n))
    pads = list(ctx.attr("pads", [0] * (2 * n))) if auto_pad == "NOTSET" else [0] * (2 * n)
    return strides, dilations, _pairs(pads, n)


def _set_weights(layer: layers.Layer, weights: list[np.ndarray]) -> None:
    layer.set_weights([w.astype(np.float32) for w in weights])


# --------------------------------------------------------------------------- constants & shapes


def convert_constant(ctx: NodeContext) -> np.ndarray:
    for a in ctx.node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_floats"):
            return np.array(onnx.helper.get_attribute_value(a), dtype=np.float32)
        if a.name in ("value_int", "value_ints"):
            return np.array(onnx.helper.get_attribute_value(a), dtype=np.int64)
    raise ctx.error("only tensor/float/int Constant values are supported")


def convert_shape(ctx: NodeContext) -> np.ndarray:
    t = ctx.tensor(0)
    dims: list[Any] = []
    for axis, d in enumerate(t.onnx_shape):
        if d is not None:
            dims.append(int(d))
        else:
            dims.append(BATCH if axis == 0 else Sym(f"{ctx.node_name}:{axis}"))
    start, end = ctx.attr("start", 0), ctx.attr("end", None)
    dims = dims[start:end]
    if all(isinstance(d, int) for d in dims):
        return np.array(dims, dtype=np.int64)
    return np.array(dims, dtype=object)


def convert_size(ctx: NodeContext) -> np.ndarray:
    dims = ctx.tensor(0).onnx_shape
    if any(d is None for d in dims):
        raise ctx.error("Size of a tensor with a dynamic dimension cannot be constant-folded")
    return np.array(math.prod(dims), dtype=np.int64)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- elementwise


def _unary_op(fn: Callable[[Any], Any]) -> Converter:
    def convert(ctx: NodeContext) -> Tensor:
        t = ctx.tensor(0)
        return Tensor(fn(t.value), t.perm)

    return convert


def _unary_layer(make: Callable[[NodeContext], layers.Layer]) -> Converter:
    def convert(ctx: NodeContext) -> Tensor:
        t = ctx.tensor(0)
        return Tensor(make(ctx)(t.value), t.perm)

    return convert


def _binary_op(fn: Callable[[Any, Any], Any]) -> Converter:
    """A broadcasting elementwise op; variadic ONNX ops (Max, Min) fold left over their inputs."""

    def convert(ctx: NodeContext) -> Value:
        operands = [v for v in ctx.inputs if v is not None]
        result: Value = operands[0] if len(operands) > 1 else ctx.tensor(0)
        for other in operands[1:]:
            result = _elementwise(ctx, fn, [result, other])
        return result

    return convert


def convert_relu(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    return Tensor(layers.ReLU(name=ctx.layer_name())(t.value), t.perm)


def convert_leaky_relu(ctx: NodeContext) -> Tensor:
    t, alpha = ctx.tensor(0), float(ctx.attr("alpha", 0.01))
    if alpha >= 0:
        return Tensor(layers.LeakyReLU(negative_slope=alpha, name=ctx.layer_name())(t.value), t.perm)
    x = t.value
    return Tensor(ops.add(ops.relu(x), ops.multiply(ops.minimum(x, 0.0), alpha)), t.perm)


def convert_elu(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    return Tensor(layers.ELU(alpha=float(ctx.attr("alpha", 1.0)), name=ctx.layer_name())(t.value), t.perm)


def _activation(name: str) -> Converter:
    return _unary_layer(lambda ctx: layers.Activation(name, name=ctx.layer_name()))


def convert_gelu(ctx: NodeContext) -> Tensor:
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.error(f"approximate='{approximate}' is not supported")
    t = ctx.tensor(0)
    return Tensor(ops.gelu(t.value, approximate=approximate == "tanh"), t.perm)


def convert_hard_sigmoid(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    alpha, beta = float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5))
    return Tensor(ops.clip(ops.add(ops.multiply(t.value, alpha), beta), 0.0, 1.0), t.perm)


def convert_softmax(ctx: NodeContext, log: bool = False) -> Tensor:
    t = ctx.tensor(0)
    axis = normalize_axis(int(ctx.attr("axis", -1 if ctx.opset >= 13 else 1)), t.rank)
    if ctx.opset < 13 and axis != t.rank - 1:
        raise ctx.error("opset<13 Softmax over a non-last axis (2-D coercion) is not supported")
    if log:
        return Tensor(ops.log_softmax(t.value, axis=t.keras_axis(axis)), t.perm)
    return Tensor(layers.Softmax(axis=t.keras_axis(axis), name=ctx.layer_name())(t.value), t.perm)


def convert_clip(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    lo = ctx.const(1, "min")
    hi = ctx.const(2, "max")
    lo_v = float(lo) if lo is not None else ctx.attr("min")
    hi_v = float(hi) if hi is not None else ctx.attr("max")
    x = t.value
    if lo_v is not None and hi_v is not None:
        return Tensor(ops.clip(x, float(lo_v), float(hi_v)), t.perm)
    if lo_v is not None:
        x = ops.maximum(x, float(lo_v))
    if hi_v is not None:
        x = ops.minimum(x, float(hi_v))
    return Tensor(x, t.perm)


def convert_pow(ctx: NodeContext) -> Tensor:
    exponent = ctx.input(1)
    if isinstance(exponent, np.ndarray) and exponent.size == 1 and isinstance(ctx.input(0), Tensor):
        t, e = ctx.tensor(0), float(exponent.reshape(()))
        if exponent.ndim > t.rank:
            return _elementwise(ctx, ops.power, [t, exponent])
        if e == 2.0:
            return Tensor(ops.square(t.value), t.perm)
        if e == 1.0:
            return t
        if e == 0.5:
            return Tensor(ops.sqrt(t.value), t.perm)
        return Tensor(ops.power(t.value, e), t.perm)
    return _elementwise(ctx, ops.power, [ctx.input(0), exponent])  # type: ignore[list-item]


def convert_cast(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    to = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(ctx.attr("to"))))
    if to.kind not in "fiub":
        raise ctx.error(f"Cast of a runtime tensor to {to} is not supported")
    if str(t.value.dtype) == to.name:
        return t
    return Tensor(ops.cast(t.value, to.name), t.perm)


def convert_cast_like(ctx: NodeContext) -> Value:
    source, like = ctx.input(0), ctx.input(1)
    dtype = np.dtype(str(like.value.dtype) if isinstance(like, Tensor) else like.dtype)  # type: ignore[union-attr]
    if isinstance(source, np.ndarray):  # constant cast to a runtime tensor's dtype
        return source if source.dtype == object else source.astype(dtype)
    t = ctx.tensor(0)
    if not np.issubdtype(dtype, np.floating):
        raise ctx.error("CastLike of a runtime tensor to a non-float type is not supported")
    if str(t.value.dtype) == dtype.name:
        return t
    return Tensor(ops.cast(t.value, dtype.name), t.perm)


def convert_identity(ctx: NodeContext) -> Value:
    value = ctx.input(0)
    assert value is not None
    return value


def convert_dropout(ctx: NodeContext) -> list[Value | None]:
    training = ctx.const(2, "training_mode")
    if training is not None and bool(training):
        raise ctx.error("training_mode=True is not supported (inference-only conversion)")
    if ctx.output_used(1):
        raise ctx.error("the mask output is not supported")
    return [convert_identity(ctx), None]


# --------------------------------------------------------------------------- conv / pool / norm


def convert_conv(ctx: NodeContext) -> Tensor:
    t = ctx.channels_last(ctx.tensor(0))
    weight = ctx.const(1, "weight")
    bias = ctx.const(2, "bias")
    if weight is None:
        raise ctx.error("missing weight")
    n = t.rank - 2
    if n not in _CONV:
        raise ctx.error(f"{n}-D convolution is not supported")
    strides, dilations, pads = _spatial_attrs(ctx, n)
    group = int(ctx.attr("group", 1))
    kernel = list(weight.shape[2:])
    c_in = t.value.shape[-1]
    c_out = weight.shape[0]
    if c_in is None:
        raise ctx.error("the input channel count must be static")
    if weight.shape[1] * group != c_in:
        raise ctx.error(f"weight {weight.shape} with group={group} does not match {c_in} input channels")
    if max(strides) > 1 and max(dilations) > 1:
        raise ctx.error("strides > 1 combined with dilations > 1 is not supported by Keras")
    symmetric_same = all(
        s == 1 and b == e and b * 2 == d * (k - 1) for s, d, k, (b, e) in zip(strides, dilations, kernel, pads)
    )
    padding = "same" if symmetric_same and any(b for b, _ in pads) else "valid"
    x = t.value if padding == "same" else _zero_pad(ctx, t.value, pads)
    spatial = tuple(range(2, 2 + n))
    common = dict(
        kernel_size=tuple(kernel),
        strides=tuple(strides),
        padding=padding,
        dilation_rate=tuple(dilations),
        use_bias=bias is not None,
        data_format="channels_last",
        name=ctx.layer_name(),
    )
    if group == c_in and group > 1 and n in _DEPTHWISE:
        multiplier = c_out // c_in
        layer = _DEPTHWISE[n](depth_multiplier=multiplier, **common)
        keras_kernel = weight.reshape(c_in, multiplier, *kernel).transpose(*spatial, 0, 1)
    else:
        layer = _CONV[n](filters=c_out, groups=group, **common)
        keras_kernel = weight.transpose(*spatial, 1, 0)
    y = layer(x)
    _set_weights(layer, [keras_kernel] + ([bias] if bias is not None else []))
    return Tensor(y, t.perm)


def convert_conv_transpose(ctx: NodeContext) -> Tensor:
    t = ctx.channels_last(ctx.tensor(0))
    weight = ctx.const(1, "weight")
    bias = ctx.const(2, "bias")
    if weight is None:
        raise ctx.error("missing weight")
    n = t.rank - 2
    strides, dilations, pads = _spatial_attrs(ctx, n)
    if int(ctx.attr("group", 1)) != 1:
        raise ctx.error("grouped ConvTranspose is not supported (Keras Conv*DTranspose has no groups)")
    if max(dilations) > 1:
        raise ctx.error("dilated ConvTranspose is not supported")
    if ctx.attr("output_shape") is not None:
        raise ctx.error("the output_shape attribute is not supported; export with explicit pads")
    output_padding = list(ctx.attr("output_padding", [0] * n))
    kernel = list(weight.shape[2:])
    spatial = tuple(range(2, 2 + n))
    layer = _CONV_T[n](
        filters=weight.shape[1],
        kernel_size=tuple(kernel),
        strides=tuple(strides),
        padding="valid",
        output_padding=tuple(output_padding),
        use_bias=bias is not None,
        data_format="channels_last",
        name=ctx.layer_name(),
    )
    y = layer(t.value)
    # ONNX weight (C_in, C_out, k...) -> Keras (k..., C_out, C_in)
    _set_weights(layer, [weight.transpose(*spatial, 1, 0)] + ([bias] if bias is not None else []))
    return Tensor(_crop(ctx, y, pads), t.perm)


def _pool_geometry(
    ctx: NodeContext, t: Tensor, n: int
) -> tuple[list[int], list[int], list[tuple[int, int]], list[tuple[int, int]]]:
    """kernel, strides, ONNX pads, and the extra end padding ceil_mode needs (per spatial dim)."""
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    strides, dilations, pads = _spatial_attrs(ctx, n)
    if any(d != 1 for d in dilations):
        raise ctx.error("dilated pooling is not supported")
    extra: list[tuple[int, int]] = [(0, 0)] * n
    if int(ctx.attr("ceil_mode", 0)):
        sizes = _static_dims(ctx, t.value.shape[1:-1], "ceil_mode pooling input")
        extra = []
        for size, k, s, (b, e) in zip(sizes, kernel, strides, pads):
            out = -(-(size + b + e - k) // s) + 1
            if (out - 1) * s >= size + b:  # the last window must start inside input or left pad
                out -= 1
            extra.append((0, max(0, (out - 1) * s + k - (size + b + e))))
    return kernel, strides, pads, extra


def convert_max_pool(ctx: NodeContext) -> list[Value | None]:
    t = ctx.channels_last(ctx.tensor(0))
    n = t.rank - 2
    if ctx.output_used(1):
        raise ctx.error("the Indices output is not supported")
    if int(ctx.attr("storage_order", 0)) != 0:
        raise ctx.error("storage_order=1 is not supported")
    kernel, strides, pads, extra = _pool_geometry(ctx, t, n)
    total = [(b + xb, e + xe) for (b, e), (xb, xe) in zip(pads, extra)]
    x = t.value
    if any(b or e for b, e in total):
        # Padded cells must never win the max: pad with the lowest float32, not zero.
        x = ops.pad(x, [(0, 0), *total, (0, 0)], constant_values=_FLOAT32_LOWEST)
    layer = _MAX_POOL[n](
        pool_size=tuple(kernel),
        strides=tuple(strides),
        padding="valid",
        data_format="channels_last",
        name=ctx.layer_name(),
    )
    return [Tensor(layer(x), t.perm), None]


def _avg_pool_divisor(
    sizes: list[int],
    kernel: list[int],
    strides: list[int],
    pads: list[tuple[int, int]],
    extra: list[tuple[int, int]],
    include_pad: bool,
) -> np.ndarray:
    """Per-output-position element count ONNX divides by (1-D counts multiplied out)."""
    factors = []
    for size, k, s, (b, e), (_, extra_end) in zip(sizes, kernel, strides, pads, extra):
        out = (size + b + e + extra_end - k) // s + 1
        starts = np.arange(out) * s - b
        if include_pad:  # padding counts, the ceil_mode overhang past the end padding does not
            counts = np.minimum(starts + k, size + e) - np.maximum(starts, -b)
        else:
            counts = np.minimum(starts + k, size) - np.maximum(starts, 0)
        factors.append(counts.astype(np.float64))
    result = factors[0]
    for f in factors[1:]:
        result = np.multiply.outer(result, f)
    return result


def convert_average_pool(ctx: NodeContext) -> Tensor:
    t = ctx.channels_last(ctx.tensor(0))
    n = t.rank - 2
    kernel, strides, pads, extra = _pool_geometry(ctx, t, n)
    include_pad = bool(ctx.attr("count_include_pad", 0))
    total = [(b + xb, e + xe) for (b, e), (xb, xe) in zip(pads, extra)]
    x = _zero_pad(ctx, t.value, total)
    layer = _AVG_POOL[n](
        pool_size=tuple(kernel),
        strides=tuple(strides),
        padding="valid",
        data_format="channels_last",
        name=ctx.layer_name(),
    )
    y = layer(x)
    if any(b or e for b, e in total):
        sizes = _static_dims(ctx, t.value.shape[1:-1], "padded AveragePool input")
        divisor = _avg_pool_divisor(sizes, kernel, strides, pads, extra, include_pad)
        scale = math.prod(kernel) / divisor
        if not np.allclose(scale, 1.0):
            y = ops.multiply(y, scale.astype(np.float32)[None, ..., None])
    return Tensor(y, t.perm)


def _global_pool(table: dict[int, type]) -> Converter:
    def convert(ctx: NodeContext) -> Tensor:
        t = ctx.channels_last(ctx.tensor(0))
        layer = table[t.rank - 2](keepdims=True, data_format="channels_last", name=ctx.layer_name())
        return Tensor(layer(t.value), t.perm)

    return convert


def convert_batch_norm(ctx: NodeContext) -> list[Value | None]:
    t = ctx.tensor(0)
    if int(ctx.attr("training_mode", 0)) or any(ctx.output_used(i) for i in (1, 2)):
        raise ctx.error("training-mode BatchNormalization is not supported")
    names = ("scale", "bias", "mean", "var")
    scale, bias, mean, var = (ctx.const(i + 1, what) for i, what in enumerate(names))
    if any(v is None for v in (scale, bias, mean, var)):
        raise ctx.error("scale, bias, mean and var must all be given")
    axis = t.keras_axis(1) if t.rank > 1 else 0
    layer = layers.BatchNormalization(
        axis=axis,
        epsilon=float(ctx.attr("epsilon", 1e-5)),
        momentum=float(ctx.attr("momentum", 0.9)),
        name=ctx.layer_name(),
    )
    y = layer(t.value)
    _set_weights(layer, [scale, bias, mean, var])  # type: ignore[list-item]
    return [Tensor(y, t.perm), None, None]


def convert_layer_norm(ctx: NodeContext) -> list[Value | None]:
    t = ctx.onnx_layout(ctx.tensor(0))
    if any(ctx.output_used(i) for i in (1, 2)):
        raise ctx.error("the Mean/InvStdDev outputs are not supported")
    if int(ctx.attr("stash_type", 1)) != 1:
        raise ctx.error("stash_type other than float32 is not supported")
    scale, bias = ctx.const(1, "scale"), ctx.const(2, "bias")
    axis = normalize_axis(int(ctx.attr("axis", -1)), t.rank)
    if axis == 0:
        raise ctx.error("normalising over the batch axis is not supported")
    normalized = tuple(_static_dims(ctx, t.onnx_shape[axis:], "normalised dimensions"))
    layer = layers.LayerNormalization(
        axis=list(range(axis, t.rank)),
        epsilon=float(ctx.attr("epsilon", 1e-5)),
        center=bias is not None,
        name=ctx.layer_name(),
    )
    y = layer(t.value)
    weights = [np.broadcast_to(scale, normalized)]  # type: ignore[arg-type]
    if bias is not None:
        weights.append(np.broadcast_to(bias, normalized))
    _set_weights(layer, weights)
    return [Tensor(y, t.perm), None, None]


# --------------------------------------------------------------------------- dense / matmul


def _dense(ctx: NodeContext, t: Tensor, kernel: np.ndarray, bias: np.ndarray | None) -> Tensor:
    t = ctx.onnx_layout(t)
    if t.value.shape[-1] is None:
        raise ctx.error("the contracted dimension must be static")
    layer = layers.Dense(kernel.shape[1], use_bias=bias is not None, name=ctx.layer_name())
    y = layer(t.value)
    _set_weights(layer, [kernel] + ([bias] if bias is not None else []))
    return Tensor(y, t.perm)


def convert_gemm(ctx: NodeContext) -> Tensor:
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a, trans_b = int(ctx.attr("transA", 0)), int(ctx.attr("transB", 0))
    a, b, c = ctx.input(0), ctx.input(1), ctx.input(2)
    if isinstance(a, Tensor) and isinstance(b, np.ndarray) and not trans_a and not isinstance(c, Tensor):
        kernel = (b.T if trans_b else b) * alpha
        return _dense(ctx, a, kernel, _gemm_bias(ctx, kernel.shape[1], beta))
    y = ops.matmul(_matmul_operand(ctx, a, transpose=bool(trans_a)), _matmul_operand(ctx, b, transpose=bool(trans_b)))
    result = Tensor(ops.multiply(y, alpha) if alpha != 1.0 else y, (0, 1))
    if c is None:
        return result
    if isinstance(c, Tensor):
        c_scaled: Value = Tensor(ops.multiply(c.value, beta), c.perm) if beta != 1.0 else c
    else:
        c_scaled = ctx.const(2, "C") * beta  # type: ignore[operator]
    return _elementwise(ctx, ops.add, [result, c_scaled])


def _gemm_bias(ctx: NodeContext, n_out: int, beta: float) -> np.ndarray | None:
    """Gemm's C as a Dense bias: it must broadcast along the rows (shape [], [N] or [1, N])."""
    c = ctx.const(2, "C")
    if c is None:
        return None
    if c.size not in (1, n_out) or (c.ndim == 2 and c.shape[0] != 1):
        raise ctx.error(f"bias C of shape {c.shape} is not broadcastable along rows")
    return np.broadcast_to(c.reshape(-1) * beta, (n_out,)).astype(np.float32)


def _matmul_operand(ctx: NodeContext, v: Value | None, transpose: bool = False) -> Any:
    if v is None:
        raise ctx.error("missing operand")
    if isinstance(v, Tensor):
        x = ctx.onnx_layout(v).value
        return ops.swapaxes(x, -1, -2) if transpose else x
    if v.dtype == object:
        raise ctx.error("symbolic operand")
    c = v.astype(np.float32)
    return c.swapaxes(-1, -2) if transpose else c


def convert_matmul(ctx: NodeContext) -> Tensor:
    a, b = ctx.input(0), ctx.input(1)
    if isinstance(a, Tensor) and isinstance(b, np.ndarray) and b.ndim == 2 and a.rank >= 2:
        return _dense(ctx, a, b, None)
    ranks = [v.rank if isinstance(v, Tensor) else v.ndim for v in (a, b)]  # type: ignore[union-attr]
    if min(ranks) < 2:
        raise ctx.error("MatMul with a 1-D operand is not supported")
    y = ops.matmul(_matmul_operand(ctx, a), _matmul_operand(ctx, b))
    return Tensor(y, identity_perm(len(y.shape)))


# --------------------------------------------------------------------------- shape manipulation


def convert_transpose(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    order = ctx.attr("perm") or list(reversed(range(t.rank)))
    order = [int(a) for a in order]
    # Lazy: the Keras data stays put; only the bookkeeping of which ONNX axis lives where changes.
    return Tensor(t.value, tuple(order.index(a) for a in t.perm))


def convert_concat(ctx: NodeContext) -> Tensor:
    values = [v for v in ctx.inputs if v is not None]
    if not all(isinstance(v, Tensor) for v in values):
        raise ctx.error("concatenating runtime tensors with constants is not supported")
    tensors: list[Tensor] = values  # type: ignore[assignment]
    axis = normalize_axis(int(ctx.attr("axis")), tensors[0].rank)
    perm = tensors[0].perm
    if any(t.perm != perm for t in tensors):
        perm = identity_perm(tensors[0].rank)
    tensors = [ctx.to_perm(t, perm) for t in tensors]
    if len(tensors) == 1:
        return tensors[0]
    keras_axis = perm.index(axis)
    if keras_axis == 0:
        return Tensor(ops.concatenate([t.value for t in tensors], axis=0), perm)
    layer = layers.Concatenate(axis=keras_axis, name=ctx.layer_name())
    return Tensor(layer([t.value for t in tensors]), perm)


def convert_flatten(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    axis = normalize_axis(int(ctx.attr("axis", 1)), t.rank)
    if axis == 1:
        return Tensor(layers.Flatten(data_format="channels_last", name=ctx.layer_name())(t.value), (0, 1))
    dims = t.onnx_shape
    if axis == 0:
        return Tensor(ops.reshape(t.value, (1, -1)), (0, 1))
    tail = _static_dims(ctx, dims[1:], "Flatten input (axis != 1)")
    target = (math.prod(tail[: axis - 1]), math.prod(tail[axis - 1 :]))
    return Tensor(layers.Reshape(target, name=ctx.layer_name())(t.value), (0, 1))


def _resolve_reshape(ctx: NodeContext, t: Tensor, shape: list[Any]) -> tuple[bool, list[int]]:
    """Decide whether ONNX Reshape keeps axis 0 as the batch; return (keeps_batch, dims)."""
    in_dims = t.onnx_shape
    allow_zero = int(ctx.attr("allowzero", 0))
    resolved: list[Any] = []
    for i, s in enumerate(shape):
        if isinstance(s, Sym):
            resolved.append(s)
        elif int(s) == 0 and not allow_zero:
            if i >= len(in_dims):
                raise ctx.error("shape value 0 refers to a missing input dimension")
            d = in_dims[i]
            resolved.append(int(d) if d is not None else (BATCH if i == 0 else Sym(f"?{i}")))
        elif int(s) == 0:
            raise ctx.error("zero-sized reshape (allowzero=1 with a 0 dim) is not supported")
        else:
            resolved.append(int(s))
    if resolved and resolved[0] is BATCH and in_dims and in_dims[0] is None:
        rest = resolved[1:]
        if not all(isinstance(d, int) for d in rest):
            raise ctx.error(f"target shape {shape} has dynamic dimensions besides the batch")
        return True, rest
    if any(isinstance(d, Sym) for d in resolved):
        raise ctx.error(f"target shape {shape} depends on runtime dimensions other than the batch")
    in_tail = in_dims[1:]
    if (
        resolved
        and resolved[0] == -1
        and -1 not in resolved[1:]
        and all(d is not None for d in in_tail)
        and math.prod(resolved[1:]) == math.prod(in_tail)  # type: ignore[arg-type]
    ):
        return True, resolved[1:]
    return False, resolved


def convert_reshape(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    shape = ctx.const(1, "shape")
    assert shape is not None
    keeps_batch, dims = _resolve_reshape(ctx, t, list(shape.reshape(-1)))
    if keeps_batch:
        y = layers.Reshape(tuple(dims), name=ctx.layer_name())(t.value)
    else:
        y = ops.reshape(t.value, tuple(dims))
    return Tensor(y, identity_perm(len(y.shape)))


def convert_squeeze(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    axes = ctx.ints(1, "axes", "axes")
    dims = t.onnx_shape
    if axes is None:
        axes = [i for i, d in enumerate(dims) if d == 1]
        if any(d is None for d in dims[1:]):
            raise ctx.error("Squeeze without axes on a tensor with dynamic dimensions is not supported")
    onnx_axes = {normalize_axis(a, t.rank) for a in axes}
    if not onnx_axes:
        return t
    keras_axes = tuple(sorted(t.perm.index(a) for a in onnx_axes))
    return Tensor(ops.squeeze(t.value, axis=keras_axes), _dropped_axes_perm(t.perm, onnx_axes))


def convert_unsqueeze(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    axes = ctx.ints(1, "axes", "axes")
    if not axes:
        raise ctx.error("missing axes")
    out_rank = t.rank + len(axes)
    x = t.value
    for a in sorted(normalize_axis(a, out_rank) for a in axes):
        x = ops.expand_dims(x, a)
    return Tensor(x, identity_perm(out_rank))


def _take(ctx: NodeContext, t: Tensor, onnx_axis: int, indices: np.ndarray) -> Tensor:
    """ops.take along ONNX axis ``onnx_axis``; the index array's axes replace that axis."""
    if indices.dtype == object or not np.issubdtype(indices.dtype, np.integer):
        raise ctx.error("indices must be a constant integer tensor")
    onnx_axis = normalize_axis(onnx_axis, t.rank)
    size = t.onnx_shape[onnx_axis]
    if size is None:
        raise ctx.error("gathering along a dynamic (batch) axis is not supported")
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ctx.error(f"indices out of range for axis of size {size}")
    indices = np.where(indices < 0, indices + size, indices).astype(np.int32)
    keras_axis = t.perm.index(onnx_axis)
    r = indices.ndim
    new_perm: list[int] = []
    for a in t.perm:
        if a == onnx_axis:
            new_perm.extend(range(onnx_axis, onnx_axis + r))
        else:
            new_perm.append(a if a < onnx_axis else a + r - 1)
    if r == 0:
        y = ops.take(t.value, int(indices), axis=keras_axis)
    else:
        y = ops.take(t.value, indices, axis=keras_axis)
    return Tensor(y, tuple(new_perm))


def convert_gather(ctx: NodeContext) -> Tensor:
    data, indices = ctx.input(0), ctx.input(1)
    axis = int(ctx.attr("axis", 0))
    if isinstance(data, np.ndarray) and isinstance(indices, Tensor):
        return _embedding(ctx, data, ctx.onnx_layout(indices), axis)
    const_indices = ctx.const(1, "indices")
    assert const_indices is not None
    return _take(ctx, ctx.tensor(0), axis, const_indices)


def _embedding(ctx: NodeContext, table: np.ndarray, indices: Tensor, axis: int) -> Tensor:
    """Gather rows of a constant 2-D table with runtime indices: a Keras Embedding layer."""
    if table.ndim != 2 or normalize_axis(axis, 2) != 0 or table.dtype == object:
        raise ctx.error("runtime indices are only supported for row lookups in a constant 2-D table")
    if not str(indices.value.dtype).startswith(("int", "uint")):
        raise ctx.error(f"indices must be integers, got {indices.value.dtype}")
    # ONNX allows negative indices; Embedding does not, so wrap them first.
    wrapped = ops.where(ops.less(indices.value, 0), ops.add(indices.value, table.shape[0]), indices.value)
    layer = layers.Embedding(table.shape[0], table.shape[1], name=ctx.layer_name())
    y = layer(wrapped)
    _set_weights(layer, [table])
    return Tensor(y, identity_perm(indices.rank + 1))


def convert_gather_nd(ctx: NodeContext) -> Tensor:
    indices = ctx.const(1, "indices")
    assert indices is not None
    if int(ctx.attr("batch_dims", 0)) != 0 or indices.shape[-1] != 1:
        raise ctx.error("only batch_dims=0 with single-axis indices (shape [..., 1]) is supported")
    return _take(ctx, ctx.tensor(0), 0, indices[..., 0])


def convert_slice(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    starts = ctx.ints(1, "starts", "starts")
    ends = ctx.ints(2, "ends", "ends")
    if starts is None or ends is None:
        raise ctx.error("missing starts/ends")
    axes = ctx.ints(3, "axes", "axes") or list(range(len(starts)))
    steps = ctx.ints(4, "steps", "steps") or [1] * len(starts)
    dims = t.onnx_shape
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = normalize_axis(axis, t.rank)
        size = dims[axis]
        if size is None:
            if start == 0 and step == 1 and end >= 2**31 - 1:
                continue
            raise ctx.error("slicing a dynamic (batch) axis is not supported")
        index = np.arange(size)[slice(start, end, step)]
        if len(index) == size and step == 1:
            continue
        t = _take(ctx, t, axis, index)
    return t


def convert_split(ctx: NodeContext) -> list[Value | None]:
    t = ctx.tensor(0)
    axis = normalize_axis(int(ctx.attr("axis", 0)), t.rank)
    size = t.onnx_shape[axis]
    if size is None:
        raise ctx.error("splitting a dynamic (batch) axis is not supported")
    n_out = len(ctx.node.output)
    split = ctx.ints(1, "split", "split")
    if split is None:
        chunk = -(-size // n_out)
        split = [min(chunk, size - i * chunk) for i in range(n_out)]
    bounds = np.cumsum(split)[:-1].tolist()
    parts = ops.split(t.value, bounds, axis=t.keras_axis(axis)) if bounds else [t.value]
    return [Tensor(p, t.perm) for p in parts]


def convert_split_to_sequence(ctx: NodeContext) -> TensorSequence:
    if int(ctx.attr("keepdims", 1)) == 0 and ctx.input(1) is None:
        raise ctx.error("keepdims=0 is not supported")
    t = ctx.tensor(0)
    axis = normalize_axis(int(ctx.attr("axis", 0)), t.rank)
    size = t.onnx_shape[axis]
    split = ctx.const(1, "split")
    if size is None:
        raise ctx.error("splitting a dynamic (batch) axis is not supported")
    if split is None:
        sizes = [1] * size
    elif split.ndim == 0:
        chunk = int(split)
        sizes = [min(chunk, size - i) for i in range(0, size, chunk)]
    else:
        sizes = [int(v) for v in split]
    bounds = np.cumsum(sizes)[:-1].tolist()
    parts = ops.split(t.value, bounds, axis=t.keras_axis(axis)) if bounds else [t.value]
    return TensorSequence(tuple(Tensor(p, t.perm) for p in parts))


def convert_sequence_at(ctx: NodeContext) -> Value:
    sequence, position = ctx.input(0), ctx.const(1, "position")
    if not isinstance(sequence, TensorSequence) or position is None:
        raise ctx.error("expected a sequence and a constant position")
    return sequence.items[int(position)]


def convert_reduce(fn: Callable[..., Any]) -> Converter:
    def convert(ctx: NodeContext) -> Tensor:
        t = ctx.tensor(0)
        axes = ctx.ints(1, "axes", "axes")
        keepdims = bool(ctx.attr("keepdims", 1))
        if not axes:
            if int(ctx.attr("noop_with_empty_axes", 0)):
                return t
            axes = list(range(t.rank))
        onnx_axes = {normalize_axis(a, t.rank) for a in axes}
        keras_axes = tuple(sorted(t.perm.index(a) for a in onnx_axes))
        y = fn(t.value, axis=keras_axes, keepdims=keepdims)
        return Tensor(y, t.perm if keepdims else _dropped_axes_perm(t.perm, onnx_axes))

    return convert


def _reduce_l2(x: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    return ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=keepdims))


def _reduce_sum_square(x: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    return ops.sum(ops.square(x), axis=axis, keepdims=keepdims)


def convert_pad(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    mode = ctx.attr("mode", "constant")
    if mode not in ("constant", "reflect"):
        raise ctx.error(f"mode='{mode}' is not supported (constant and reflect are)")
    pads = ctx.ints(1, "pads", "pads")
    if pads is None:
        raise ctx.error("missing pads")
    value = ctx.const(2, "constant_value")
    fill = float(value.reshape(())) if value is not None and value.size else float(ctx.attr("value", 0.0))
    axes = ctx.ints(3, "axes", "axes") or list(range(t.rank))
    if any(p < 0 for p in pads):
        raise ctx.error("negative pads (cropping) are not supported")
    per_axis = {normalize_axis(a, t.rank): pair for a, pair in zip(axes, _pairs(pads, len(axes)))}
    if per_axis.get(0, (0, 0)) != (0, 0):
        raise ctx.error("padding the batch axis is not supported")
    width = [per_axis.get(a, (0, 0)) for a in t.perm]
    if mode == "constant":
        return Tensor(ops.pad(t.value, width, constant_values=fill), t.perm)
    return Tensor(ops.pad(t.value, width, mode="reflect"), t.perm)


def convert_resize(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    if t.rank != 4:
        raise ctx.error("only 4-D (N, C, H, W) Resize is supported")
    mode = ctx.attr("mode", "nearest")
    transform = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if ctx.opset < 11:
        scales, sizes = ctx.const(1, "scales"), None
    else:
        scales, sizes = ctx.const(2, "scales"), ctx.const(3, "sizes")
    axes = ctx.attr("axes")
    if axes is not None and [normalize_axis(int(a), 4) for a in axes] != [2, 3]:
        raise ctx.error(f"axes={list(axes)} is not supported (only the spatial axes [2, 3])")
    if ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise ctx.error("keep_aspect_ratio_policy other than 'stretch' is not supported")
    dims = _static_dims(ctx, t.onnx_shape[1:], "Resize input")
    h, w = dims[1], dims[2]
    if sizes is not None and sizes.size:
        out_h, out_w = int(sizes[-2]), int(sizes[-1])
        lead = sizes[:2] if sizes.size == 4 else None
        if lead is not None and int(lead[1]) != dims[0]:
            raise ctx.error("resizing the channel axis is not supported")
    elif scales is not None and scales.size:
        if scales.size == 4 and (scales[0] != 1 or scales[1] != 1):
            raise ctx.error("resizing the batch or channel axis is not supported")
        out_h, out_w = int(math.floor(h * float(scales[-2]))), int(math.floor(w * float(scales[-1])))
        # Keras resizes to a size (ratio out/in); ONNX maps coordinates with the given scale.
        if not (np.isclose(out_h / h, float(scales[-2])) and np.isclose(out_w / w, float(scales[-1]))):
            raise ctx.error(f"scales {list(scales)} do not give a whole output size for a {h}x{w} input")
    else:
        raise ctx.error("either scales or sizes must be a constant")
    x = ctx.channels_last(t)
    integer = out_h % h == 0 and out_w % w == 0
    if mode == "nearest":
        nearest_mode = ctx.attr("nearest_mode", "round_prefer_floor")
        # UpSampling2D repeats pixels (source = dst // factor). For integer factors that is exactly
        # asymmetric+floor, and half_pixel with rounding (the offset never reaches a tie).
        half_pixel_round = transform in ("half_pixel", "pytorch_half_pixel") and nearest_mode.startswith("round")
        exact = (transform == "asymmetric" and nearest_mode == "floor") or half_pixel_round
        if not (integer and exact):
            raise ctx.error(
                f"nearest Resize is supported for integer upscaling only (got {h}x{w}->{out_h}x{out_w}, "
                f"coordinate_transformation_mode='{transform}', nearest_mode='{nearest_mode}')"
            )
        layer = layers.UpSampling2D(
            (out_h // h, out_w // w), data_format="channels_last", interpolation="nearest", name=ctx.layer_name()
        )
        return Tensor(layer(x.value), x.perm)
    if mode == "linear":
        pytorch_degenerate = transform == "pytorch_half_pixel" and min(out_h, out_w) == 1
        if transform not in ("half_pixel", "pytorch_half_pixel") or pytorch_degenerate:
            raise ctx.error(
                f"coordinate_transformation_mode='{transform}' is not supported for linear Resize (half_pixel is)"
            )
        if ctx.attr("antialias", 0):
            raise ctx.error("antialias=1 is not supported")
        if integer:
            layer = layers.UpSampling2D(
                (out_h // h, out_w // w), data_format="channels_last", interpolation="bilinear", name=ctx.layer_name()
            )
        else:
            layer = layers.Resizing(
                out_h, out_w, interpolation="bilinear", data_format="channels_last", name=ctx.layer_name()
            )
        return Tensor(layer(x.value), x.perm)
    raise ctx.error(f"mode='{mode}' is not supported (nearest and linear are)")


# --------------------------------------------------------------------------- constant folding of shape vectors


def _fold_symbolic(ctx: NodeContext) -> list[np.ndarray] | None:
    """Fold shape-vector ops whose inputs hold symbolic dims (object arrays); None if not handled."""
    op, x = ctx.op_type, ctx.inputs[0] if ctx.inputs else None
    if op in ("Identity", "Cast"):
        return [x]  # type: ignore[list-item]
    if op == "Concat":
        parts = [v.astype(object) for v in ctx.inputs if isinstance(v, np.ndarray)]
        return [np.concatenate(parts, axis=int(ctx.attr("axis")))]
    if op == "Gather":
        return [np.take(x, ctx.inputs[1], axis=int(ctx.attr("axis", 0)))]  # type: ignore[arg-type]
    if op == "Unsqueeze":
        axes = ctx.ints(1, "axes", "axes") or []
        out = x
        for a in sorted(normalize_axis(a, x.ndim + len(axes)) for a in axes):  # type: ignore[union-attr]
            out = np.expand_dims(out, a)  # type: ignore[arg-type]
        return [out]  # type: ignore[list-item]
    if op == "Squeeze":
        axes = ctx.ints(1, "axes", "axes")
        return [np.squeeze(x, axis=tuple(axes) if axes else None)]  # type: ignore[arg-type]
    if op == "Slice":
        starts, ends = ctx.ints(1, "starts", "starts"), ctx.ints(2, "ends", "ends")
        axes = ctx.ints(3, "axes", "axes") or list(range(len(starts or [])))
        steps = ctx.ints(4, "steps", "steps") or [1] * len(axes)
        index: list[slice] = [slice(None)] * x.ndim  # type: ignore[union-attr]
        for s, e, a, st in zip(starts or [], ends or [], axes, steps):
            index[normalize_axis(a, x.ndim)] = slice(s, e, st)  # type: ignore[union-attr]
        return [x[tuple(index)]]  # type: ignore[index]
    if op == "Reshape":
        return [np.reshape(x, [int(v) for v in ctx.inputs[1].reshape(-1)])]  # type: ignore[union-attr]
    return None


_NON_DETERMINISTIC = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


def fold_constants(ctx: NodeContext) -> list[np.ndarray] | None:
    """Evaluate a node whose inputs are all constants; None if it must be converted instead."""
    if ctx.op_type in _NON_DETERMINISTIC:
        raise ctx.error("non-deterministic ops cannot be converted")
    if ctx.op_type == "Constant":
        return [convert_constant(ctx)]
    values = [v for v in ctx.inputs if v is not None]
    if any(not isinstance(v, np.ndarray) for v in values):
        return None
    if any(v.dtype == object for v in values):
        symbolic = _fold_symbolic(ctx)
        if symbolic is None:
            raise ctx.error("cannot constant-fold this op over a symbolic (runtime) shape value")
        arrays = [np.asarray(v, dtype=object) for v in symbolic]
        return [
            a if any(isinstance(e, Sym) for e in a.reshape(-1)) else np.array(a.tolist(), dtype=np.int64)
            for a in arrays
        ]
    from onnx.reference import ReferenceEvaluator

    feeds = {name: value for name, value in zip(ctx.node.input, ctx.inputs) if name and value is not None}
    evaluator = ReferenceEvaluator(ctx.node, opsets={"": ctx.opset})
    results = evaluator.run(None, feeds)
    return [np.asarray(r) for r in results]


# --------------------------------------------------------------------------- dispatch table


OP_CONVERTERS: dict[str, Converter] = {
    # constants and shape arithmetic (folded when their inputs are constant)
    "Constant": convert_constant,
    "Shape": convert_shape,
    "Size": convert_size,
    "Identity": convert_identity,
    "Dropout": convert_dropout,
    "Cast": convert_cast,
    "CastLike": convert_cast_like,
    # activations
    "Relu": convert_relu,
    "LeakyRelu": convert_leaky_relu,
    "Elu": convert_elu,
    "Sigmoid": _activation("sigmoid"),
    "Tanh": _activation("tanh"),
    "Softplus": _activation("softplus"),
    "HardSwish": _activation("hard_silu"),
    "Gelu": convert_gelu,
    "HardSigmoid": convert_hard_sigmoid,
    "Softmax": convert_softmax,
    "LogSoftmax": lambda ctx: convert_softmax(ctx, log=True),
    "Clip": convert_clip,
    # elementwise math
    "Abs": _unary_op(ops.abs),
    "Sqrt": _unary_op(ops.sqrt),
    "Neg": _unary_op(ops.negative),
    "Exp": _unary_op(ops.exp),
    "Log": _unary_op(ops.log),
    "Erf": _unary_op(ops.erf),
    "Floor": _unary_op(ops.floor),
    "Ceil": _unary_op(ops.ceil),
    "Reciprocal": _unary_op(ops.reciprocal),
    "Sign": _unary_op(ops.sign),
    "Sin": _unary_op(ops.sin),
    "Cos": _unary_op(ops.cos),
    "Add": _binary_op(ops.add),
    "Sub": _binary_op(ops.subtract),
    "Mul": _binary_op(ops.multiply),
    "Div": _binary_op(ops.divide),
    "Max": _binary_op(ops.maximum),
    "Min": _binary_op(ops.minimum),
    "Pow": convert_pow,
    # linear algebra, conv, pooling, normalisation
    "Gemm": convert_gemm,
    "MatMul": convert_matmul,
    "Conv": convert_conv,
    "ConvTranspose": convert_conv_transpose,
    "MaxPool": convert_max_pool,
    "AveragePool": convert_average_pool,
    "GlobalAveragePool": _global_pool(_GLOBAL_AVG),
    "GlobalMaxPool": _global_pool(_GLOBAL_MAX),
    "BatchNormalization": convert_batch_norm,
    "LayerNormalization": convert_layer_norm,
    # reductions
    "ReduceSum": convert_reduce(ops.sum),
    "ReduceMean": convert_reduce(ops.mean),
    "ReduceMax": convert_reduce(ops.max),
    "ReduceMin": convert_reduce(ops.min),
    "ReduceProd": convert_reduce(ops.prod),
    "ReduceL2": convert_reduce(_reduce_l2),
    "ReduceSumSquare": convert_reduce(_reduce_sum_square),
    # layout / indexing
    "Transpose": convert_transpose,
    "Concat": convert_concat,
    "Flatten": convert_flatten,
    "Reshape": convert_reshape,
    "Squeeze": convert_squeeze,
    "Unsqueeze": convert_unsqueeze,
    "Gather": convert_gather,
    "GatherND": convert_gather_nd,
    "Slice": convert_slice,
    "Split": convert_split,
    "SplitToSequence": convert_split_to_sequence,
    "SequenceAt": convert_sequence_at,
    "Pad": convert_pad,
    "Resize": convert_resize,
}
