"""int8 dynamic quantisation covers recurrent weights: LSTM through onnxruntime's DynamicQuantizeLSTM,
GRU/RNN (no integer kernel in onnxruntime) as int8 weights dequantised at load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from exporters.quantize import quantize_dynamic

FEATURES, HIDDEN = 16, 32


def recurrent_model(op_type: str, direction: str = "forward") -> onnx.ModelProto:
    """A tiny batch-first sequence model: Transpose -> LSTM/GRU/RNN -> Transpose, float32 weights."""
    rng = np.random.default_rng(0)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op_type]
    n_dir = 2 if direction == "bidirectional" else 1
    weights = {"W": rng.standard_normal((n_dir, gates * HIDDEN, FEATURES)) * 0.3,
               "R": rng.standard_normal((n_dir, gates * HIDDEN, HIDDEN)) * 0.15,  # a contracting recurrence, as trained RNNs are
               "B": rng.standard_normal((n_dir, 2 * gates * HIDDEN)) * 0.1}
    extra = {"linear_before_reset": 1} if op_type == "GRU" else {}
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node(op_type, ["xt", "W", "R", "B"], ["Y", "Y_h"], name="rnn", hidden_size=HIDDEN,
                              direction=direction, **extra),
             helper.make_node("Transpose", ["Y"], ["y"], perm=[2, 0, 1, 3])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", n_dir, HIDDEN])],
        initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


def run(model: onnx.ModelProto | Path, x: np.ndarray) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize(("op_type", "direction"), [("LSTM", "forward"), ("LSTM", "bidirectional"),
                                                    ("GRU", "bidirectional"), ("RNN", "forward")])
def test_recurrent_weights_are_int8_and_outputs_stay_close(op_type: str, direction: str, tmp_path: Path) -> None:
    fp32 = recurrent_model(op_type, direction)
    target = quantize_dynamic(fp32, tmp_path / "int8.onnx")
    quantized = onnx.load(str(target))
    initializers = {i.name: i for i in quantized.graph.initializer}
    (node,) = [n for n in quantized.graph.node if n.op_type in ("DynamicQuantizeLSTM", op_type)]
    if op_type == "LSTM":
        assert node.op_type == "DynamicQuantizeLSTM" and node.domain == "com.microsoft"
        recurrent_weights = [initializers[node.input[1]], initializers[node.input[2]]]
    else:  # W and R come from DequantizeLinear of int8 initializers
        producers = {n.output[0]: n for n in quantized.graph.node}
        recurrent_weights = [initializers[producers[node.input[i]].input[0]] for i in (1, 2)]
    assert all(w.data_type == TensorProto.INT8 for w in recurrent_weights)
    assert not any(i.data_type == TensorProto.FLOAT and i.dims[-1] in (FEATURES, HIDDEN) and len(i.dims) == 3
                   for i in quantized.graph.initializer)  # no float32 copy of W/R left behind
    assert target.stat().st_size < 0.5 * len(fp32.SerializeToString())
    rng = np.random.default_rng(1)
    for batch, time in ((1, 1), (7, 7), (3, 64)):
        x = rng.standard_normal((batch, time, FEATURES)).astype(np.float32)
        reference, got = run(fp32, x), run(target, x)
        assert got.shape == reference.shape
        assert np.abs(got - reference).max() < 0.05, float(np.abs(got - reference).max())
