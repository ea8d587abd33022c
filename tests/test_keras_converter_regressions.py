"""Regression tests for ONNX -> Keras converter bugs (issue 18): wrong integer Div, lost output dtypes,
Flatten with axis >= 2, and a Reshape merging batch x heads taken for the batch (TransformerEncoder)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

os.environ.setdefault("KERAS_BACKEND", "torch")

from exporters.keras import UnsupportedOpError, onnx_to_keras  # noqa: E402
from exporters.keras_conformance import keras_outputs  # noqa: E402


def _model(nodes: list, inputs: list, outputs: list, initializers: list = (), opset: int = 18) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def _onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _assert_same(model: onnx.ModelProto, feeds: dict[str, np.ndarray], atol: float = 1e-5) -> list[np.ndarray]:
    """Keras outputs equal onnxruntime's in dtype, shape and value; returns the Keras outputs."""
    got = keras_outputs(onnx_to_keras(model), list(feeds.values()))
    expected = _onnxruntime(model, feeds)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype, f"dtype {g.dtype} != {e.dtype}"
        assert g.shape == e.shape
        np.testing.assert_allclose(g.astype(np.float64), e.astype(np.float64), atol=atol, rtol=0)
    return got


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8, np.int16])
def test_integer_div_truncates_toward_zero_and_stays_integer(dtype: type) -> None:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    model = _model(
        [helper.make_node("Div", ["a", "b"], ["q"], name="div")],
        [helper.make_tensor_value_info("a", elem, ["n", 4]), helper.make_tensor_value_info("b", elem, ["n", 4])],
        [helper.make_tensor_value_info("q", elem, ["n", 4])],
    )
    a = np.array([[-3, 3, -7, 7], [-1, 1, 0, -8]], dtype=dtype)
    b = np.array([[2, 2, -2, -2], [2, -2, 3, 3]], dtype=dtype)
    (q,) = _assert_same(model, {"a": a, "b": b}, atol=0)
    assert q[0, 0] == -1  # not -1.5 and not floor's -2
    np.testing.assert_array_equal(q, np.trunc(a / b).astype(dtype))


def test_integer_div_by_constant_truncates() -> None:
    divisor = helper.make_tensor("d", TensorProto.INT64, [1], [3])
    model = _model(
        [helper.make_node("Div", ["a", "d"], ["q"], name="div")],
        [helper.make_tensor_value_info("a", TensorProto.INT64, ["n", 3])],
        [helper.make_tensor_value_info("q", TensorProto.INT64, ["n", 3])],
        [divisor],
    )
    (q,) = _assert_same(model, {"a": np.array([[-7, 7, -2]], dtype=np.int64)}, atol=0)
    np.testing.assert_array_equal(q, [[-2, 2, 0]])


@pytest.mark.parametrize(
    ("elem", "dtype"), [(TensorProto.DOUBLE, np.float64), (TensorProto.FLOAT16, np.float16)]
)
def test_float64_and_float16_graphs_keep_their_dtype(elem: int, dtype: type) -> None:
    bias = helper.make_tensor("bias", elem, [4], np.arange(4).astype(dtype).tolist())
    model = _model(
        [
            helper.make_node("Add", ["x", "bias"], ["h"], name="add"),
            helper.make_node("Relu", ["h"], ["r"], name="relu"),
            helper.make_node("Softmax", ["r"], ["y"], name="softmax", axis=-1),
        ],
        [helper.make_tensor_value_info("x", elem, ["n", 4])],
        [helper.make_tensor_value_info("y", elem, ["n", 4]), helper.make_tensor_value_info("r", elem, ["n", 4])],
        [bias],
    )
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(dtype)
    y, r = _assert_same(model, {"x": x}, atol=1e-3 if dtype == np.float16 else 1e-12)
    assert y.dtype == dtype and r.dtype == dtype


def test_float64_precision_is_kept_not_rounded_through_float32() -> None:
    model = _model(
        [helper.make_node("Mul", ["x", "x"], ["y"], name="mul")],
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n", 2])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["n", 2])],
    )
    x = np.array([[1.0 + 1e-12, 3.0]], dtype=np.float64)
    (y,) = _assert_same(model, {"x": x}, atol=0)
    assert y[0, 0] != np.float64(np.float32(1.0 + 1e-12)) ** 2  # float32 would round 1+1e-12 to 1


def test_int8_clip_stays_int8() -> None:
    lo = helper.make_tensor("lo", TensorProto.INT8, [], [-5])
    hi = helper.make_tensor("hi", TensorProto.INT8, [], [5])
    model = _model(
        [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")],
        [helper.make_tensor_value_info("x", TensorProto.INT8, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, ["n", 4])],
        [lo, hi],
    )
    (y,) = _assert_same(model, {"x": np.array([[-128, -6, 4, 127]], dtype=np.int8)}, atol=0)
    np.testing.assert_array_equal(y, np.array([[-5, -5, 4, 5]], dtype=np.int8))


@pytest.mark.parametrize("elem", [TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64])
def test_unsigned_types_torch_cannot_keep_are_refused_in_one_line(elem: int) -> None:
    model = _model(
        [helper.make_node("Add", ["a", "a"], ["y"], name="twice")],
        [helper.make_tensor_value_info("a", elem, ["n", 3])],
        [helper.make_tensor_value_info("y", elem, ["n", 3])],
    )
    with pytest.raises(UnsupportedOpError) as info:
        onnx_to_keras(model)
    message = str(info.value)
    assert "\n" not in message
    assert "'Add'" in message and "'twice'" in message and "uint" in message


@pytest.mark.parametrize("axis", [2, 3])
def test_flatten_with_axis_two_or_more_merges_the_batch(axis: int) -> None:
    inner = int(np.prod((3, 4, 5)[axis - 1 :]))
    model = _model(
        [helper.make_node("Flatten", ["x"], ["y"], name="flatten", axis=axis)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 4, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, inner])],
    )
    keras_model = onnx_to_keras(model)
    for batch in (1, 7):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 4, 5)).astype(np.float32)
        (got,) = keras_outputs(keras_model, [x])
        (expected,) = _onnxruntime(model, {"x": x})
        assert got.shape == expected.shape == (x.size // inner, inner)
        np.testing.assert_array_equal(got, expected)


def test_two_layer_transformer_encoder_converts_with_dynamic_batch(tmp_path: Path) -> None:
    """Its attention reshapes (5, batch, 16) -> (5, 2*batch, 8): axis 0 after that is not the batch."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True, dropout=0.0)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    path = tmp_path / "encoder.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder,
            (torch.randn(2, 5, 16),),
            str(path),
            dynamo=True,
            input_names=["x"],
            output_names=["y"],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
            verbose=False,
        )
    model = onnx.load(str(path))
    keras_model = onnx_to_keras(model)
    from exporters.keras_onnx import keras_to_onnx

    round_trip = keras_to_onnx(keras_model)  # back to valid ONNX, batch still dynamic
    onnx.checker.check_model(round_trip, full_check=True)
    for batch in (1, 3, 8):
        x = np.random.default_rng(batch).standard_normal((batch, 5, 16)).astype(np.float32)
        (got,) = keras_outputs(keras_model, [x])
        (expected,) = _onnxruntime(model, {"x": x})
        (again,) = _onnxruntime(round_trip, {round_trip.graph.input[0].name: x})
        assert got.shape == expected.shape == again.shape
        assert np.abs(got - expected).max() <= 1e-4
        assert np.abs(again - expected).max() <= 1e-4


def test_range_expand_and_constant_of_shape_over_the_runtime_batch(tmp_path: Path) -> None:
    """arange(batch), a class token expanded to the batch and zeros of (batch, 3), with a dynamic batch."""
    from exporters.keras import save_keras

    ints = lambda name, values: helper.make_tensor(name, TensorProto.INT64, [len(values)], values)  # noqa: E731
    token = helper.make_tensor("token", TensorProto.FLOAT, [1, 4], [1.0, 2.0, 3.0, 4.0])
    scalar = lambda name, v: helper.make_tensor(name, TensorProto.INT64, [], [v])  # noqa: E731
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape", end=1),
        helper.make_node("Squeeze", ["shape"], ["n"], name="n"),
        helper.make_node("Range", ["zero", "n", "one"], ["r"], name="range"),
        helper.make_node("Cast", ["r"], ["rf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["rf", "axis1"], ["rcol"], name="col"),
        helper.make_node("Add", ["x", "rcol"], ["y"], name="add"),
        helper.make_node("Concat", ["shape", "four"], ["target"], name="target", axis=0),
        helper.make_node("Expand", ["token", "target"], ["tokens"], name="expand"),
        helper.make_node("Concat", ["shape", "three"], ["zshape"], name="zshape", axis=0),
        helper.make_node("ConstantOfShape", ["zshape"], ["z"], name="zeros",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", d]) for name, d in (("y", 4), ("tokens", 4), ("z", 3))],
        [scalar("zero", 0), scalar("one", 1), ints("axis1", [1]), ints("four", [4]), ints("three", [3]), token],
    )
    keras_model = onnx_to_keras(model)
    save_keras(keras_model, tmp_path / "m.keras")
    import keras

    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        expected = _onnxruntime(model, {"x": x})
        for candidate in (keras_model, reloaded):
            got = keras_outputs(candidate, [x])
            for g, e in zip(got, expected, strict=True):
                assert g.shape == e.shape and g.dtype == e.dtype
                np.testing.assert_allclose(g, e, atol=1e-6)


def test_runtime_gather_keeps_the_batch_dynamic_and_exports_back_to_valid_onnx() -> None:
    """convnext/swin's as_strided pattern (flatten, then Gather at Range(batch) * C + c) and a Gather
    along axis 1 with runtime indices: Keras' ONNX export used to write an invalid Squeeze for both."""
    from exporters.keras_onnx import keras_to_onnx

    ints = lambda name, values, shape: helper.make_tensor(name, TensorProto.INT64, shape, values)  # noqa: E731
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape", end=1),
        helper.make_node("Squeeze", ["shape"], ["n"], name="n"),
        helper.make_node("Range", ["zero", "n", "one"], ["r"], name="range"),
        helper.make_node("Mul", ["r", "three"], ["starts"], name="starts"),
        helper.make_node("Unsqueeze", ["starts", "axis1"], ["col"], name="col"),
        helper.make_node("Add", ["col", "reversed"], ["positions"], name="positions"),
        helper.make_node("Reshape", ["x", "flat"], ["x_flat"], name="flatten"),
        helper.make_node("Gather", ["x_flat", "positions"], ["y"], name="as_strided", axis=0),
        helper.make_node("Gather", ["z", "idx"], ["w"], name="select", axis=1),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 5, 4]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, ["n", 2, 4])],
        [helper.make_tensor("zero", TensorProto.INT64, [], [0]), helper.make_tensor("one", TensorProto.INT64, [], [1]),
         helper.make_tensor("three", TensorProto.INT64, [], [3]), ints("axis1", [1], [1]),
         ints("reversed", [2, 1, 0], [1, 3]), ints("flat", [-1], [1])],
    )
    keras_model = onnx_to_keras(model)
    round_trip = keras_to_onnx(keras_model)  # checked by onnx.checker (full) inside
    assert round_trip.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # the batch stays dynamic
    names = [v.name for v in round_trip.graph.input]
    for batch in (1, 4):
        rng = np.random.default_rng(batch)
        feeds = {"x": rng.standard_normal((batch, 3)).astype(np.float32),
                 "z": rng.standard_normal((batch, 5, 4)).astype(np.float32),
                 "idx": np.array([4, -2], dtype=np.int64)}
        expected = _onnxruntime(model, feeds)
        got = keras_outputs(keras_model, list(feeds.values()))
        again = _onnxruntime(round_trip, dict(zip(names, feeds.values())))
        for g, a, e in zip(got, again, expected, strict=True):
            assert g.shape == a.shape == e.shape
            np.testing.assert_array_equal(g, e)
            np.testing.assert_array_equal(a, e)
