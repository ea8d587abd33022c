"""Convolution and pooling (channels-last Keras layers)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from keras import layers, ops

from exporters.keras_ops.core import (
    Converter,
    NodeContext,
    register_all,
    take,
    Tensor,
    Value,
    _AVG_POOL,
    _CONV,
    _CONV_T,
    _crop,
    _DEPTHWISE,
    _GLOBAL_AVG,
    _GLOBAL_MAX,
    _MAX_POOL,
    _set_weights,
    _spatial_attrs,
    _static_dims,
    _zero_pad,
)


def convert_conv(ctx: NodeContext) -> Tensor:
    t = ctx.channels_last(ctx.tensor(0))
    weight = ctx.const(1, "weight")
    bias = ctx.const(2, "bias")
    if weight is None:
        raise ctx.error("missing weight")
    n = t.rank - 2
    if n not in _CONV:
        raise ctx.error(f"{n}-D convolution is not supported")
    strides, dilations, pads = _spatial_attrs(ctx, n, t.value.shape[1:-1], list(weight.shape[2:]))
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


def _conv_transpose_pads(
    ctx: NodeContext, sizes: list[int], kernel: list[int], strides: list[int], dilations: list[int],
    output_padding: list[int],
) -> list[tuple[int, int]]:
    """(begin, end) cropping of the full transposed-conv output: explicit pads, or from output_shape /
    auto_pad=SAME_* (total = full length - wanted length, split as the ONNX spec says)."""
    n = len(sizes)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    output_shape = ctx.attr("output_shape")
    if output_shape is None and auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        if auto_pad not in ("NOTSET", "VALID"):
            raise ctx.error(f"attribute auto_pad='{auto_pad}' is not supported")
        pads = list(ctx.attr("pads", [0] * (2 * n))) if auto_pad == "NOTSET" else [0] * (2 * n)
        return [(int(pads[i]), int(pads[i + n])) for i in range(n)]
    wanted = [int(v) for v in output_shape][-n:] if output_shape is not None else [d * s for d, s in zip(sizes, strides)]
    pairs = []
    for size, k, s, d, extra, out in zip(sizes, kernel, strides, dilations, output_padding, wanted):
        total = s * (size - 1) + extra + (k - 1) * d + 1 - out  # negative: the output grows by zeros
        half = total // 2
        pairs.append((half, total - half) if auto_pad == "SAME_UPPER" else (total - half, half))
    return pairs


def convert_conv_transpose(ctx: NodeContext) -> Tensor:
    t = ctx.channels_last(ctx.tensor(0))
    weight = ctx.const(1, "weight")
    bias = ctx.const(2, "bias")
    if weight is None:
        raise ctx.error("missing weight")
    n = t.rank - 2
    if n not in _CONV_T:
        raise ctx.error(f"{n}-D ConvTranspose is not supported")
    strides = [int(v) for v in ctx.attr("strides", [1] * n)]
    dilations = [int(v) for v in ctx.attr("dilations", [1] * n)]
    if max(strides) > 1 and max(dilations) > 1:
        raise ctx.error(f"attributes strides={strides} with dilations={dilations}: Keras cannot combine them")
    group = int(ctx.attr("group", 1))
    kernel = list(weight.shape[2:])
    sizes = _static_dims(ctx, t.value.shape[1:-1], "ConvTranspose spatial input")
    output_padding = [int(v) for v in ctx.attr("output_padding", [0] * n)]
    pads = _conv_transpose_pads(ctx, sizes, kernel, strides, dilations, output_padding)
    spatial = tuple(range(2, 2 + n))
    c_in = weight.shape[0]
    per_group = c_in // group
    outputs = []
    for g in range(group):  # Keras Conv*DTranspose has no groups: one layer per group, concatenated
        x = t.value if group == 1 else t.value[(slice(None),) * (n + 1) + (slice(g * per_group, (g + 1) * per_group),)]
        layer = _CONV_T[n](
            filters=weight.shape[1],
            kernel_size=tuple(kernel),
            strides=tuple(strides),
            dilation_rate=tuple(dilations),
            padding="valid",
            use_bias=False,
            data_format="channels_last",
            name=ctx.layer_name(f"g{g}" if group > 1 else ""),
        )
        y = layer(x)
        # ONNX weight (C_in, C_out/group, k...) -> Keras (k..., C_out/group, C_in/group)
        _set_weights(layer, [weight[g * per_group : (g + 1) * per_group].transpose(*spatial, 1, 0)])
        outputs.append(y)
    y = outputs[0] if group == 1 else layers.Concatenate(axis=-1, name=ctx.layer_name("concat"))(outputs)
    # output_padding and negative pads add rows no input reaches: zeros, before the bias
    grow = [(max(0, -b), e + max(0, -end)) for e, (b, end) in zip(output_padding, pads)]
    if any(b or e for b, e in grow):
        y = _zero_pad(ctx, y, grow)
    y = _crop(ctx, y, [(max(0, b), max(0, e)) for b, e in pads])
    if bias is not None:
        y = ops.add(y, bias.astype(np.float32))
    return Tensor(y, t.perm)


def _pool_geometry(
    ctx: NodeContext, t: Tensor, n: int
) -> tuple[list[int], list[int], list[int], list[tuple[int, int]], list[tuple[int, int]]]:
    """kernel, strides, dilations, ONNX pads, and the extra end padding ceil_mode needs (per spatial dim)."""
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    strides, dilations, pads = _spatial_attrs(ctx, n, t.value.shape[1:-1], kernel)
    extra: list[tuple[int, int]] = [(0, 0)] * n
    if int(ctx.attr("ceil_mode", 0)):
        sizes = _static_dims(ctx, t.value.shape[1:-1], "ceil_mode pooling input")
        extra = []
        for size, k, s, d, (b, e) in zip(sizes, kernel, strides, dilations, pads):
            span = (k - 1) * d + 1
            out = -(-(size + b + e - span) // s) + 1
            if (out - 1) * s >= size + b:  # the last window must start inside input or left pad
                out -= 1
            extra.append((0, max(0, (out - 1) * s + span - (size + b + e))))
    return kernel, strides, dilations, pads, extra


def _lowest(dtype_name: str) -> float | int:
    dtype = np.dtype(dtype_name)
    return int(np.iinfo(dtype).min) if dtype.kind in "iu" else float(np.finfo(dtype).min)


def _dilated_pool(x: Any, kernel: list[int], strides: list[int], dilations: list[int], combine: Callable) -> Any:
    """Pool an already padded channels-last tensor one spatial axis at a time (max and sum are separable):
    the window element j of output i along an axis is input ``i * stride + j * dilation``."""
    for axis, (k, s, d) in enumerate(zip(kernel, strides, dilations), start=1):
        size = x.shape[axis]
        out = (size - ((k - 1) * d + 1)) // s + 1
        parts = [take(x, (np.arange(out) * s + j * d).astype(np.int32), axis=axis) for j in range(k)]
        x = parts[0]
        for part in parts[1:]:
            x = combine(x, part)
    return x


def convert_max_pool(ctx: NodeContext) -> list[Value | None]:
    t = ctx.channels_last(ctx.tensor(0))
    n = t.rank - 2
    if ctx.output_used(1):
        raise ctx.error("the Indices output is not supported")
    if int(ctx.attr("storage_order", 0)) != 0:
        raise ctx.error("attribute storage_order=1 is not supported")
    kernel, strides, dilations, pads, extra = _pool_geometry(ctx, t, n)
    total = [(b + xb, e + xe) for (b, e), (xb, xe) in zip(pads, extra)]
    x = t.value
    if any(b or e for b, e in total):
        # Padded cells must never win the max: pad with the lowest value of the type, not zero.
        x = ops.pad(x, [(0, 0), *total, (0, 0)], constant_values=_lowest(str(x.dtype)))
    if max(dilations) > 1:
        _static_dims(ctx, t.value.shape[1:-1], "dilated MaxPool input")
        return [Tensor(_dilated_pool(x, kernel, strides, dilations, ops.maximum), t.perm), None]
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
    dilations: list[int],
    pads: list[tuple[int, int]],
    extra: list[tuple[int, int]],
    include_pad: bool,
) -> np.ndarray:
    """Per-output-position element count ONNX divides by (1-D counts multiplied out)."""
    factors = []
    for size, k, s, d, (b, e), (_, extra_end) in zip(sizes, kernel, strides, dilations, pads, extra):
        out = (size + b + e + extra_end - ((k - 1) * d + 1)) // s + 1
        positions = (np.arange(out) * s - b)[:, None] + np.arange(k)[None, :] * d
        low, high = (-b, size + e) if include_pad else (0, size)  # the ceil_mode overhang never counts
        counts = ((positions >= low) & (positions < high)).sum(axis=1)
        factors.append(counts.astype(np.float64))
    result = factors[0]
    for f in factors[1:]:
        result = np.multiply.outer(result, f)
    return result


def convert_average_pool(ctx: NodeContext) -> Tensor:
    t = ctx.channels_last(ctx.tensor(0))
    n = t.rank - 2
    kernel, strides, dilations, pads, extra = _pool_geometry(ctx, t, n)
    include_pad = bool(ctx.attr("count_include_pad", 0))
    total = [(b + xb, e + xe) for (b, e), (xb, xe) in zip(pads, extra)]
    x = _zero_pad(ctx, t.value, total)
    if max(dilations) > 1:
        sizes = _static_dims(ctx, t.value.shape[1:-1], "dilated AveragePool input")
        summed = _dilated_pool(x, kernel, strides, dilations, ops.add)
        divisor = _avg_pool_divisor(sizes, kernel, strides, dilations, pads, extra, include_pad)
        return Tensor(ops.multiply(summed, (1.0 / divisor).astype(np.float32)[None, ..., None]), t.perm)
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
        divisor = _avg_pool_divisor(sizes, kernel, strides, dilations, pads, extra, include_pad)
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


register_all(
    {
    "Conv": convert_conv,
    "ConvTranspose": convert_conv_transpose,
    "MaxPool": convert_max_pool,
    "AveragePool": convert_average_pool,
    "GlobalAveragePool": _global_pool(_GLOBAL_AVG),
    "GlobalMaxPool": _global_pool(_GLOBAL_MAX),
    }
)
