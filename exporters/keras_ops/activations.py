"""Activations: Relu, LeakyRelu, Elu, Gelu, Softmax, ..."""

from __future__ import annotations

from typing import Any

from keras import layers, ops

from exporters.keras_ops.core import (
    Converter,
    NodeContext,
    normalize_axis,
    register_all,
    Tensor,
    _elementwise,
)
from exporters.keras_ops.elementwise import _unary_layer, _unary_op


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


def _prelu(x: Any, slope: Any) -> Any:
    return ops.where(ops.less(x, 0), ops.multiply(x, slope), x)


def convert_prelu(ctx: NodeContext) -> Tensor:
    return _elementwise(ctx, _prelu, [ctx.tensor(0), ctx.input(1)])  # type: ignore[list-item]


def convert_selu(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    alpha, gamma = float(ctx.attr("alpha", 1.67326319217681884765625)), float(ctx.attr("gamma", 1.05070102214813232421875))
    x = t.value
    y = ops.where(ops.greater(x, 0), ops.multiply(x, gamma), ops.multiply(ops.subtract(ops.exp(x), 1.0), alpha * gamma))
    return Tensor(y, t.perm)


register_all(
    {
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
    "PRelu": convert_prelu,
    "Selu": convert_selu,
    "Mish": _unary_op(lambda x: ops.multiply(x, ops.tanh(ops.softplus(x)))),
    "Softsign": _unary_op(ops.softsign),
    }
)
