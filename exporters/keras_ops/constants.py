"""Constants, shape queries, casts and pass-through ops."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from keras import ops
from onnx import numpy_helper

from exporters.keras_ops.core import (
    NodeContext,
    register_all,
    Sym,
    Tensor,
    Value,
)
from exporters.keras_ops.dtypes import KERAS_DTYPES


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
            source = (t.value, t.keras_axis(axis))
            dims.append(Sym("batch" if axis == 0 else f"{ctx.node_name}:{axis}", source))
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


def convert_cast(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    to = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(ctx.attr("to"))))
    if to.name not in KERAS_DTYPES:
        raise ctx.error(f"attribute to={to.name}: Cast of a runtime tensor to it is not supported by Keras on torch")
    if str(t.value.dtype) == to.name:
        return t
    return Tensor(ops.cast(t.value, to.name), t.perm)


def convert_cast_like(ctx: NodeContext) -> Value:
    source, like = ctx.input(0), ctx.input(1)
    dtype = np.dtype(str(like.value.dtype) if isinstance(like, Tensor) else like.dtype)  # type: ignore[union-attr]
    if isinstance(source, np.ndarray):  # constant cast to a runtime tensor's dtype
        return source if source.dtype == object else source.astype(dtype)
    t = ctx.tensor(0)
    if dtype.name not in KERAS_DTYPES:
        raise ctx.error(f"CastLike of a runtime tensor to {dtype.name} is not supported by Keras on torch")
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
        raise ctx.error("input training_mode=True is not supported (inference-only conversion)")
    if ctx.output_used(1):
        raise ctx.error("the mask output is not supported")
    return [convert_identity(ctx), None]


register_all(
    {
    "Constant": convert_constant,
    "Shape": convert_shape,
    "Size": convert_size,
    "Identity": convert_identity,
    "Dropout": convert_dropout,
    "Cast": convert_cast,
    "CastLike": convert_cast_like,
    }
)
