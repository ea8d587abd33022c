"""ONNX node -> Keras 3 layer converters used by :mod:`exporters.keras`.

Every ONNX tensor is tracked as either a constant (``np.ndarray``; ``dtype=object``
when it is a shape vector holding symbolic dimensions such as the batch size) or a
:class:`Tensor`: a Keras symbolic tensor plus ``perm``, the permutation such that
``keras_value == onnx_value.transpose(perm)``. See :mod:`exporters.keras_ops.core`.

One module per op family registers its converters in ``OP_CONVERTERS`` at import
(``register_all({...})`` at the bottom of each file), so adding an op is one file's change.
"""

from __future__ import annotations

from exporters.keras_ops import (  # noqa: F401  (imported for their registrations)
    activations,
    constants,
    conv,
    elementwise,
    linear,
    norm,
    recurrent,
    reduce,
    resize,
    shape,
    symbolic,
)
from exporters.keras_ops.core import (
    BATCH,
    OP_CONVERTERS,
    Builder,
    Converter,
    NodeContext,
    Sym,
    Tensor,
    TensorSequence,
    UnsupportedOpError,
    Value,
    channels_last_perm,
    identity_perm,
    normalize_axis,
    register,
    sanitize_name,
)
from exporters.keras_ops.folding import fold_constants

__all__ = [
    "BATCH",
    "OP_CONVERTERS",
    "Builder",
    "Converter",
    "NodeContext",
    "Sym",
    "Tensor",
    "TensorSequence",
    "UnsupportedOpError",
    "Value",
    "channels_last_perm",
    "fold_constants",
    "identity_perm",
    "normalize_axis",
    "register",
    "sanitize_name",
]
