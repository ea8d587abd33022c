"""Recurrent ops: LSTM, GRU and RNN as real Keras ``LSTM``/``GRU``/``SimpleRNN`` layers with their weights.

ONNX and Keras differ in three ways that matter here:

* layout: ONNX ``X`` is ``[seq, batch, input]`` (``layout=1``: ``[batch, seq, input]``) and ``Y`` is
  ``[seq, num_directions, batch, hidden]``; Keras works batch-major (``[batch, seq, ...]``). The Keras
  results are returned with a ``perm`` (see :mod:`exporters.keras_ops.core`), so nothing is transposed
  until a consumer needs ONNX layout;
* gate order: ONNX LSTM weights are stacked ``i, o, f, c``, Keras ``i, f, c, o``; GRU is ``z, r, h`` in
  both. ONNX keeps input and recurrent biases apart (``Wb``, ``Rb``); Keras LSTM/SimpleRNN have one bias
  (their sum), Keras GRU two when ``reset_after=True``, which is ONNX ``linear_before_reset=1`` (what
  PyTorch's GRU computes), and one (the sum) for ``reset_after=False`` (``linear_before_reset=0``);
* directions: ``reverse`` is a ``go_backwards`` layer whose output is flipped back to input order,
  ``bidirectional`` a ``keras.layers.Bidirectional`` (which does that flip itself).

``sequence_lens`` becomes a Keras mask (masked steps keep the state and output zeros, as ONNX defines);
the time axis and the batch stay dynamic. Nodes with the same weights and attributes (one PyTorch LSTM run on two
inputs, as in a siamese model) become calls of one shared Keras layer (``Builder.shared_layers``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import layers, ops

from exporters.keras_ops.core import NodeContext, Tensor, Value, register_all

# ONNX activation names Keras' recurrent layers take as activation strings (without alpha/beta).
_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu"}
_DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# ONNX LSTM gate blocks are i, o, f, c; Keras wants i, f, c, o.
_LSTM_TO_KERAS = (0, 2, 3, 1)


def convert_lstm(ctx: NodeContext) -> list[Value | None]:
    return _convert(ctx)


def convert_gru(ctx: NodeContext) -> list[Value | None]:
    return _convert(ctx)


def convert_rnn(ctx: NodeContext) -> list[Value | None]:
    return _convert(ctx)


def _convert(ctx: NodeContext) -> list[Value | None]:
    kind = ctx.op_type
    hidden = int(ctx.attr("hidden_size", 0))
    direction = ctx.attr("direction", "forward")
    layout = int(ctx.attr("layout", 0))
    _refuse_unsupported(ctx, direction, layout)
    activation, recurrent_activation = _activations(ctx, 2 if direction == "bidirectional" else 1)
    n_dir = 2 if direction == "bidirectional" else 1
    w, r = _weight(ctx, 1, "W"), _weight(ctx, 2, "R")
    if w.shape[0] != n_dir or r.shape[0] != n_dir:
        raise ctx.error(f"W/R have {w.shape[0]}/{r.shape[0]} directions, direction='{direction}' needs {n_dir}")
    if not hidden:
        hidden = r.shape[-1]
    gates = _GATES[kind]
    b = ctx.const(3, "B")
    b = np.zeros((n_dir, 2 * gates * hidden), np.float32) if b is None else b.astype(np.float32)
    if kind == "LSTM":
        _refuse_peepholes(ctx)

    x = ctx.to_perm(ctx.tensor(0), (1, 0, 2) if layout == 0 else (0, 1, 2))  # Keras: [batch, seq, input]
    if x.value.shape[-1] is None:
        raise ctx.error("the input feature dimension of X must be static")
    mask = _mask(ctx, x.value)
    initial = _initial_states(ctx, x.value, kind, n_dir, layout)
    reset_after = kind == "GRU" and bool(int(ctx.attr("linear_before_reset", 0)))

    def make_layer(go_backwards: bool, name: str) -> layers.Layer:
        options: dict[str, Any] = dict(return_sequences=True, return_state=True, go_backwards=go_backwards,
                                       zero_output_for_mask=True, name=name)
        if kind == "LSTM":
            return layers.LSTM(hidden, activation=activation, recurrent_activation=recurrent_activation,
                               unit_forget_bias=False, **options)
        if kind == "GRU":
            return layers.GRU(hidden, activation=activation, recurrent_activation=recurrent_activation,
                              reset_after=reset_after, **options)
        return layers.SimpleRNN(hidden, activation=activation, **options)

    n_states = 2 if kind == "LSTM" else 1
    key = (kind, direction, hidden, activation, recurrent_activation, reset_after, _digest(w, r, b))
    layer = ctx.builder.shared_layers.get(key)  # a node reading the weights of an earlier one reuses its layer
    new_layer = layer is None
    call: dict[str, Any] = {}
    if mask is not None:
        call["mask"] = mask
    if direction == "bidirectional":
        if new_layer:
            layer = layers.Bidirectional(make_layer(False, ctx.layer_name(kind.lower())), merge_mode=None,
                                         backward_layer=make_layer(True, ctx.layer_name(f"{kind.lower()}_backward")),
                                         name=ctx.layer_name("bidirectional"))
        if initial is not None:
            call["initial_state"] = [*initial[0], *initial[1]]
        result = layer(x.value, **call)
        ys = [result[0], result[1]]
        states = [list(result[2:2 + n_states]), list(result[2 + n_states:])]
        for sub, d in ((layer.forward_layer, 0), (layer.backward_layer, 1)):
            if new_layer:
                sub.set_weights(_keras_weights(kind, w[d], r[d], b[d], gates, hidden, reset_after))
    else:
        if new_layer:
            layer = make_layer(direction == "reverse", ctx.layer_name(kind.lower()))
        if initial is not None:
            call["initial_state"] = initial[0]
        result = layer(x.value, **call)
        y = result[0]
        ys = [ops.flip(y, axis=1) if direction == "reverse" else y]
        states = [list(result[1:])]
        if new_layer:
            layer.set_weights(_keras_weights(kind, w[0], r[0], b[0], gates, hidden, reset_after))
    ctx.builder.shared_layers[key] = layer

    # Keras: Y as [batch, seq, dir, hidden], states as [batch, dir, hidden]; perms map them to ONNX's axes.
    y_perm, state_perm = ((2, 0, 1, 3), (1, 0, 2)) if layout == 0 else ((0, 1, 2, 3), (0, 1, 2))
    outputs: list[Value | None] = [Tensor(_stack(ys, axis=2), y_perm)]
    for i in range(n_states):
        outputs.append(Tensor(_stack([s[i] for s in states], axis=1), state_perm))
    return outputs


def _refuse_unsupported(ctx: NodeContext, direction: str, layout: int) -> None:
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.error(f"attribute direction='{direction}' is not a valid ONNX direction")
    if layout not in (0, 1):
        raise ctx.error(f"attribute layout={layout} is not supported (0 or 1)")
    if ctx.attr("clip") is not None:
        raise ctx.error("attribute clip (cell clipping) has no Keras equivalent; export without clipping")
    if int(ctx.attr("input_forget", 0)):
        raise ctx.error("attribute input_forget=1 (coupled input-forget gate) has no Keras equivalent")
    for name in ("activation_alpha", "activation_beta"):
        if ctx.attr(name) is not None:
            raise ctx.error(f"attribute {name} (parametrised activations) is not supported; use plain activations")


def _activations(ctx: NodeContext, n_dir: int) -> tuple[str, str | None]:
    """(activation, recurrent_activation) as Keras names; the ONNX list gives them per direction."""
    default = _DEFAULT_ACTIVATIONS[ctx.op_type]
    given = ctx.attr("activations")
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in given) if given else default * n_dir
    per_dir = len(default)
    if len(names) != per_dir * n_dir:
        raise ctx.error(f"attribute activations={list(names)} should list {per_dir * n_dir} functions")
    if names[:per_dir] != names[per_dir:] and n_dir == 2:
        raise ctx.error(f"attribute activations={list(names)} differ between directions; Keras uses one set")
    names = names[:per_dir]
    unknown = [n for n in names if n not in _ACTIVATIONS]
    if unknown:
        raise ctx.error(f"attribute activations={list(names)}: {unknown} not supported (Sigmoid, Tanh, Relu)")
    if ctx.op_type == "RNN":
        return _ACTIVATIONS[names[0]], None
    if ctx.op_type == "LSTM" and names[1] != names[2]:
        raise ctx.error(f"attribute activations={list(names)}: Keras LSTM uses one function for the cell "
                        "input and the output (g and h must be equal)")
    return _ACTIVATIONS[names[1]], _ACTIVATIONS[names[0]]


def _weight(ctx: NodeContext, i: int, what: str) -> np.ndarray:
    value = ctx.const(i, what)
    if value is None or value.dtype == object or value.ndim != 3:
        raise ctx.error(f"{what} (input {i}) must be a constant 3-D weight tensor")
    return value.astype(np.float32)


def _refuse_peepholes(ctx: NodeContext) -> None:
    p = ctx.const(7, "P (peephole weights)")
    if p is not None and np.any(p):
        raise ctx.error("input P (peephole weights) has no Keras LSTM equivalent; export without peepholes")


def _keras_weights(kind: str, w: np.ndarray, r: np.ndarray, b: np.ndarray, gates: int, hidden: int,
                   reset_after: bool) -> list[np.ndarray]:
    """One direction's ONNX W [G*H, in], R [G*H, H], B [2*G*H] as Keras kernel, recurrent kernel, bias."""
    wb, rb = b[: gates * hidden], b[gates * hidden:]
    if kind == "LSTM":
        def order(m: np.ndarray) -> np.ndarray:
            blocks = np.split(m, 4, axis=0)
            return np.concatenate([blocks[i] for i in _LSTM_TO_KERAS], axis=0)

        w, r, wb, rb = order(w), order(r), order(wb), order(rb)
    bias = np.stack([wb, rb]) if reset_after else wb + rb
    return [np.ascontiguousarray(w.T), np.ascontiguousarray(r.T), bias]


def _mask(ctx: NodeContext, x: Any) -> Any | None:
    """A Keras mask [batch, seq] from ``sequence_lens``, or None when every sequence is full length."""
    lens = ctx.input(4)
    if lens is None:
        return None
    if not isinstance(lens, Tensor):
        if lens.dtype == object:
            raise ctx.error("sequence_lens (input 4) must be numeric")
        seq = x.shape[1]
        if seq is not None and np.all(lens == seq):
            return None
        lens = lens.astype(np.int64).reshape(1, -1).T  # [batch, 1]
    else:
        lens = ops.expand_dims(ctx.onnx_layout(lens).value, 1)
    # positions 1..seq computed from X so the time axis stays dynamic
    positions = ops.cumsum(ops.ones_like(x[:, :, 0], dtype="int32"), axis=1)
    return ops.less_equal(positions, ops.cast(lens, "int32"))


def _initial_states(ctx: NodeContext, x: Any, kind: str, n_dir: int, layout: int) -> list[list[Any]] | None:
    """Per direction, the Keras initial states ([h] or [h, c] as [batch, hidden]); None if all are zero."""
    values = [ctx.input(5)] + ([ctx.input(6)] if kind == "LSTM" else [])
    if all(v is None or (not isinstance(v, Tensor) and v.dtype != object and not np.any(v)) for v in values):
        return None
    zero_column = ops.zeros_like(x[:, 0, :1])  # [batch, 1]: gives constants the runtime batch
    hidden_zero: Any = None
    per_dir: list[list[Any]] = []
    for d in range(n_dir):
        states = []
        for i, v in enumerate(values):
            if v is None:
                states.append(None)
            elif isinstance(v, Tensor):
                full = ctx.onnx_layout(v).value
                states.append(full[d] if layout == 0 else full[:, d])
            else:
                const = (v[d] if layout == 0 else v[:, d]).astype(np.float32)
                states.append(ops.add(zero_column, const))
        per_dir.append(states)
    for states in per_dir:
        for i, s in enumerate(states):
            if s is None:
                other = next(t for t in states if t is not None)
                if hidden_zero is None:
                    hidden_zero = ops.zeros_like(other)
                states[i] = hidden_zero
    return per_dir


def _digest(*arrays: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()


def _stack(tensors: list[Any], axis: int) -> Any:
    return ops.expand_dims(tensors[0], axis) if len(tensors) == 1 else ops.stack(tensors, axis=axis)


register_all(
    {
        "LSTM": convert_lstm,
        "GRU": convert_gru,
        "RNN": convert_rnn,
    }
)
