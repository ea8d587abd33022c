"""The parity check ``zoo export`` runs catches the known recurrent-export bugs.

PyTorch's dynamo exporter has shipped two silent recurrent bugs: a GRU with the wrong
``linear_before_reset`` (PyTorch's GRU is ``linear_before_reset=1``) and a sequence axis frozen at the
export example's length (a ``Reshape`` to ``[5, -1, hidden]``). Both are rebuilt here from the weights of
a real ``nn.GRU`` and must fail :func:`exporters.parity.check_parity` at the export spec's shapes
(batches x every size of the ``time`` axis), while the faithful graph passes, on onnxruntime and after
conversion to Keras.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

os.environ.setdefault("KERAS_BACKEND", "torch")

from exporters.parity import check_parity, require_parity  # noqa: E402
from exporters.runtime import onnx_predictor  # noqa: E402
from zoo.errors import ParityError  # noqa: E402
from zoo.registry import ExportSpec, TensorSpec, ZooModel  # noqa: E402

FEATURES, HIDDEN, EXAMPLE_LENGTH = 3, 4, 5
TIME_SIZES = (1, 7, 64)


class TinyGRUSpec:
    """The parts of a ZooModel that check_parity reads: a batch-first GRU over a float time series."""

    name = "tiny-gru"
    primary_metric = "mse"
    config = SimpleNamespace(to_dict=lambda: {})
    resize_axis = ZooModel.resize_axis  # the registry's default: crop or repeat along the axis

    def __init__(self, axis_sizes: dict[str, tuple[int, ...]]) -> None:
        self.axis_sizes = axis_sizes

    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec("series", ("batch", "time", FEATURES))]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("states", ("batch", "time", HIDDEN))]

    def export_spec(self) -> ExportSpec:
        return ExportSpec(parity_batches=(1, 7), axis_sizes=self.axis_sizes)

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        rng = np.random.default_rng(0 if split == "test" else 1)
        return {"series": rng.standard_normal((n, EXAMPLE_LENGTH, FEATURES)).astype(np.float32)}


@pytest.fixture(scope="module")
def gru() -> nn.GRU:
    torch.manual_seed(0)
    module = nn.GRU(FEATURES, HIDDEN, batch_first=True).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.6)  # biases well away from zero: the reset-gate variant matters
    return module


def torch_predictor(module: nn.GRU) -> Any:
    def predict(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            return [module(torch.from_numpy(inputs["series"]))[0].numpy()]

    return predict


def gru_graph(module: nn.GRU, *, linear_before_reset: int = 1, frozen_time: int | None = None) -> onnx.ModelProto:
    """The ONNX graph of ``module`` as an exporter writes it; optionally with either known bug."""

    def zrh(t: torch.Tensor) -> np.ndarray:  # PyTorch stacks gates r, z, n; ONNX z, r, h
        r, z, n = t.detach().numpy().reshape(3, HIDDEN, *t.shape[1:])
        return np.concatenate([z, r, n])

    w, r = zrh(module.weight_ih_l0)[None], zrh(module.weight_hh_l0)[None]
    b = np.concatenate([zrh(module.bias_ih_l0), zrh(module.bias_hh_l0)])[None]
    initializers = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in ((w, "W"), (r, "R"), (b, "B"))]
    nodes = [
        helper.make_node("Transpose", ["series"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node("GRU", ["time_major", "W", "R", "B"], ["Y"], name="gru", hidden_size=HIDDEN,
                         linear_before_reset=linear_before_reset),
    ]
    if frozen_time is None:
        nodes.append(helper.make_node("Squeeze", ["Y", "axis1"], ["Y3"]))
        initializers.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    else:  # what the dynamo exporter wrote for time-major bidirectional RNNs: the example length as a constant
        nodes.append(helper.make_node("Reshape", ["Y", "frozen_shape"], ["Y3"]))
        initializers.append(numpy_helper.from_array(np.array([frozen_time, -1, HIDDEN], np.int64), "frozen_shape"))
    nodes.append(helper.make_node("Transpose", ["Y3"], ["states"], perm=[1, 0, 2]))
    graph = helper.make_graph(
        nodes, "tiny_gru",
        [helper.make_tensor_value_info("series", TensorProto.FLOAT, ["batch", "time", FEATURES])],
        [helper.make_tensor_value_info("states", TensorProto.FLOAT, ["batch", "time", HIDDEN])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_file(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


TIME_AXIS = {"time": TIME_SIZES}


def test_faithful_graph_passes_at_every_batch_and_sequence_length(gru: nn.GRU, tmp_path: Path) -> None:
    spec = TinyGRUSpec(TIME_AXIS)
    report = check_parity(spec, torch_predictor(gru), onnx_predictor(onnx_file(gru_graph(gru), tmp_path / "ok.onnx")))
    require_parity(report)
    assert set(report["batches"]) == {"1", "7"}
    assert set(report["axes"]["time"]) == {str(t) for t in TIME_SIZES}
    assert max(report["axes"]["time"].values()) < 1e-5


def test_keras_conversion_passes_the_same_check(gru: nn.GRU, tmp_path: Path) -> None:
    from exporters.keras import onnx_to_keras, save_keras
    from exporters.runtime import keras_predictor

    path = save_keras(onnx_to_keras(gru_graph(gru)), tmp_path / "ok.keras")
    report = check_parity(TinyGRUSpec(TIME_AXIS), torch_predictor(gru), keras_predictor(path))
    require_parity(report)
    assert max(report["axes"]["time"].values()) <= 1e-4


def test_wrong_linear_before_reset_fails_parity(gru: nn.GRU, tmp_path: Path) -> None:
    wrong = onnx_predictor(onnx_file(gru_graph(gru, linear_before_reset=0), tmp_path / "lbr0.onnx"))
    report = check_parity(TinyGRUSpec(TIME_AXIS), torch_predictor(gru), wrong)
    assert report["outputs"]["states"]["max_abs_error"] > 1e-2
    with pytest.raises(ParityError, match="max abs error"):
        require_parity(report)


def test_frozen_time_axis_fails_parity_only_when_the_time_axis_is_checked(gru: nn.GRU, tmp_path: Path) -> None:
    frozen = onnx_predictor(onnx_file(gru_graph(gru, frozen_time=EXAMPLE_LENGTH), tmp_path / "frozen.onnx"))
    # at the export example's length alone (the old check: batch sizes only) the bug is invisible ...
    require_parity(check_parity(TinyGRUSpec({}), torch_predictor(gru), frozen))
    # ... at the export spec's time sizes it fails, naming the shape
    with pytest.raises(ParityError, match="time 1"):
        check_parity(TinyGRUSpec(TIME_AXIS), torch_predictor(gru), frozen)
