"""Resize: Keras UpSampling2D/Resizing layers where they compute exactly what ONNX asks, otherwise a
separable resampling by constant matrices (any mode, rank, coordinate transformation and antialias).

Every ONNX Resize mode is separable: along each resized axis the output is a fixed linear map of the
input (plus, for ``tf_crop_and_resize``, the extrapolation value outside the ROI). The map is read off
the ONNX reference implementation itself by resizing the unit vectors of that axis, so the
coefficients are ONNX's by construction.
"""

from __future__ import annotations

import math

import numpy as np
from keras import layers, ops

from exporters.keras_ops.core import (
    NodeContext,
    normalize_axis,
    register_all,
    take,
    Tensor,
    UnsupportedOpError,
    _static_dims,
)


def convert_resize(ctx: NodeContext) -> Tensor:
    try:
        return _resize_with_layers(ctx)
    except UnsupportedOpError:
        return _resize_separable(ctx)


def _resize_with_layers(ctx: NodeContext) -> Tensor:
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


def _full_rank(ctx: NodeContext, values: np.ndarray | None, rank: int, fill: float) -> list[float] | None:
    """scales/sizes given for the ``axes`` attribute's axes only, spread to every axis."""
    if values is None or not values.size:
        return None
    axes = ctx.attr("axes")
    if axes is None:
        return [float(v) for v in values]
    full = [fill] * rank
    for a, v in zip(axes, values):
        full[normalize_axis(int(a), rank)] = float(v)
    return full


def _axis_resampling(
    ctx: NodeContext, size: int, scale: float | None, out_size: int | None, roi: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(M, c) with ``resize_1d(v) == M @ v + c`` for this node's attributes along one axis."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    keep = {"mode", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside", "extrapolation_value",
            "nearest_mode", "antialias"}
    attributes = {a.name: helper.get_attribute_value(a) for a in ctx.node.attribute if a.name in keep}
    inputs = ["x", "roi", "scales", "sizes"] if ctx.opset >= 11 else ["x", "scales"]
    node = helper.make_node("Resize", inputs, ["y"], **attributes)
    feeds: dict[str, np.ndarray] = {}
    if ctx.opset >= 11:
        feeds["roi"] = np.array(roi, dtype=np.float32)
        feeds["scales"] = np.array([scale] if out_size is None else [], dtype=np.float32)
        feeds["sizes"] = np.array([out_size] if out_size is not None else [], dtype=np.int64)
        if out_size is None:
            node.input[3] = ""
        else:
            node.input[2] = ""
            del feeds["scales"]
        if out_size is None:
            del feeds["sizes"]
    else:
        feeds["scales"] = np.array([scale], dtype=np.float32)
    evaluator = ReferenceEvaluator(node, opsets={"": ctx.opset})
    probe = np.zeros(size, dtype=np.float64)
    offset = evaluator.run(None, {"x": probe, **feeds})[0]
    columns = []
    for i in range(size):
        probe = np.zeros(size, dtype=np.float64)
        probe[i] = 1.0
        columns.append(evaluator.run(None, {"x": probe, **feeds})[0] - offset)
    return np.stack(columns, axis=1), offset


def _resize_separable(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    rank = t.rank
    mode = ctx.attr("mode", "nearest")
    if mode != "nearest" and not str(t.value.dtype).startswith("float"):
        raise ctx.error(f"{mode} Resize of a {t.value.dtype} tensor is not supported")
    if ctx.opset < 11:
        roi_c, scales, sizes = None, _full_rank(ctx, ctx.const(1, "scales"), rank, 1.0), None
    else:
        roi_c = ctx.const(1, "roi")
        scales = _full_rank(ctx, ctx.const(2, "scales"), rank, 1.0)
        sizes = _full_rank(ctx, ctx.const(3, "sizes"), rank, -1.0)
    if scales is None and sizes is None:
        raise ctx.error("either scales or sizes must be a constant")
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    if sizes is not None and policy != "stretch":
        sizes = _keep_aspect_ratio(ctx, t, sizes, policy)
    transform = ctx.attr("coordinate_transformation_mode", "half_pixel")
    roi = [0.0] * rank + [1.0] * rank
    if roi_c is not None and roi_c.size and transform == "tf_crop_and_resize":
        roi = [float(v) for v in _full_rank_roi(ctx, roi_c, rank)]
    x, perm = t.value, t.perm
    for axis in range(rank):
        size = t.onnx_shape[axis]
        scale = scales[axis] if scales is not None else None
        out_size = int(sizes[axis]) if sizes is not None and sizes[axis] >= 0 else None
        if out_size is None and scale is None:
            continue
        unchanged = scale == 1.0 if out_size is None else out_size == size
        if unchanged and (transform != "tf_crop_and_resize" or (roi[axis], roi[axis + rank]) == (0.0, 1.0)):
            continue  # every coordinate transformation maps an unscaled axis onto itself
        if size is None:
            raise ctx.error(f"resizing the dynamic axis {axis} is not supported")
        matrix, offset = _axis_resampling(ctx, int(size), scale, out_size, (roi[axis], roi[axis + rank]))
        if mode == "nearest" and not offset.any() and ((matrix == 0) | (matrix == 1)).all() and (
            matrix.sum(axis=1) == 1
        ).all():
            x = take(x, matrix.argmax(axis=1).astype(np.int32), axis=axis)  # exact, also for NaN/inf
            continue
        moved = ops.moveaxis(x, axis, -1)
        moved = ops.matmul(moved, matrix.T.astype(np.float32))
        if offset.any():
            moved = ops.add(moved, offset.astype(np.float32))
        x = ops.moveaxis(moved, -1, axis)
    return Tensor(x, perm)


def _keep_aspect_ratio(ctx: NodeContext, t: Tensor, sizes: list[float], policy: str) -> list[float]:
    """ONNX: one scale for the given axes (the min or max of sizes/input), out = round(scale * in)."""
    rank = t.rank
    axes = [normalize_axis(int(a), rank) for a in (ctx.attr("axes") or range(rank))]
    dims = [t.onnx_shape[a] for a in axes]
    if any(d is None for d in dims):
        raise ctx.error(f"attribute keep_aspect_ratio_policy='{policy}' needs static resized axes")
    ratios = [sizes[a] / d for a, d in zip(axes, dims)]  # type: ignore[operator]
    if policy not in ("not_larger", "not_smaller"):
        raise ctx.error(f"attribute keep_aspect_ratio_policy='{policy}' is not supported")
    scale = min(ratios) if policy == "not_larger" else max(ratios)
    out = list(sizes)
    for a, d in zip(axes, dims):
        out[a] = float(round(scale * d))  # type: ignore[operator]
    return out


def _full_rank_roi(ctx: NodeContext, roi: np.ndarray, rank: int) -> list[float]:
    axes = ctx.attr("axes")
    values = [float(v) for v in roi.reshape(-1)]
    if axes is None:
        return values
    full = [0.0] * rank + [1.0] * rank
    n = len(axes)
    for i, a in enumerate(axes):
        a = normalize_axis(int(a), rank)
        full[a], full[a + rank] = values[i], values[i + n]
    return full


def upsample_matrix(size: int, scale: float, mode: str) -> np.ndarray:
    """(out, in) map of ONNX Upsample (opsets 7-9) along one axis: output size floor(size * scale), source
    coordinate dst / scale (asymmetric); nearest takes floor(source), linear interpolates its two neighbours
    (clamped at the border)."""
    out = int(math.floor(size * scale))
    src = np.arange(out, dtype=np.float64) / scale
    matrix = np.zeros((out, size), np.float64)
    lo = np.minimum(np.floor(src).astype(int), size - 1)
    if mode == "nearest":
        matrix[np.arange(out), lo] = 1.0
        return matrix
    hi = np.minimum(lo + 1, size - 1)
    frac = np.clip(src - lo, 0.0, 1.0)
    np.add.at(matrix, (np.arange(out), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(out), hi), frac)
    return matrix


def convert_upsample(ctx: NodeContext) -> Tensor:
    """ONNX Upsample (deprecated since opset 10, still written by old exporters): scales from the second
    input (opset 9) or the attribute (opset 7); nearest or (bi)linear, asymmetric coordinates."""
    t = ctx.onnx_layout(ctx.tensor(0))
    mode = ctx.attr("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise ctx.error(f"mode='{mode}' is not supported (nearest and linear are)")
    scales = ctx.const(1, "scales") if len(ctx.node.input) > 1 else ctx.attr("scales")
    if scales is None:
        raise ctx.error("scales must be a constant")
    scales = [float(v) for v in np.asarray(scales).reshape(-1)]
    if len(scales) != t.rank:
        raise ctx.error(f"{len(scales)} scales for a rank-{t.rank} input")
    if mode != "nearest" and not str(t.value.dtype).startswith("float"):
        raise ctx.error(f"{mode} Upsample of a {t.value.dtype} tensor is not supported")
    x = t.value
    for axis, scale in enumerate(scales):
        if scale == 1.0:
            continue
        size = t.onnx_shape[axis]
        if size is None:
            raise ctx.error(f"upsampling the dynamic axis {axis} is not supported")
        if scale <= 0:
            raise ctx.error(f"scale {scale} of axis {axis} is not positive")
        matrix = upsample_matrix(int(size), scale, "nearest" if mode == "nearest" else "linear")
        if mode == "nearest":
            x = take(x, matrix.argmax(axis=1).astype(np.int32), axis=axis)  # exact, also for NaN/inf and integers
            continue
        moved = ops.matmul(ops.moveaxis(x, axis, -1), matrix.T.astype(np.float32))
        x = ops.moveaxis(moved, -1, axis)
    return Tensor(x, t.perm)


register_all(
    {
    "Resize": convert_resize,
    "Upsample": convert_upsample,
    }
)
