"""Elementwise math: unary keras.ops, broadcasting binary ops, Pow, Clip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from keras import layers, ops

from exporters.keras_ops.core import (
    Converter,
    int_like,
    NodeContext,
    register_all,
    Tensor,
    Value,
    _elementwise,
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
    lo_v = lo.reshape(()).item() if lo is not None and lo.size else ctx.attr("min")
    hi_v = hi.reshape(()).item() if hi is not None and hi.size else ctx.attr("max")
    x = t.value
    # Bounds in the tensor's own type, so an integer Clip stays integer.
    as_type = int if str(x.dtype).startswith(("int", "uint")) else float
    if lo_v is not None:
        x = ops.maximum(x, as_type(lo_v))
    if hi_v is not None:
        x = ops.minimum(x, as_type(hi_v))
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


def _divide(a: Any, b: Any) -> Any:
    """ONNX Div: true division for floats, truncation toward zero (C semantics) for integers."""
    dtype = str(getattr(a, "dtype", None) or getattr(b, "dtype", ""))
    if not dtype.startswith(("int", "uint")):
        return ops.divide(a, b)
    if dtype.startswith("uint"):
        return ops.floor_divide(a, b)
    quotient = ops.floor_divide(ops.abs(a), ops.abs(b))
    like = a if hasattr(a, "dtype") else b
    negative = ops.not_equal(ops.less(a, int_like(0, like)), ops.less(b, int_like(0, like)))
    return ops.where(negative, ops.negative(quotient), quotient)


convert_div = _binary_op(_divide)


def convert_where(ctx: NodeContext) -> Tensor:
    condition, a, b = ctx.input(0), ctx.input(1), ctx.input(2)
    if not any(isinstance(v, Tensor) for v in (condition, a, b)):
        raise ctx.error("at least one input must be a runtime tensor")
    return _elementwise(ctx, ops.where, [condition, a, b])  # type: ignore[list-item]


def _nary_logic(fn: Callable[[Any, Any], Any]) -> Converter:
    def convert(ctx: NodeContext) -> Tensor:
        return _elementwise(ctx, fn, [ctx.input(0), ctx.input(1)])  # type: ignore[list-item]

    return convert


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
    "Div": convert_div,
    "Max": _binary_op(ops.maximum),
    "Min": _binary_op(ops.minimum),
    "Pow": convert_pow,
    "Where": convert_where,
    "Equal": _nary_logic(ops.equal),
    "Less": _nary_logic(ops.less),
    "Greater": _nary_logic(ops.greater),
    "LessOrEqual": _nary_logic(ops.less_equal),
    "GreaterOrEqual": _nary_logic(ops.greater_equal),
    "And": _nary_logic(ops.logical_and),
    "Or": _nary_logic(ops.logical_or),
    "Xor": _nary_logic(ops.logical_xor),
    "Not": _unary_op(ops.logical_not),
    "IsNaN": _unary_op(ops.isnan),
    "Tan": _unary_op(ops.tan),
    "Atan": _unary_op(ops.arctan),
    "Asin": _unary_op(ops.arcsin),
    "Acos": _unary_op(ops.arccos),
    "Sinh": _unary_op(ops.sinh),
    "Cosh": _unary_op(ops.cosh),
    "Round": _unary_op(ops.round),
    }
)
