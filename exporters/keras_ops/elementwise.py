"""Elementwise math: unary keras.ops, broadcasting binary ops, Pow, Clip."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from keras import layers, ops

from exporters.keras_ops.core import *  # noqa: F403
from exporters.keras_ops.core import (  # noqa: F401
    _FLOAT32_LOWEST, _align_const, _crop, _dropped_axes_perm, _elementwise, _keras_const, _nd_arg, _pairs,
    _set_weights, _spatial_attrs, _static_dims, _zero_pad, _CONV, _DEPTHWISE, _CONV_T, _MAX_POOL, _AVG_POOL,
    _GLOBAL_AVG, _GLOBAL_MAX,
)


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


register_all(
    {
    "Clip": convert_clip,
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
    }
)
