"""Normalisation layers."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import layers, ops

from exporters.keras_ops.core import (
    NodeContext,
    normalize_axis,
    register_all,
    Tensor,
    Value,
    _set_weights,
    _static_dims,
)


def convert_batch_norm(ctx: NodeContext) -> list[Value | None]:
    t = ctx.tensor(0)
    if int(ctx.attr("training_mode", 0)) or any(ctx.output_used(i) for i in (1, 2)):
        raise ctx.error("attribute training_mode=1 (or its running-statistics outputs) is not supported; export in eval mode")
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
    if int(ctx.attr("stash_type", 1)) != 1:
        raise ctx.error("stash_type other than float32 is not supported")
    scale, bias = ctx.const(1, "scale"), ctx.const(2, "bias")
    axis = normalize_axis(int(ctx.attr("axis", -1)), t.rank)
    if axis == 0 and t.onnx_shape[0] is None:
        raise ctx.error("attribute axis=0: normalising over the dynamic batch axis is not supported")
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
    outputs: list[Value | None] = [Tensor(y, t.perm), None, None]
    if ctx.output_used(1) or ctx.output_used(2):  # training-time statistics, computed with keras.ops
        axes = tuple(range(axis, t.rank))
        x = ops.cast(t.value, "float32")
        mean = ops.mean(x, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(ops.subtract(x, mean)), axis=axes, keepdims=True)
        inv_std = ops.reciprocal(ops.sqrt(ops.add(variance, float(ctx.attr("epsilon", 1e-5)))))
        outputs[1:] = [Tensor(mean, t.perm), Tensor(inv_std, t.perm)]
    return outputs


def _normalize(x: Any, axes: tuple[int, ...], epsilon: float) -> Any:
    mean = ops.mean(x, axis=axes, keepdims=True)
    centered = ops.subtract(x, mean)
    variance = ops.mean(ops.square(centered), axis=axes, keepdims=True)
    return ops.divide(centered, ops.sqrt(ops.add(variance, epsilon)))


def convert_instance_norm(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    scale, bias = ctx.const(1, "scale"), ctx.const(2, "B")
    if scale is None or bias is None:
        raise ctx.error("scale and B must be constants")
    shape = (1, -1) + (1,) * (t.rank - 2)
    y = _normalize(t.value, tuple(range(2, t.rank)), float(ctx.attr("epsilon", 1e-5)))
    y = ops.add(ops.multiply(y, scale.reshape(shape).astype(np.float32)), bias.reshape(shape).astype(np.float32))
    return Tensor(y, t.perm)


def convert_group_norm(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    scale, bias = ctx.const(1, "scale"), ctx.const(2, "bias")
    groups = int(ctx.attr("num_groups"))
    channels = t.onnx_shape[1]
    if scale is None or bias is None or channels is None or channels % groups:
        raise ctx.error("scale and bias must be constants and the channels a static multiple of num_groups")
    if int(ctx.attr("stash_type", 1)) != 1:
        raise ctx.error("attribute stash_type other than float32 is not supported")
    spatial = _static_dims(ctx, t.onnx_shape[2:], "GroupNormalization spatial dims")
    grouped = ops.reshape(t.value, (-1, groups, channels // groups, *spatial))
    y = _normalize(grouped, tuple(range(2, len(grouped.shape))), float(ctx.attr("epsilon", 1e-5)))
    y = ops.reshape(y, (-1, channels, *spatial))
    if scale.size == groups and channels != groups:  # opset 18: one scale per group
        scale, bias = np.repeat(scale, channels // groups), np.repeat(bias, channels // groups)
    shape = (1, channels) + (1,) * len(spatial)
    y = ops.add(ops.multiply(y, scale.reshape(shape).astype(np.float32)), bias.reshape(shape).astype(np.float32))
    return Tensor(y, t.perm)


def convert_lp_norm(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    axis, p = t.keras_axis(int(ctx.attr("axis", -1))), int(ctx.attr("p", 2))
    if p == 1:
        norm = ops.sum(ops.abs(t.value), axis=axis, keepdims=True)
    elif p == 2:
        norm = ops.sqrt(ops.sum(ops.square(t.value), axis=axis, keepdims=True))
    else:
        raise ctx.error(f"attribute p={p} is not supported (1 and 2 are)")
    # ONNX: a zero norm gives 0, not NaN
    safe = ops.where(ops.equal(norm, 0), ops.ones_like(norm), norm)
    return Tensor(ops.where(ops.equal(norm, 0), ops.zeros_like(t.value), ops.divide(t.value, safe)), t.perm)


register_all(
    {
    "BatchNormalization": convert_batch_norm,
    "LayerNormalization": convert_layer_norm,
    "InstanceNormalization": convert_instance_norm,
    "GroupNormalization": convert_group_norm,
    "LpNormalization": convert_lp_norm,
    }
)
