"""onnx2torch converters for ONNX ``LSTM``, ``GRU`` and ``RNN`` (onnx2torch 1.5.15 has none).

Each node becomes a :class:`OnnxRecurrent` module wrapping a real ``torch.nn.LSTM``/``GRU``/``RNN`` whose
weights are the node's W, R, B (gate blocks reordered: ONNX LSTM ``i, o, f, c`` -> torch ``i, f, g, o``;
ONNX GRU ``z, r, h`` -> torch ``r, z, n``). What torch's layers cannot compute is refused with
``NotImplementedError`` naming op, node and attribute (``exporters.pytorch`` turns it into a one-line
ZooError): GRU ``linear_before_reset=0`` (torch's GRU is always 1), ``sequence_lens``, peepholes, clip,
``input_forget`` and non-default activations (RNN: Tanh or Relu).

Importing this module registers the converters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from onnx import numpy_helper
from onnx2torch.node_converters.registry import add_converter
from onnx2torch.onnx_graph import OnnxGraph
from onnx2torch.onnx_node import OnnxNode
from onnx2torch.utils.common import OnnxMapping, OperationConverterResult
from torch import nn

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_TORCH_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}  # ONNX gate block for each torch block
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


class OnnxRecurrent(nn.Module):
    """An ONNX recurrent node computed by a torch recurrent layer: ONNX layouts in, ONNX outputs out."""

    def __init__(self, rnn: nn.Module, *, reverse: bool, batch_major: bool, outputs: int) -> None:
        super().__init__()
        self.rnn = rnn
        self.reverse = reverse
        self.batch_major = batch_major
        self.outputs = outputs

    def forward(self, x: torch.Tensor, initial_h: torch.Tensor | None = None,
                initial_c: torch.Tensor | None = None) -> Any:
        time_axis = 1 if self.batch_major else 0
        if self.reverse:
            x = x.flip(time_axis)
        states = [s.transpose(0, 1) if self.batch_major and s is not None else s for s in (initial_h, initial_c)]
        state: Any = None
        if isinstance(self.rnn, nn.LSTM) and (states[0] is not None or states[1] is not None):
            h0 = states[0] if states[0] is not None else torch.zeros_like(states[1])
            state = (h0, states[1] if states[1] is not None else torch.zeros_like(h0))
        elif states[0] is not None:
            state = states[0]
        y, last = self.rnn(x, state)
        if self.reverse:
            y = y.flip(time_axis)
        directions = 2 if self.rnn.bidirectional else 1
        y = y.unflatten(-1, (directions, self.rnn.hidden_size))  # [seq, batch, dir, hidden] / [batch, seq, ...]
        if not self.batch_major:
            y = y.permute(0, 2, 1, 3)
        last = list(last) if isinstance(last, tuple) else [last]
        if self.batch_major:
            last = [s.transpose(0, 1) for s in last]
        result = (y, *last)[: self.outputs]
        return result[0] if self.outputs == 1 else result


def _refuse(node: OnnxNode, detail: str) -> NotImplementedError:
    return NotImplementedError(f"ONNX op '{node.operation_type}' (node '{node.name}'): {detail}")


def _constant(node: OnnxNode, graph: OnnxGraph, i: int, what: str) -> np.ndarray | None:
    name = node.input_values[i] if i < len(node.input_values) else ""
    if not name:
        return None
    if name not in graph.initializers:
        raise _refuse(node, f"{what} (input {i}) must be a constant for onnx2torch")
    return numpy_helper.to_array(graph.initializers[name].proto).astype(np.float32)


def _convert(node: OnnxNode, graph: OnnxGraph) -> OperationConverterResult:
    kind = node.operation_type
    attrs = dict(node.attributes)
    direction = attrs.get("direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    n_dir = 2 if direction == "bidirectional" else 1
    for name in ("clip", "activation_alpha", "activation_beta"):
        if name in attrs:
            raise _refuse(node, f"attribute {name} has no torch equivalent")
    if int(attrs.get("input_forget", 0)):
        raise _refuse(node, "attribute input_forget=1 has no torch equivalent")
    activations = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    nonlinearity = "tanh"
    if kind == "RNN" and activations and set(activations) == {"Relu"}:
        nonlinearity = "relu"
    elif activations and activations != _DEFAULT_ACTIVATIONS[kind] * n_dir:
        raise _refuse(node, f"attribute activations={activations} is not supported by torch's {kind}")
    if kind == "GRU" and not int(attrs.get("linear_before_reset", 0)):
        raise _refuse(node, "linear_before_reset=0 is not supported (torch's GRU computes linear_before_reset=1)")
    if len(node.input_values) > 4 and node.input_values[4]:
        raise _refuse(node, "input sequence_lens is not supported; pad and mask in the model instead")
    w, r = _constant(node, graph, 1, "W"), _constant(node, graph, 2, "R")
    if w is None or r is None:
        raise _refuse(node, "W and R must be given")
    if kind == "LSTM":
        p = _constant(node, graph, 7, "P (peepholes)")
        if p is not None and np.any(p):
            raise _refuse(node, "input P (peephole weights) has no torch equivalent")
    gates, hidden = _GATES[kind], int(attrs.get("hidden_size", r.shape[-1]))
    b = _constant(node, graph, 3, "B")
    b = np.zeros((n_dir, 2 * gates * hidden), np.float32) if b is None else b
    batch_major = bool(int(attrs.get("layout", 0)))
    options = {"batch_first": batch_major, "bidirectional": n_dir == 2}
    if kind == "LSTM":
        rnn: nn.Module = nn.LSTM(w.shape[-1], hidden, **options)
    elif kind == "GRU":
        rnn = nn.GRU(w.shape[-1], hidden, **options)
    else:
        rnn = nn.RNN(w.shape[-1], hidden, nonlinearity=nonlinearity, **options)

    def reorder(m: np.ndarray) -> torch.Tensor:
        blocks = np.split(m, gates, axis=0)
        return torch.from_numpy(np.ascontiguousarray(np.concatenate([blocks[i] for i in _TORCH_ORDER[kind]])))

    with torch.no_grad():
        for d in range(n_dir):
            suffix = "_l0_reverse" if d else "_l0"
            getattr(rnn, f"weight_ih{suffix}").copy_(reorder(w[d]))
            getattr(rnn, f"weight_hh{suffix}").copy_(reorder(r[d]))
            getattr(rnn, f"bias_ih{suffix}").copy_(reorder(b[d, : gates * hidden]))
            getattr(rnn, f"bias_hh{suffix}").copy_(reorder(b[d, gates * hidden:]))
    inputs = node.input_values
    module = OnnxRecurrent(rnn, reverse=direction == "reverse", batch_major=batch_major,
                           outputs=len(node.output_values))
    mapping = OnnxMapping(inputs=(inputs[0], inputs[5] if len(inputs) > 5 else "",
                                  inputs[6] if len(inputs) > 6 and kind == "LSTM" else ""),
                          outputs=node.output_values)
    return OperationConverterResult(torch_module=module.eval(), onnx_mapping=mapping)


for _op in _GATES:
    for _version in (7, 14, 22):
        add_converter(operation_type=_op, version=_version)(_convert)
