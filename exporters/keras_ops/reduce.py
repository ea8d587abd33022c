"""Reductions over ONNX axes."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from keras import ops

from exporters.keras_ops.core import (
    Converter,
    NodeContext,
    normalize_axis,
    register_all,
    Tensor,
    Value,
    _dropped_axes_perm,
)


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
        if fn in _EMPTY_FILL and any(t.onnx_shape[a] == 0 for a in onnx_axes):
            # torch refuses max/min of nothing; ONNX defines them as the lowest/highest value.
            zeros = ops.sum(ops.zeros_like(t.value), axis=keras_axes, keepdims=keepdims)
            y = ops.add(zeros, _EMPTY_FILL[fn](np.dtype(str(t.value.dtype))))
        else:
            y = fn(t.value, axis=keras_axes, keepdims=keepdims)
        return Tensor(y, t.perm if keepdims else _dropped_axes_perm(t.perm, onnx_axes))

    return convert


def _extreme(dtype: np.dtype, lowest: bool) -> float | int | bool:
    if dtype == np.bool_:
        return not lowest
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(info.min if lowest else info.max)
    return -math.inf if lowest else math.inf


_EMPTY_FILL: dict[Callable[..., Any], Callable[[np.dtype], Any]] = {
    ops.max: lambda dtype: _extreme(dtype, lowest=True),
    ops.min: lambda dtype: _extreme(dtype, lowest=False),
}


def _reduce_log_sum_exp(x: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    return ops.logsumexp(x, axis=axis, keepdims=keepdims)


def _reduce_l1(x: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    return ops.sum(ops.abs(x), axis=axis, keepdims=keepdims)


def _reduce_log_sum(x: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    return ops.log(ops.sum(x, axis=axis, keepdims=keepdims))


def _reduce_l2(x: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    return ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=keepdims))


def _reduce_sum_square(x: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
    return ops.sum(ops.square(x), axis=axis, keepdims=keepdims)


def _arg_reduce(fn: Callable[..., Any], flipped_sign: int) -> Converter:
    def convert(ctx: NodeContext) -> Tensor:
        t = ctx.tensor(0)
        axis = normalize_axis(int(ctx.attr("axis", 0)), t.rank)
        keepdims = bool(ctx.attr("keepdims", 1))
        keras_axis = t.keras_axis(axis)
        if int(ctx.attr("select_last_index", 0)):
            size = t.onnx_shape[axis]
            if size is None:
                raise ctx.error("attribute select_last_index=1 needs a static axis")
            y = ops.subtract(size - 1, fn(ops.flip(t.value, axis=keras_axis), axis=keras_axis, keepdims=keepdims))
        else:
            y = fn(t.value, axis=keras_axis, keepdims=keepdims)
        return Tensor(ops.cast(y, "int64"), t.perm if keepdims else _dropped_axes_perm(t.perm, {axis}))

    return convert


def convert_top_k(ctx: NodeContext) -> list[Value | None]:
    t = ctx.onnx_layout(ctx.tensor(0))
    k = ctx.ints(1, "k", "k")
    if not k:
        raise ctx.error("K must be a constant")
    axis = normalize_axis(int(ctx.attr("axis", -1)), t.rank)
    largest = bool(ctx.attr("largest", 1))
    x = ops.moveaxis(t.value, axis, -1)
    # A stable sort keeps ONNX's order among equal values (lower index first); torch.topk does not.
    order = ops.argsort(ops.negative(x) if largest else x, axis=-1)
    indices = order[..., : int(k[0])]
    values = ops.take_along_axis(x, indices, axis=-1)
    values, indices = ops.moveaxis(values, -1, axis), ops.moveaxis(ops.cast(indices, "int64"), -1, axis)
    return [Tensor(values, t.perm), Tensor(indices, t.perm)]


def convert_cumsum(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    axis_value = ctx.const(1, "axis")
    if axis_value is None:
        raise ctx.error("axis must be a constant")
    axis = t.keras_axis(int(axis_value.reshape(())))
    x = t.value
    reverse, exclusive = bool(ctx.attr("reverse", 0)), bool(ctx.attr("exclusive", 0))
    if reverse:
        x = ops.flip(x, axis=axis)
    y = ops.cumsum(x, axis=axis)
    if exclusive:
        y = ops.subtract(y, x)
    if reverse:
        y = ops.flip(y, axis=axis)
    return Tensor(y, t.perm)


register_all(
    {
    "ReduceSum": convert_reduce(ops.sum),
    "ReduceMean": convert_reduce(ops.mean),
    "ReduceMax": convert_reduce(ops.max),
    "ReduceMin": convert_reduce(ops.min),
    "ReduceProd": convert_reduce(ops.prod),
    "ReduceL2": convert_reduce(_reduce_l2),
    "ReduceSumSquare": convert_reduce(_reduce_sum_square),
    "ArgMax": _arg_reduce(ops.argmax, 1),
    "ArgMin": _arg_reduce(ops.argmin, -1),
    "TopK": convert_top_k,
    "CumSum": convert_cumsum,
    "ReduceLogSumExp": convert_reduce(_reduce_log_sum_exp),
    "ReduceL1": convert_reduce(_reduce_l1),
    "ReduceLogSum": convert_reduce(_reduce_log_sum),
    }
)
