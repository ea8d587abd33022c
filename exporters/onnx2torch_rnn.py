"""onnx2torch converters for the ONNX ``LSTM`` and ``GRU`` ops (onnx2torch 1.5.15 has none).

Each node becomes a module that runs the op's equations step by step, exactly as the ONNX spec writes
them (gate orders i-o-f-c and z-r-h, ``linear_before_reset`` 0 or 1, forward/reverse/bidirectional,
``layout`` 0 or 1, optional initial states and peepholes). The weights stay graph initializers (saved by
:mod:`exporters.pytorch` like every other onnx2torch weight). What the converter does not implement is
refused at conversion, so ``zoo convert --to pytorch`` fails with one line instead of computing something
else: ``sequence_lens`` (per-row lengths; zoo's models derive lengths in the graph instead), activations
other than the defaults, ``clip`` and LSTM ``input_forget``.

Importing this module registers the converters (``exporters.pytorch`` does it before converting).
"""

from __future__ import annotations

from typing import Any

import torch
from onnx2torch.node_converters.registry import add_converter
from onnx2torch.onnx_graph import OnnxGraph
from onnx2torch.onnx_node import OnnxNode
from onnx2torch.utils.common import OnnxToTorchModule, OperationConverterResult, onnx_mapping_from_node
from torch import nn

DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


class OnnxRecurrent(nn.Module, OnnxToTorchModule):
    """forward(X, W, R, B, sequence_lens, initial_h[, initial_c, P]) -> (Y, Y_h[, Y_c]) with ONNX semantics."""

    def __init__(self, op: str, hidden: int, direction: str, layout: int, linear_before_reset: int, outputs: int) -> None:
        super().__init__()
        self.op, self.hidden, self.direction, self.layout = op, hidden, direction, layout
        self.linear_before_reset, self.outputs = linear_before_reset, outputs

    def forward(self, x: torch.Tensor, w: torch.Tensor, r: torch.Tensor, b: torch.Tensor | None = None,
                sequence_lens: torch.Tensor | None = None, initial_h: torch.Tensor | None = None,
                initial_c: torch.Tensor | None = None, p: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        outputs = self._run(x, w, r, b, initial_h, initial_c, p)
        return outputs[0] if self.outputs == 1 else outputs[: self.outputs]  # onnx2torch indexes only multi-output nodes

    def _run(self, x: torch.Tensor, w: torch.Tensor, r: torch.Tensor, b: torch.Tensor | None, initial_h: torch.Tensor | None,
             initial_c: torch.Tensor | None, p: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.layout == 1:  # (batch, time, input) -> (time, batch, input); states (batch, dirs, H) -> (dirs, batch, H)
            x = x.transpose(0, 1)
            initial_h = None if initial_h is None else initial_h.transpose(0, 1)
            initial_c = None if initial_c is None else initial_c.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        gates = 4 if self.op == "LSTM" else 3
        dirs = w.shape[0]
        zeros = x.new_zeros(dirs, batch, self.hidden)
        h0 = zeros if initial_h is None else initial_h
        c0 = zeros if initial_c is None else initial_c
        b = x.new_zeros(dirs, 2 * gates * self.hidden) if b is None else b
        ys, hs, cs = [], [], []
        for d in range(dirs):
            reverse = self.direction == "reverse" or (self.direction == "bidirectional" and d == 1)
            order = range(steps - 1, -1, -1) if reverse else range(steps)
            wb, rb = b[d, : gates * self.hidden], b[d, gates * self.hidden:]
            inputs = x @ w[d].T + wb  # every step's input projection at once: (time, batch, gates * H)
            h, c = h0[d], c0[d]
            out: list[torch.Tensor | None] = [None] * steps
            for t in order:
                if self.op == "LSTM":
                    h, c = self._lstm_step(inputs[t], h, c, r[d], rb, None if p is None else p[d])
                else:
                    h = self._gru_step(inputs[t], h, r[d], rb)
                out[t] = h
            ys.append(torch.stack(out) if steps else x.new_zeros(0, batch, self.hidden))  # type: ignore[arg-type]
            hs.append(h)
            cs.append(c)
        y = torch.stack(ys, dim=1)  # (time, dirs, batch, H)
        y_h, y_c = torch.stack(hs), torch.stack(cs)
        if self.layout == 1:
            y, y_h, y_c = y.permute(2, 0, 1, 3), y_h.transpose(0, 1), y_c.transpose(0, 1)
        return y, y_h, y_c

    def _lstm_step(self, xi: torch.Tensor, h: torch.Tensor, c: torch.Tensor, r: torch.Tensor, rb: torch.Tensor,
                   p: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        i, o, f, g = (xi + h @ r.T + rb).chunk(4, dim=-1)
        if p is not None:
            pi, po, pf = p.chunk(3)
            i, f = i + pi * c, f + pf * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if p is not None:
            o = o + po * c
        return torch.sigmoid(o) * torch.tanh(c), c

    def _gru_step(self, xi: torch.Tensor, h: torch.Tensor, r: torch.Tensor, rb: torch.Tensor) -> torch.Tensor:
        xz, xr, xh = xi.chunk(3, dim=-1)
        rz, rr, rh = r.chunk(3, dim=0)
        bz, br, bh = rb.chunk(3)
        z = torch.sigmoid(xz + h @ rz.T + bz)
        reset = torch.sigmoid(xr + h @ rr.T + br)
        if self.linear_before_reset:
            candidate = torch.tanh(xh + reset * (h @ rh.T + bh))
        else:
            candidate = torch.tanh(xh + (reset * h) @ rh.T + bh)
        return (1 - z) * candidate + z * h


def _refuse(node: OnnxNode, what: str) -> NotImplementedError:
    return NotImplementedError(f"{node.operation_type} with {what} has no onnx2torch converter in zoo")


def _convert(node: OnnxNode, graph: OnnxGraph) -> OperationConverterResult:
    op = node.operation_type
    attrs: dict[str, Any] = dict(node.attributes)
    inputs = list(node.input_values)
    if len(inputs) > 4 and inputs[4]:
        raise _refuse(node, "a sequence_lens input (per-row lengths)")
    activations = [a.decode() if isinstance(a, bytes) else str(a) for a in attrs.get("activations", [])]
    if activations and [a.lower() for a in activations[: len(DEFAULT_ACTIVATIONS[op])]] != [
            a.lower() for a in DEFAULT_ACTIVATIONS[op]]:
        raise _refuse(node, f"activations {activations}")
    if attrs.get("clip") is not None:
        raise _refuse(node, "clip")
    if attrs.get("input_forget", 0):
        raise _refuse(node, "input_forget=1")
    direction = attrs.get("direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    module = OnnxRecurrent(op, int(attrs["hidden_size"]), direction, int(attrs.get("layout", 0)),
                           int(attrs.get("linear_before_reset", 0)), len(node.output_values))
    return OperationConverterResult(torch_module=module, onnx_mapping=onnx_mapping_from_node(node))


for _version in (7, 14, 22):
    add_converter(operation_type="LSTM", version=_version)(_convert)
    add_converter(operation_type="GRU", version=_version)(_convert)
