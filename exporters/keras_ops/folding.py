"""Constant folding: nodes whose inputs are all constants (or symbolic shape vectors) are evaluated."""

from __future__ import annotations


import numpy as np

from exporters.keras_ops.core import (
    NodeContext,
    normalize_axis,
    Sym,
)
from exporters.keras_ops.constants import convert_constant


def _fold_symbolic(ctx: NodeContext) -> list[np.ndarray] | None:
    """Fold shape-vector ops whose inputs hold symbolic dims (object arrays); None if not handled."""
    op, x = ctx.op_type, ctx.inputs[0] if ctx.inputs else None
    if op in ("Identity", "Cast"):
        return [x]  # type: ignore[list-item]
    if op == "Concat":
        parts = [v.astype(object) for v in ctx.inputs if isinstance(v, np.ndarray)]
        return [np.concatenate(parts, axis=int(ctx.attr("axis")))]
    if op == "Gather":
        return [np.take(x, ctx.inputs[1], axis=int(ctx.attr("axis", 0)))]  # type: ignore[arg-type]
    if op == "Unsqueeze":
        axes = ctx.ints(1, "axes", "axes") or []
        out = x
        for a in sorted(normalize_axis(a, x.ndim + len(axes)) for a in axes):  # type: ignore[union-attr]
            out = np.expand_dims(out, a)  # type: ignore[arg-type]
        return [out]  # type: ignore[list-item]
    if op == "Squeeze":
        axes = ctx.ints(1, "axes", "axes")
        return [np.squeeze(x, axis=tuple(axes) if axes else None)]  # type: ignore[arg-type]
    if op == "Slice":
        starts, ends = ctx.ints(1, "starts", "starts"), ctx.ints(2, "ends", "ends")
        axes = ctx.ints(3, "axes", "axes") or list(range(len(starts or [])))
        steps = ctx.ints(4, "steps", "steps") or [1] * len(axes)
        index: list[slice] = [slice(None)] * x.ndim  # type: ignore[union-attr]
        for s, e, a, st in zip(starts or [], ends or [], axes, steps):
            index[normalize_axis(a, x.ndim)] = slice(s, e, st)  # type: ignore[union-attr]
        return [x[tuple(index)]]  # type: ignore[index]
    if op == "Reshape":
        return [np.reshape(x, [int(v) for v in ctx.inputs[1].reshape(-1)])]  # type: ignore[union-attr]
    return None


# ops over symbolic shape values whose result is computed at runtime instead (exporters.keras_ops.symbolic)
_MATERIALIZED = {"Range", "Expand", "ConstantOfShape"}

_NON_DETERMINISTIC = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


def fold_constants(ctx: NodeContext) -> list[np.ndarray] | None:
    """Evaluate a node whose inputs are all constants; None if it must be converted instead."""
    if ctx.op_type in _NON_DETERMINISTIC:
        raise ctx.error("non-deterministic ops cannot be converted")
    if ctx.op_type == "Constant":
        return [convert_constant(ctx)]
    values = [v for v in ctx.inputs if v is not None]
    if any(not isinstance(v, np.ndarray) for v in values):
        return None
    if any(v.dtype == object for v in values):
        symbolic = _fold_symbolic(ctx)
        if symbolic is None and ctx.op_type in _MATERIALIZED:
            return None  # its converter builds the value in the graph from the runtime dimension
        if symbolic is None:
            raise ctx.error("cannot constant-fold this op over a symbolic (runtime) shape value")
        arrays = [np.asarray(v, dtype=object) for v in symbolic]
        return [
            a if any(isinstance(e, Sym) for e in a.reshape(-1)) else np.array(a.tolist(), dtype=np.int64)
            for a in arrays
        ]
    from onnx.reference import ReferenceEvaluator

    feeds = {name: value for name, value in zip(ctx.node.input, ctx.inputs) if name and value is not None}
    evaluator = ReferenceEvaluator(ctx.node, opsets={"": ctx.opset})
    results = evaluator.run(None, feeds)
    return [np.asarray(r) for r in results]
