"""Resize (nearest / linear upsampling)."""

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


register_all(
    {
    "Resize": convert_resize,
    }
)
