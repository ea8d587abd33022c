"""Ops over runtime shapes: Range, Expand, ConstantOfShape, Tile with a symbolic (batch) dimension.

A symbolic dimension (:class:`Sym`) remembers a tensor that has it; its runtime value is recovered
in the graph as a vector of that length (one slice of the source tensor along that axis), which is
all that ``arange``-like and broadcast-like ops need, with no Python-side shape value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from exporters.keras_ops.core import NodeContext, Sym, Tensor, Value, identity_perm, register_all, take


def _ones_along(ctx: NodeContext, sym: Sym, dtype: str) -> Any:
    """A 1-D runtime tensor of ones whose length is the runtime value of ``sym``."""
    if sym.source is None:
        raise ctx.error(f"the runtime dimension '{sym.name}' has no tensor to be read from")
    x, axis = sym.source
    for other in reversed(range(len(x.shape))):
        if other != axis:
            x = take(x, 0, axis=other)
    return ops.cast(ops.ones_like(x), dtype)


def _shape_entries(ctx: NodeContext, shape: np.ndarray) -> list[int | Sym]:
    entries: list[int | Sym] = []
    for v in shape.reshape(-1):
        if isinstance(v, Sym):
            entries.append(v)
        elif hasattr(v, "__int__"):
            entries.append(int(v))
        else:
            raise ctx.error(f"shape entry {v!r} is not supported")
    return entries


def runtime_zeros(ctx: NodeContext, shape: list[int | Sym], dtype: str) -> Any:
    """Zeros of ``shape`` (static ints and runtime dims) built by broadcasting per-axis vectors."""
    rank = len(shape)
    static = [d if isinstance(d, int) else 1 for d in shape]
    zeros: Any = np.zeros(static, dtype=np.dtype(dtype) if dtype != "bool" else np.float32)
    for axis, d in enumerate(shape):
        if isinstance(d, Sym):
            # (Python scalars in keras.ops become int32 tensors: no "* 0" here, or the ONNX export mixes types)
            vector = ops.zeros_like(_ones_along(ctx, d, "float32" if dtype == "bool" else dtype))
            zeros = ops.add(zeros, ops.reshape(vector, [-1 if a == axis else 1 for a in range(rank)]))
    return zeros


def convert_range(ctx: NodeContext) -> Tensor:
    start, limit, delta = (ctx.input(i) for i in range(3))
    values = []
    for v in (start, limit, delta):
        if not isinstance(v, np.ndarray):
            raise ctx.error("start, limit and delta must be constants or runtime shape values")
        values.append(v.reshape(()).item() if v.dtype != object else v.reshape(())[()])
    first, last, step = values
    if not isinstance(last, Sym) or isinstance(first, Sym) or isinstance(step, Sym):
        raise ctx.error("only a runtime limit (with constant start and delta) is supported")
    if int(step) != 1 or int(first) != 0:
        raise ctx.error("a Range up to a runtime limit is supported from start=0 with delta=1 only")
    dtype = "int64"
    counting = ops.subtract(ops.cumsum(_ones_along(ctx, last, "int32"), axis=0), 1)  # int32 throughout
    counting = ops.cast(counting, dtype)  # 0, 1, ..., limit - 1
    return Tensor(counting, (0,))


def convert_expand(ctx: NodeContext) -> Value:
    x, shape = ctx.input(0), ctx.const(1, "shape")
    assert shape is not None and x is not None
    entries = _shape_entries(ctx, shape)
    if isinstance(x, np.ndarray) and x.dtype == object:
        raise ctx.error("expanding a runtime shape vector is not supported")
    dtype = str(x.value.dtype) if isinstance(x, Tensor) else x.dtype.name
    value = ctx.onnx_layout(x).value if isinstance(x, Tensor) else x
    rank = max(len(entries), x.rank if isinstance(x, Tensor) else x.ndim)
    if all(isinstance(d, int) for d in entries) and isinstance(x, Tensor):
        zeros: Any = np.zeros(entries, dtype=np.float32 if dtype == "bool" else dtype)
    else:
        zeros = runtime_zeros(ctx, entries, dtype)
    if dtype == "bool":
        y = ops.logical_or(value, ops.cast(zeros, "bool"))
    else:
        y = ops.add(value, ops.cast(zeros, dtype))  # ONNX Expand is numpy broadcasting
    return Tensor(y, identity_perm(rank))


def convert_constant_of_shape(ctx: NodeContext) -> Tensor:
    shape = ctx.const(0, "shape")
    assert shape is not None
    fill = ctx.attr("value")
    constant = np.zeros(1, np.float32) if fill is None else np.asarray(__import__("onnx").numpy_helper.to_array(fill))
    entries = _shape_entries(ctx, shape)
    dtype = constant.dtype.name
    y = ops.add(runtime_zeros(ctx, entries, dtype if dtype != "bool" else "float32"), constant.reshape(()).item())
    return Tensor(ops.cast(y, dtype), identity_perm(len(entries)))


register_all(
    {
        "Range": convert_range,
        "Expand": convert_expand,
        "ConstantOfShape": convert_constant_of_shape,
    }
)
