"""Gemm and MatMul (Dense layers where the weight is constant)."""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import layers, ops

from exporters.keras_ops.core import (
    identity_perm,
    NodeContext,
    register_all,
    Tensor,
    Value,
    _elementwise,
    _set_weights,
)


def _dense(ctx: NodeContext, t: Tensor, kernel: np.ndarray, bias: np.ndarray | None) -> Tensor:
    t = ctx.onnx_layout(t)
    if t.value.shape[-1] is None:
        raise ctx.error("the contracted dimension must be static")
    layer = layers.Dense(kernel.shape[1], use_bias=bias is not None, name=ctx.layer_name())
    y = layer(t.value)
    _set_weights(layer, [kernel] + ([bias] if bias is not None else []))
    return Tensor(y, t.perm)


def convert_gemm(ctx: NodeContext) -> Tensor:
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a, trans_b = int(ctx.attr("transA", 0)), int(ctx.attr("transB", 0))
    a, b, c = ctx.input(0), ctx.input(1), ctx.input(2)
    if isinstance(a, Tensor) and isinstance(b, np.ndarray) and not trans_a and not isinstance(c, Tensor):
        kernel = (b.T if trans_b else b) * alpha
        return _dense(ctx, a, kernel, _gemm_bias(ctx, kernel.shape[1], beta))
    y = ops.matmul(_matmul_operand(ctx, a, transpose=bool(trans_a)), _matmul_operand(ctx, b, transpose=bool(trans_b)))
    result = Tensor(ops.multiply(y, alpha) if alpha != 1.0 else y, (0, 1))
    if c is None:
        return result
    if isinstance(c, Tensor):
        c_scaled: Value = Tensor(ops.multiply(c.value, beta), c.perm) if beta != 1.0 else c
    else:
        c_scaled = ctx.const(2, "C") * beta  # type: ignore[operator]
    return _elementwise(ctx, ops.add, [result, c_scaled])


def _gemm_bias(ctx: NodeContext, n_out: int, beta: float) -> np.ndarray | None:
    """Gemm's C as a Dense bias: it must broadcast along the rows (shape [], [N] or [1, N])."""
    c = ctx.const(2, "C")
    if c is None:
        return None
    if c.size not in (1, n_out) or (c.ndim == 2 and c.shape[0] != 1):
        raise ctx.error(f"bias C of shape {c.shape} is not broadcastable along rows")
    return np.broadcast_to(c.reshape(-1) * beta, (n_out,)).astype(np.float32)


def _matmul_operand(ctx: NodeContext, v: Value | None, transpose: bool = False) -> Any:
    if v is None:
        raise ctx.error("missing operand")
    if isinstance(v, Tensor):
        x = ctx.onnx_layout(v).value
        return ops.swapaxes(x, -1, -2) if transpose else x
    if v.dtype == object:
        raise ctx.error("symbolic operand")
    c = v.astype(np.float32)
    return c.swapaxes(-1, -2) if transpose else c


def convert_matmul(ctx: NodeContext) -> Tensor:
    a, b = ctx.input(0), ctx.input(1)
    if isinstance(a, Tensor) and isinstance(b, np.ndarray) and b.ndim == 2 and a.rank >= 2:
        return _dense(ctx, a, b, None)
    y = ops.matmul(_matmul_operand(ctx, a), _matmul_operand(ctx, b))
    return Tensor(y, identity_perm(len(y.shape)))


def convert_einsum(ctx: NodeContext) -> Tensor:
    equation = str(ctx.attr("equation")).replace(" ", "")
    operands = [_matmul_operand_plain(ctx, v) for v in ctx.inputs]
    y = ops.einsum(equation, *operands)
    return Tensor(y, identity_perm(len(y.shape)))


def _matmul_operand_plain(ctx: NodeContext, v: Value | None) -> Any:
    if isinstance(v, Tensor):
        return ctx.onnx_layout(v).value
    if v is None or v.dtype == object:
        raise ctx.error("operands must be runtime tensors or numeric constants")
    return v.astype(np.float32) if v.dtype.kind == "f" else v


register_all(
    {
    "Gemm": convert_gemm,
    "MatMul": convert_matmul,
    "Einsum": convert_einsum,
    }
)
