"""Keeping ONNX element types exactly: Keras on the torch backend computes in fewer types than ONNX has.

* Every converted value is cast to the element type ONNX shape inference gives it
  (:func:`keep_dtype`), so a float64 graph stays float64 and an int8 ``Clip`` stays int8.
* uint16/uint32/uint64 (which Keras on torch silently turns into int32/int64) and the sub-byte
  and float8 types are refused (:data:`KERAS_DTYPES`).
* Layers cast floating inputs to their dtype policy (float32 by default); nodes reading float16 or
  float64 tensors build their layers under that policy (:func:`float_policy`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import numpy as np
from keras import ops

from exporters.keras_ops.core import NodeContext, Tensor, Value

# dtypes a Keras (torch backend) graph can take, compute in and return, named as numpy names them.
KERAS_DTYPES = frozenset(
    {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"}
)  # no uint16/32/64: Keras' torch backend computes them as int32/int64, so they could not be kept
_POLICY_FLOATS = ("float16", "float64")


def keep_dtype(ctx: NodeContext, value: Value, expected: np.dtype | None) -> Value:
    """Cast a converted runtime tensor to the ONNX element type of that value."""
    if not isinstance(value, Tensor) or expected is None:
        return value
    if expected.name not in KERAS_DTYPES:
        raise ctx.error(f"its output type {expected.name} is not supported by Keras on the torch backend")
    if str(value.value.dtype) == expected.name:
        return value
    return Tensor(ops.cast(value.value, expected.name), value.perm)


def tensor_dtype(ctx: NodeContext) -> str | None:
    """The dtype of the node's first runtime tensor input, if any."""
    return next((str(v.value.dtype) for v in ctx.inputs if isinstance(v, Tensor)), None)


@contextlib.contextmanager
def float_policy(ctx: NodeContext) -> Iterator[None]:
    """Build this node's layers in float16/float64 when that is what it reads."""
    dtype = tensor_dtype(ctx)
    if dtype not in _POLICY_FLOATS:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
