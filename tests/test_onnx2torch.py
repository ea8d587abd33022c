"""ONNX -> PyTorch (exporters.pytorch, onnx2torch) on the ops it could not convert (issue 18): Gelu
(opset 20, both approximations) and Split version 18 (``split`` input or ``num_outputs``), which the
opset 20 -> 17 down-conversion refused."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper

from exporters.pytorch import onnx_to_torch


def _graph() -> onnx.ModelProto:
    ints = lambda name, values: helper.make_tensor(name, TensorProto.INT64, [len(values)], values)  # noqa: E731
    nodes = [
        helper.make_node("Gelu", ["x"], ["exact"], name="gelu"),
        helper.make_node("Gelu", ["x"], ["tanh"], name="gelu_tanh", approximate="tanh"),
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split_sizes", axis=1),
        helper.make_node("Split", ["tanh"], ["c", "d", "e"], name="split_chunks", axis=1, num_outputs=3),
        # onnx2torch returns a multi-output node's whole tuple for a graph output: each is consumed
        helper.make_node("Add", ["a", "c"], ["ac"], name="mix"),
        *(helper.make_node("Neg", [name], [f"neg_{name}"], name=f"neg_{name}") for name in "bde"),
    ]
    outputs = [("exact", 7), ("tanh", 7), ("ac", 3), ("neg_b", 4), ("neg_d", 3), ("neg_e", 1)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 7])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", width]) for name, width in outputs],
        initializer=[ints("sizes", [3, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def test_gelu_and_split_18_convert_and_match_onnxruntime() -> None:
    model = _graph()
    module = onnx_to_torch(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = (np.random.default_rng(batch).standard_normal((batch, 7)) * 3).astype(np.float32)
        expected = session.run(None, {"x": x})
        with torch.no_grad():
            got = module(torch.from_numpy(x))
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert tuple(g.shape) == e.shape
            np.testing.assert_allclose(g.numpy(), e, atol=1e-6, rtol=0)
    # the two approximations differ: each node kept its own
    exact, tanh = module(torch.full((1, 7), 1.5))[:2]
    assert float((exact - tanh).abs().max()) > 1e-5
