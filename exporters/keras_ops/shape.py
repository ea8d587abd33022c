"""Layout and indexing: Transpose, Reshape, Concat, Gather, Slice, Split, Pad, ..."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from keras import layers, ops

from exporters.keras_ops.core import (
    BATCH,
    identity_perm,
    int_like,
    NodeContext,
    normalize_axis,
    register_all,
    Sym,
    take,
    Tensor,
    TensorSequence,
    Value,
    _dropped_axes_perm,
    _keras_const,
    _pairs,
    _set_weights,
    _static_dims,
)


def convert_transpose(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    order = ctx.attr("perm") or list(reversed(range(t.rank)))
    order = [int(a) for a in order]
    # Lazy: the Keras data stays put; only the bookkeeping of which ONNX axis lives where changes.
    return Tensor(t.value, tuple(order.index(a) for a in t.perm))


def convert_concat(ctx: NodeContext) -> Tensor:
    values = [v for v in ctx.inputs if v is not None]
    if not all(isinstance(v, Tensor) for v in values):
        raise ctx.error("concatenating runtime tensors with constants is not supported")
    tensors: list[Tensor] = values  # type: ignore[assignment]
    axis = normalize_axis(int(ctx.attr("axis")), tensors[0].rank)
    perm = tensors[0].perm
    if any(t.perm != perm for t in tensors):
        perm = identity_perm(tensors[0].rank)
    tensors = [ctx.to_perm(t, perm) for t in tensors]
    if len(tensors) == 1:
        return tensors[0]
    keras_axis = perm.index(axis)
    if keras_axis == 0:
        return Tensor(ops.concatenate([t.value for t in tensors], axis=0), perm)
    layer = layers.Concatenate(axis=keras_axis, name=ctx.layer_name())
    return Tensor(layer([t.value for t in tensors]), perm)


def convert_flatten(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    axis = normalize_axis(int(ctx.attr("axis", 1)), t.rank)
    if axis == 1:
        return Tensor(layers.Flatten(data_format="channels_last", name=ctx.layer_name())(t.value), (0, 1))
    dims = t.onnx_shape
    if axis == 0:
        return Tensor(ops.reshape(t.value, (1, -1)), (0, 1))
    # axis >= 2 merges the batch with the leading axes: (N, d1, ..., dk) -> (N*d1*...*d(axis-1), rest).
    tail = _static_dims(ctx, dims[1:], "Flatten input (axis != 1)")
    inner = math.prod(tail[axis - 1 :])
    outer = -1 if dims[0] is None else dims[0] * math.prod(tail[: axis - 1])
    return Tensor(ops.reshape(t.value, (outer, inner)), (0, 1))


def _copies_own_dim(source: Tensor, dim: Any, onnx_axis: int) -> bool:
    """Whether target-shape entry ``dim`` is the runtime size of axis ``onnx_axis`` of ``source`` itself."""
    if not isinstance(dim, Sym) or dim.source is None:
        return False
    value, keras_axis = dim.source
    return value is source.value and source.perm[keras_axis] == onnx_axis


def _resolve_reshape(ctx: NodeContext, t: Tensor, shape: list[Any],
                     source: Tensor | None = None) -> tuple[bool, list[int]]:
    """How to reshape: (True, per-sample dims) when axis 0 is carried over unchanged, else
    (False, full target with at most one -1).

    Runtime dimensions in the target (symbolic values such as the batch, 0 = "copy a dynamic input
    dim", or -1) become the single -1 of ``ops.reshape``. The first axis is *not* assumed to be the
    batch: after a Reshape that merges batch x heads the new first dimension is 2*batch.
    """
    in_dims = t.onnx_shape
    allow_zero = int(ctx.attr("allowzero", 0))
    resolved: list[int | None] = []  # None: known only at runtime
    for i, s in enumerate(shape):
        if isinstance(s, Sym) or int(s) == -1:
            resolved.append(None)
        elif int(s) == 0 and not allow_zero:
            if i >= len(in_dims):
                raise ctx.error("shape value 0 refers to a missing input dimension")
            resolved.append(in_dims[i])
        elif int(s) == 0:
            raise ctx.error("zero-sized reshape (allowzero=1 with a 0 dim) is not supported")
        else:
            resolved.append(int(s))
    in_tail = in_dims[1:]
    if (
        resolved
        and all(d is not None for d in resolved[1:])
        and all(d is not None for d in in_tail)
        and math.prod(resolved[1:]) == math.prod(in_tail)  # type: ignore[arg-type]
    ):
        return True, resolved[1:]  # type: ignore[return-value]
    unknown = [i for i, d in enumerate(resolved) if d is None]
    if len(unknown) == 2 and source is not None and _copies_own_dim(source, shape[0], 0):
        # (x.size(0), x.size(1), -1)-style targets read from the input's own Shape: axis 0 carried over
        # exactly (a Reshape layer keeps it), so the one other runtime dimension can be the -1.
        return True, [-1 if d is None else d for d in resolved[1:]]  # type: ignore[misc]
    if len(unknown) == 2 and shape[0] == BATCH and in_dims[0] is None and all(d is not None for d in in_tail):
        # x.view(x.size(0), -1): the batch read from the input's own Shape, the -1 per sample.
        return True, [-1 if d is None else d for d in resolved[1:]]  # type: ignore[misc]
    if len(unknown) > 1:
        raise ctx.error(f"target shape {shape} has {len(unknown)} dimensions known only at runtime (at most 1 is supported)")
    return False, [-1 if d is None else d for d in resolved]


def convert_reshape(ctx: NodeContext) -> Tensor:
    source = ctx.tensor(0)
    t = ctx.onnx_layout(source)
    shape = ctx.const(1, "shape")
    assert shape is not None
    keeps_axis0, dims = _resolve_reshape(ctx, t, list(shape.reshape(-1)), source)
    if keeps_axis0:
        y = layers.Reshape(tuple(dims), name=ctx.layer_name())(t.value)
    else:
        y = ops.reshape(t.value, tuple(dims))
    return Tensor(y, identity_perm(len(y.shape)))


def convert_squeeze(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    axes = ctx.ints(1, "axes", "axes")
    dims = t.onnx_shape
    if axes is None:
        axes = [i for i, d in enumerate(dims) if d == 1]
        if any(d is None for d in dims[1:]):
            raise ctx.error("Squeeze without axes on a tensor with dynamic dimensions is not supported")
    onnx_axes = {normalize_axis(a, t.rank) for a in axes}
    if not onnx_axes:
        return t
    keras_axes = tuple(sorted(t.perm.index(a) for a in onnx_axes))
    return Tensor(ops.squeeze(t.value, axis=keras_axes), _dropped_axes_perm(t.perm, onnx_axes))


def convert_unsqueeze(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    axes = ctx.ints(1, "axes", "axes")
    if not axes:
        raise ctx.error("missing axes")
    out_rank = t.rank + len(axes)
    x = t.value
    for a in sorted(normalize_axis(a, out_rank) for a in axes):
        x = ops.expand_dims(x, a)
    return Tensor(x, identity_perm(out_rank))


def _take(ctx: NodeContext, t: Tensor, onnx_axis: int, indices: np.ndarray) -> Tensor:
    """ops.take along ONNX axis ``onnx_axis``; the index array's axes replace that axis."""
    if indices.dtype == object or not np.issubdtype(indices.dtype, np.integer):
        raise ctx.error("indices must be a constant integer tensor")
    onnx_axis = normalize_axis(onnx_axis, t.rank)
    size = t.onnx_shape[onnx_axis]
    if size is None:
        # x[:, i] / x[:, -1] (e.g. the last step of a sequence): a scalar index slices a dynamic axis fine
        if indices.ndim == 0 and onnx_axis != 0:
            keras_axis = t.perm.index(onnx_axis)
            return Tensor(take(t.value, int(indices), axis=keras_axis),
                          _dropped_axes_perm(t.perm, {onnx_axis}))
        raise ctx.error("gathering along a dynamic (batch) axis is not supported")
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise ctx.error(f"indices out of range for axis of size {size}")
    indices = np.where(indices < 0, indices + size, indices).astype(np.int32)
    keras_axis = t.perm.index(onnx_axis)
    r = indices.ndim
    new_perm: list[int] = []
    for a in t.perm:
        if a == onnx_axis:
            new_perm.extend(range(onnx_axis, onnx_axis + r))
        else:
            new_perm.append(a if a < onnx_axis else a + r - 1)
    if r == 0:
        y = take(t.value, int(indices), axis=keras_axis)
    else:
        y = take(t.value, indices, axis=keras_axis)
    return Tensor(y, tuple(new_perm))


def convert_gather(ctx: NodeContext) -> Tensor:
    data, indices = ctx.input(0), ctx.input(1)
    axis = int(ctx.attr("axis", 0))
    if isinstance(data, np.ndarray) and isinstance(indices, Tensor):
        if data.ndim == 2 and normalize_axis(axis, 2) == 0 and data.dtype.kind == "f":
            return _embedding(ctx, data, ctx.onnx_layout(indices), axis)
        return _runtime_take(ctx, data, ctx.onnx_layout(indices), axis)
    if isinstance(data, Tensor) and isinstance(indices, Tensor):
        return _runtime_take(ctx, ctx.onnx_layout(data), ctx.onnx_layout(indices), axis)
    const_indices = ctx.const(1, "indices")
    assert const_indices is not None
    return _take(ctx, ctx.tensor(0), axis, const_indices)


def _embedding(ctx: NodeContext, table: np.ndarray, indices: Tensor, axis: int) -> Tensor:
    """Gather rows of a constant 2-D table with runtime indices: a Keras Embedding layer."""
    if table.ndim != 2 or normalize_axis(axis, 2) != 0 or table.dtype == object:
        raise ctx.error("runtime indices are only supported for row lookups in a constant 2-D table")
    if not str(indices.value.dtype).startswith(("int", "uint")):
        raise ctx.error(f"indices must be integers, got {indices.value.dtype}")
    # ONNX allows negative indices; Embedding does not, so wrap them first.
    wrapped = ops.where(ops.less(indices.value, int_like(0, indices.value)), ops.add(indices.value, int_like(table.shape[0], indices.value)), indices.value)
    layer = layers.Embedding(table.shape[0], table.shape[1], name=ctx.layer_name())
    y = layer(wrapped)
    _set_weights(layer, [table])
    return Tensor(y, identity_perm(indices.rank + 1))


def _runtime_take(ctx: NodeContext, data: Tensor | np.ndarray, indices: Tensor, axis: int) -> Tensor:
    """Gather with indices computed at runtime (ONNX layout); negative indices wrap like ONNX."""
    if not str(indices.value.dtype).startswith(("int", "uint")):
        raise ctx.error(f"indices must be integers, got {indices.value.dtype}")
    rank = data.rank if isinstance(data, Tensor) else data.ndim
    axis = normalize_axis(axis, rank)
    values = data.value if isinstance(data, Tensor) else _keras_const(data)
    size = data.onnx_shape[axis] if isinstance(data, Tensor) else data.shape[axis]
    idx = indices.value
    if size is not None:
        wrapped = ops.where(ops.less(idx, int_like(0, idx)), ops.add(idx, int_like(int(size), idx)), idx)
    else:  # the axis length at runtime: the sum of a ones vector along it
        from exporters.keras_ops.symbolic import _ones_along

        length = ops.sum(_ones_along(ctx, Sym("gather", (values, axis)), str(idx.dtype)))
        wrapped = ops.where(ops.less(idx, int_like(0, idx)), ops.add(idx, length), idx)
    y = take(values, wrapped, axis=axis)
    return Tensor(y, identity_perm(rank - 1 + indices.rank))


def convert_gather_nd(ctx: NodeContext) -> Tensor:
    indices = ctx.const(1, "indices")
    assert indices is not None
    b = int(ctx.attr("batch_dims", 0))
    t = ctx.tensor(0)
    if b == 0 and indices.shape[-1] == 1:
        return _take(ctx, t, 0, indices[..., 0])
    # Gather from the data flattened over its first b + k axes, at precomputed linear positions.
    k = indices.shape[-1]
    t = ctx.onnx_layout(t)
    lead = _static_dims(ctx, t.onnx_shape[: b + k], f"GatherND's first batch_dims + {k} data axes")
    rest = t.onnx_shape[b + k :]
    if any(d is None for d in rest):
        raise ctx.error("GatherND with dynamic trailing data dimensions is not supported")
    batch_shape, index_shape = lead[:b], lead[b:]
    idx = np.where(indices < 0, indices + np.array(index_shape), indices).astype(np.int64)
    if (idx < 0).any() or (idx >= np.array(index_shape)).any():
        raise ctx.error("indices out of range")
    within = np.ravel_multi_index(tuple(np.moveaxis(idx, -1, 0)), index_shape) if k else np.zeros(idx.shape[:-1], np.int64)
    batch_index = np.ravel_multi_index(tuple(np.indices(indices.shape[:b])), batch_shape) if b else np.array(0)
    batch_index = batch_index.reshape(batch_index.shape + (1,) * (within.ndim - b))
    linear = (batch_index * math.prod(index_shape) + within).astype(np.int32)
    flat = ops.reshape(t.value, (math.prod(lead), *rest))
    y = take(flat, linear, axis=0)
    return Tensor(y, identity_perm(linear.ndim + len(rest)))


def convert_slice(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    starts = ctx.ints(1, "starts", "starts")
    ends = ctx.ints(2, "ends", "ends")
    if starts is None or ends is None:
        raise ctx.error("missing starts/ends")
    axes = ctx.ints(3, "axes", "axes") or list(range(len(starts)))
    steps = ctx.ints(4, "steps", "steps") or [1] * len(starts)
    dims = t.onnx_shape
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = normalize_axis(axis, t.rank)
        size = dims[axis]
        if size is None:
            if start == 0 and step == 1 and end >= 2**31 - 1:
                continue
            raise ctx.error("slicing a dynamic (batch) axis is not supported")
        index = np.arange(size)[slice(start, end, step)]
        if len(index) == size and step == 1:
            continue
        t = _take(ctx, t, axis, index)
    return t


def convert_split(ctx: NodeContext) -> list[Value | None]:
    t = ctx.tensor(0)
    axis = normalize_axis(int(ctx.attr("axis", 0)), t.rank)
    size = t.onnx_shape[axis]
    if size is None:
        raise ctx.error("splitting a dynamic (batch) axis is not supported")
    n_out = len(ctx.node.output)
    split = ctx.ints(1, "split", "split")
    if split is None:
        chunk = -(-size // n_out)
        split = [min(chunk, size - i * chunk) for i in range(n_out)]
    bounds = np.cumsum(split)[:-1].tolist()
    parts = ops.split(t.value, bounds, axis=t.keras_axis(axis)) if bounds else [t.value]
    return [Tensor(p, t.perm) for p in parts]


def convert_split_to_sequence(ctx: NodeContext) -> TensorSequence:
    if int(ctx.attr("keepdims", 1)) == 0 and ctx.input(1) is None:
        raise ctx.error("keepdims=0 is not supported")
    t = ctx.tensor(0)
    axis = normalize_axis(int(ctx.attr("axis", 0)), t.rank)
    size = t.onnx_shape[axis]
    split = ctx.const(1, "split")
    if size is None:
        raise ctx.error("splitting a dynamic (batch) axis is not supported")
    if split is None:
        sizes = [1] * size
    elif split.ndim == 0:
        chunk = int(split)
        sizes = [min(chunk, size - i) for i in range(0, size, chunk)]
    else:
        sizes = [int(v) for v in split]
    bounds = np.cumsum(sizes)[:-1].tolist()
    parts = ops.split(t.value, bounds, axis=t.keras_axis(axis)) if bounds else [t.value]
    return TensorSequence(tuple(Tensor(p, t.perm) for p in parts))


def convert_sequence_at(ctx: NodeContext) -> Value:
    sequence, position = ctx.input(0), ctx.const(1, "position")
    if not isinstance(sequence, TensorSequence) or position is None:
        raise ctx.error("expected a sequence and a constant position")
    return sequence.items[int(position)]


def convert_pad(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    mode = ctx.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ctx.error(f"mode='{mode}' is not supported (constant, reflect, edge and wrap are)")
    pads = ctx.ints(1, "pads", "pads")
    if pads is None:
        raise ctx.error("missing pads")
    value = ctx.const(2, "constant_value")
    fill = float(value.reshape(())) if value is not None and value.size else float(ctx.attr("value", 0.0))
    axes = ctx.ints(3, "axes", "axes") or list(range(t.rank))
    if any(p < 0 for p in pads):
        raise ctx.error("negative pads (cropping) are not supported")
    per_axis = {normalize_axis(a, t.rank): pair for a, pair in zip(axes, _pairs(pads, len(axes)))}
    if per_axis.get(0, (0, 0)) != (0, 0):
        raise ctx.error("padding the batch axis is not supported")
    width = [per_axis.get(a, (0, 0)) for a in t.perm]
    if mode == "constant":
        return Tensor(ops.pad(t.value, width, constant_values=fill), t.perm)
    if mode == "reflect":
        return Tensor(ops.pad(t.value, width, mode="reflect"), t.perm)
    return Tensor(_pad_by_slices(ctx, t, width, mode), t.perm)


def _pad_by_slices(ctx: NodeContext, t: Tensor, width: list[tuple[int, int]], mode: str) -> Any:
    """edge (repeat the border value) and wrap (continue from the other side) padding as slices and a
    concatenation per axis: the same on every Keras backend (backends name and support these modes differently)."""
    x = t.value
    for axis, (before, after) in enumerate(width):
        if not before and not after:
            continue
        size = x.shape[axis]
        if size is None:
            raise ctx.error(f"{mode} padding of a dynamic axis is not supported")
        if mode == "wrap" and max(before, after) > size:
            raise ctx.error(f"wrap padding wider than the axis ({max(before, after)} > {size}) is not supported")

        def part(start: int, stop: int) -> Any:
            index = [slice(None)] * len(x.shape)
            index[axis] = slice(start, stop)
            return x[tuple(index)]

        if mode == "edge":
            pieces = [ops.repeat(part(0, 1), before, axis=axis)] if before else []
            pieces += [x] + ([ops.repeat(part(size - 1, size), after, axis=axis)] if after else [])
        else:
            pieces = ([part(size - before, size)] if before else []) + [x] + ([part(0, after)] if after else [])
        x = ops.concatenate(pieces, axis=axis)
    return x


def convert_tile(ctx: NodeContext) -> Tensor:
    t = ctx.tensor(0)
    repeats = ctx.ints(1, "repeats", "repeats")
    if repeats is None:
        raise ctx.error("repeats must be a constant")
    return Tensor(ops.tile(t.value, [repeats[a] for a in t.perm]), t.perm)


def _space_depth(ctx: NodeContext, to_space: bool) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    if t.rank != 4:
        raise ctx.error("only 4-D (N, C, H, W) inputs are supported")
    b = int(ctx.attr("blocksize"))
    c, h, w = _static_dims(ctx, t.onnx_shape[1:], f"{ctx.op_type} input")
    x = t.value
    if to_space:
        if ctx.attr("mode", "DCR") == "DCR":
            x = ops.reshape(x, (-1, b, b, c // (b * b), h, w))
            x = ops.transpose(x, (0, 3, 4, 1, 5, 2))
        else:
            x = ops.reshape(x, (-1, c // (b * b), b, b, h, w))
            x = ops.transpose(x, (0, 1, 4, 2, 5, 3))
        y = ops.reshape(x, (-1, c // (b * b), h * b, w * b))
    else:
        x = ops.reshape(x, (-1, c, h // b, b, w // b, b))
        dcr = ctx.attr("mode", "DCR") == "DCR"
        x = ops.transpose(x, (0, 3, 5, 1, 2, 4) if dcr else (0, 1, 3, 5, 2, 4))
        y = ops.reshape(x, (-1, c * b * b, h // b, w // b))
    return Tensor(y, identity_perm(4))


def convert_scatter_nd(ctx: NodeContext) -> Tensor:
    t = ctx.onnx_layout(ctx.tensor(0))
    indices = ctx.const(1, "indices")
    updates = ctx.input(2)
    reduction = ctx.attr("reduction", "none")
    if indices is None or updates is None:
        raise ctx.error("indices must be a constant")
    if reduction not in ("none", "add"):
        raise ctx.error(f"attribute reduction='{reduction}' is not supported (none and add are)")
    k = indices.shape[-1]
    dims = t.onnx_shape
    lead = _static_dims(ctx, dims[:k], "ScatterND's indexed data axes")
    idx = np.where(indices < 0, indices + np.array(lead), indices).reshape(-1, k).astype(np.int32)
    update_value = ctx.onnx_layout(updates).value if isinstance(updates, Tensor) else _keras_const(updates)
    rest = tuple(dims[k:])
    flat_updates = ops.reshape(update_value, (idx.shape[0], *[-1 if d is None else d for d in rest]))
    if reduction == "none":
        y = ops.scatter_update(t.value, idx, flat_updates)
    else:
        if any(d is None for d in dims):
            raise ctx.error("ScatterND with reduction='add' needs a static data shape")
        y = ops.add(t.value, ops.scatter(idx, flat_updates, tuple(dims)))
    return Tensor(y, identity_perm(t.rank))


register_all(
    {
    "Transpose": convert_transpose,
    "Concat": convert_concat,
    "Flatten": convert_flatten,
    "Reshape": convert_reshape,
    "Squeeze": convert_squeeze,
    "Unsqueeze": convert_unsqueeze,
    "Gather": convert_gather,
    "GatherND": convert_gather_nd,
    "Slice": convert_slice,
    "Split": convert_split,
    "SplitToSequence": convert_split_to_sequence,
    "SequenceAt": convert_sequence_at,
    "Pad": convert_pad,
    "Tile": convert_tile,
    "DepthToSpace": lambda ctx: _space_depth(ctx, to_space=True),
    "SpaceToDepth": lambda ctx: _space_depth(ctx, to_space=False),
    "ScatterND": convert_scatter_nd,
    }
)
