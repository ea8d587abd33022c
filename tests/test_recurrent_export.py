"""Recurrent networks through the export chain: torch nn.LSTM/nn.GRU -> ONNX (dynamo) -> Keras 3 LSTM/GRU layers,
and ONNX -> PyTorch (onnx2torch plus exporters.onnx2torch_recurrent).

Token-id models (int64 inputs, dynamic batch AND time axes) are exported like ``exporters.onnx.build_onnx``
does, converted, saved, reloaded with ``keras.saving.load_model`` in a fresh process that imports no zoo
code, and compared with onnxruntime at sequence lengths 1, 7 and 64 and batches 1 and 7. Hand-built ONNX
graphs cover what PyTorch does not emit (sequence_lens, initial states, layout=1, linear_before_reset=0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

os.environ.setdefault("KERAS_BACKEND", "torch")

from exporters.keras import onnx_to_keras, save_keras  # noqa: E402
from exporters.onnx import build_onnx  # noqa: E402
from zoo.errors import ZooError  # noqa: E402
from zoo.registry import TensorSpec  # noqa: E402

SEQUENCE_LENGTHS = (1, 7, 64)
BATCH_SIZES = (1, 7)
TOLERANCE = 1e-4
VOCABULARY = 30


class TokenRNN(nn.Module):
    """Embedding on int64 token ids feeding a stacked batch-first LSTM and a stacked bidirectional GRU side
    by side (one model, so one slow dynamo export covers both cells), and a head on both last steps."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCABULARY, 8)
        self.lstm = nn.LSTM(8, 6, num_layers=2, batch_first=True)
        self.gru = nn.GRU(8, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(18, 3)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        tokens = self.embedding(ids)
        lstm_sequence, (_, lstm_cell) = self.lstm(tokens)
        gru_sequence, gru_hidden = self.gru(tokens)
        logits = self.head(torch.cat([lstm_sequence, gru_sequence], dim=-1)[:, -1])
        return lstm_sequence, lstm_cell, gru_sequence, gru_hidden, logits


CASES = {"lstm_and_bidirectional_gru": TokenRNN}
OUTPUTS = ["lstm_sequence", "lstm_cell", "gru_sequence", "gru_hidden", "logits"]


class TokenSpec:
    """The parts of a ZooModel that exporters.onnx.build_onnx reads, for :class:`TokenRNN`."""

    name = "token-rnn"

    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec("ids", ("batch", "time"), dtype="int64")]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("lstm_sequence", ("batch", "time", 6)), TensorSpec("lstm_cell", (2, "batch", 6)),
                TensorSpec("gru_sequence", ("batch", "time", 12)), TensorSpec("gru_hidden", (4, "batch", 6)),
                TensorSpec("logits", ("batch", 3))]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        return {"ids": np.random.default_rng(0).integers(0, VOCABULARY, (n, 5)).astype(np.int64)}


def export_token_model(model: TokenRNN, path: Path) -> Path:
    """The production export (exporters.onnx.build_onnx: dynamo, dynamic batch and time, optimised)."""
    onnx.save(build_onnx(TokenSpec(), model), str(path))  # type: ignore[arg-type]
    return path


FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras

    for job in json.loads(sys.argv[1]):
        model = keras.saving.load_model(job["keras"])
        data = np.load(job["inputs"])
        result = {}
        for key in data.files:
            out = model(data[key], training=False)
            for name, value in zip(job["outputs"], out if isinstance(out, (list, tuple)) else [out]):
                result[f"{name}/{key}"] = keras.ops.convert_to_numpy(value)
        result["__layers__"] = np.array([type(layer).__name__ for layer in model.layers])
        np.savez(job["result"], **result)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "exporters", "onnx", "onnxruntime"))
    assert not leaked, leaked
    print("FRESH_OK")
    """
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("keras_recurrent")
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    entries: dict[str, dict[str, Any]] = {}
    jobs = []
    for name, build in CASES.items():
        model = build()
        onnx_path = export_token_model(model, workdir / f"{name}.onnx")
        keras_model = onnx_to_keras(onnx_path)
        keras_path = save_keras(keras_model, workdir / f"{name}.keras")
        feeds = {f"{b}x{t}": rng.integers(0, VOCABULARY, (b, t)).astype(np.int64)
                 for b in BATCH_SIZES for t in SEQUENCE_LENGTHS}
        np.savez(workdir / f"{name}_in.npz", **feeds)
        jobs.append({"keras": str(keras_path), "inputs": str(workdir / f"{name}_in.npz"),
                     "result": str(workdir / f"{name}_out.npz"), "outputs": OUTPUTS})
        entries[name] = {"model": model, "onnx": onnx_path, "keras_model": keras_model, "feeds": feeds}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"KERAS_BACKEND": "torch"}
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS_SCRIPT, json.dumps(jobs)], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "FRESH_OK" in proc.stdout, proc.stderr[-4000:]
    for name, job in zip(CASES, jobs):
        entries[name]["fresh"] = dict(np.load(job["result"]))
    return entries


@pytest.mark.parametrize("name", list(CASES))
def test_fresh_process_keras_matches_onnxruntime_at_every_length_and_batch(
        converted: dict[str, dict[str, Any]], name: str) -> None:
    entry = converted[name]
    session = ort.InferenceSession(str(entry["onnx"]), providers=["CPUExecutionProvider"])
    for key, ids in entry["feeds"].items():
        reference = session.run(OUTPUTS, {"ids": ids})
        with torch.no_grad():
            source = [t.numpy() for t in entry["model"](torch.from_numpy(ids))]
        for output, ref, src in zip(OUTPUTS, reference, source):
            got = entry["fresh"][f"{output}/{key}"]
            assert got.shape == ref.shape == src.shape, (output, key, got.shape, ref.shape)
            assert np.abs(got - ref).max() <= TOLERANCE, (output, key, float(np.abs(got - ref).max()))
            assert np.abs(got - src).max() <= TOLERANCE, (output, key)


def test_recurrent_ops_become_real_keras_layers_with_dynamic_axes(converted: dict[str, dict[str, Any]]) -> None:
    (entry,) = converted.values()
    # the exporter typed the time axis with the example's length; build_onnx names it as the TensorSpec does
    for output in onnx.load(str(entry["onnx"])).graph.output:
        if output.name.endswith("_sequence"):
            assert [d.dim_param for d in output.type.tensor_type.shape.dim][:2] == ["batch", "time"]
    assert {"LSTM", "Bidirectional"} <= set(entry["fresh"]["__layers__"])
    keras_model = entry["keras_model"]
    assert tuple(keras_model.inputs[0].shape) == (None, None)  # batch and time both dynamic
    assert str(keras_model.inputs[0].dtype) == "int64"
    assert all(layer["class_name"] != "Lambda" for layer in keras_model.get_config()["layers"])


def test_pytorch_gru_exports_linear_before_reset_which_maps_to_reset_after(
        converted: dict[str, dict[str, Any]]) -> None:
    (entry,) = converted.values()
    grus = [n for n in onnx.load(str(entry["onnx"])).graph.node if n.op_type == "GRU"]
    assert len(grus) == 2 and all(any(a.name == "linear_before_reset" and a.i == 1 for a in n.attribute) for n in grus)
    bidirectional = [layer for layer in entry["keras_model"].layers if type(layer).__name__ == "Bidirectional"]
    assert len(bidirectional) == 2
    assert all(layer.forward_layer.reset_after and layer.backward_layer.reset_after for layer in bidirectional)


# --------------------------------------------------------------------------- hand-built ONNX graphs


def recurrent_graph(op_type: str, *, hidden: int = 4, features: int = 3, direction: str = "forward",
                    layout: int = 0, runtime: tuple[str, ...] = (), seed: int = 0, **attributes: Any) -> onnx.ModelProto:
    """A one-node LSTM/GRU/RNN graph with random constant W, R, B; ``runtime`` names extra graph inputs
    (``sequence_lens``, ``initial_h``, ``initial_c``) and every output Y, Y_h (, Y_c) is a graph output."""
    rng = np.random.default_rng(seed)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op_type]
    n_dir = 2 if direction == "bidirectional" else 1
    initializers = [
        numpy_helper.from_array(rng.standard_normal((n_dir, gates * hidden, features)).astype(np.float32) * 0.5, "W"),
        numpy_helper.from_array(rng.standard_normal((n_dir, gates * hidden, hidden)).astype(np.float32) * 0.5, "R"),
        numpy_helper.from_array(rng.standard_normal((n_dir, 2 * gates * hidden)).astype(np.float32) * 0.5, "B"),
    ]
    seq_batch = ["batch", "seq"] if layout else ["seq", "batch"]
    state_shape = ["batch", n_dir, hidden] if layout else [n_dir, "batch", hidden]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [*seq_batch, features])]
    names = ["X", "W", "R", "B", "", "", ""]
    for i, name in ((4, "sequence_lens"), (5, "initial_h"), (6, "initial_c")):
        if name in runtime:
            names[i] = name
            dtype, shape = (TensorProto.INT32, ["batch"]) if i == 4 else (TensorProto.FLOAT, state_shape)
            inputs.append(helper.make_tensor_value_info(name, dtype, shape))
    while names and not names[-1]:
        names.pop()
    out_names = ["Y", "Y_h", "Y_c"] if op_type == "LSTM" else ["Y", "Y_h"]
    y_shape = ["batch", "seq", n_dir, hidden] if layout else ["seq", n_dir, "batch", hidden]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)] + [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, state_shape) for n in out_names[1:]]
    node = helper.make_node(op_type, names, out_names, name=f"my_{op_type.lower()}", hidden_size=hidden,
                            direction=direction, layout=layout, **attributes)
    model = helper.make_model(helper.make_graph([node], "g", inputs, outputs, initializer=initializers),
                              opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    onnx.checker.check_model(model, full_check=True)
    return model


def feeds_for(model: onnx.ModelProto, batch: int, seq: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for vi in model.graph.input:
        dims = [batch if d.dim_param == "batch" else seq if d.dim_param == "seq" else d.dim_value
                for d in vi.type.tensor_type.shape.dim]
        if vi.name == "sequence_lens":
            lengths = rng.integers(1, seq + 1, batch).astype(np.int32)
            lengths[0] = seq  # one full-length row, as in any padded batch
            feeds[vi.name] = lengths
        else:
            feeds[vi.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def assert_matches_onnxruntime(model: onnx.ModelProto, sizes: tuple[tuple[int, int], ...] = ((1, 1), (3, 7), (2, 64))) -> None:
    """Keras vs onnxruntime; vs onnx's reference evaluator for layout=1, which onnxruntime's CPU kernels lack."""
    keras_model = onnx_to_keras(model)
    batch_major = any(a.name == "layout" and a.i == 1 for a in model.graph.node[0].attribute)
    if batch_major:
        from onnx.reference import ReferenceEvaluator

        session: Any = ReferenceEvaluator(model)
    else:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch, seq in sizes:
        feeds = feeds_for(model, batch, seq, rng)
        ordered = [feeds[vi.name] for vi in model.graph.input]
        result = keras_model(ordered[0] if len(ordered) == 1 else ordered, training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        for vi, got, ref in zip(model.graph.output, result, session.run(None, feeds)):
            got = np.asarray(got.detach().cpu()) if hasattr(got, "detach") else np.asarray(got)
            assert got.shape == ref.shape, (vi.name, batch, seq, got.shape, ref.shape)
            assert np.abs(got - ref).max() <= TOLERANCE, (vi.name, batch, seq, float(np.abs(got - ref).max()))


@pytest.mark.parametrize("op_type", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_hand_built_recurrent_nodes_match_onnxruntime(op_type: str, direction: str) -> None:
    extra = {"linear_before_reset": 1} if op_type == "GRU" else {}
    assert_matches_onnxruntime(recurrent_graph(op_type, direction=direction, **extra))


@pytest.mark.parametrize("linear_before_reset", [0, 1])
def test_gru_both_reset_variants_with_batch_major_layout(linear_before_reset: int) -> None:
    assert_matches_onnxruntime(recurrent_graph("GRU", direction="bidirectional", layout=1,
                                               linear_before_reset=linear_before_reset))


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_runtime_initial_states_and_sequence_lengths(direction: str) -> None:
    runtime = ("sequence_lens", "initial_h", "initial_c")
    assert_matches_onnxruntime(recurrent_graph("LSTM", direction=direction, runtime=runtime))
    assert_matches_onnxruntime(recurrent_graph("GRU", direction=direction, runtime=runtime[:2], linear_before_reset=1))


def test_only_initial_h_given_to_an_lstm() -> None:
    assert_matches_onnxruntime(recurrent_graph("LSTM", direction="bidirectional", layout=1, runtime=("initial_h",)))


def test_non_default_activations_that_keras_has() -> None:
    assert_matches_onnxruntime(recurrent_graph("RNN", activations=["Relu"]))
    assert_matches_onnxruntime(recurrent_graph("GRU", activations=["Sigmoid", "Relu"], linear_before_reset=1))


@pytest.mark.parametrize(("op_type", "attributes", "named"), [
    ("LSTM", {"clip": 3.0}, "clip"),
    ("LSTM", {"input_forget": 1}, "input_forget"),
    ("GRU", {"activations": ["HardSigmoid", "Tanh"]}, "activations"),
    ("LSTM", {"activations": ["Sigmoid", "Tanh", "Relu"]}, "activations"),
    ("RNN", {"activations": ["LeakyRelu"], "activation_alpha": [0.1]}, "activation_alpha"),
])
def test_unsupported_attributes_are_one_line_refusals(op_type: str, attributes: dict[str, Any], named: str) -> None:
    with pytest.raises(ZooError) as info:
        onnx_to_keras(recurrent_graph(op_type, **attributes))
    message = str(info.value)
    assert "\n" not in message and f"'{op_type}'" in message and f"'my_{op_type.lower()}'" in message
    assert named in message


# --------------------------------------------------------------------------- ONNX -> PyTorch (onnx2torch)


def test_onnx2torch_converts_the_exported_token_models(converted: dict[str, dict[str, Any]]) -> None:
    from exporters.pytorch import onnx_to_torch

    for entry in converted.values():
        module = onnx_to_torch(entry["onnx"])
        session = ort.InferenceSession(str(entry["onnx"]), providers=["CPUExecutionProvider"])
        for key in ("1x1", "7x7", "7x64"):
            ids = entry["feeds"][key]
            with torch.no_grad():
                got = module(torch.from_numpy(ids))
            for output, value, ref in zip(OUTPUTS, got, session.run(OUTPUTS, {"ids": ids})):
                assert np.abs(value.numpy() - ref).max() <= TOLERANCE, (output, key)


@pytest.mark.parametrize(("op_type", "direction", "layout", "runtime"), [
    ("LSTM", "reverse", 0, ("initial_h", "initial_c")),
    ("LSTM", "bidirectional", 1, ("initial_h",)),
    ("GRU", "bidirectional", 0, ("initial_h",)),
    ("RNN", "reverse", 0, ()),
])
def test_onnx2torch_hand_built_nodes(op_type: str, direction: str, layout: int, runtime: tuple[str, ...]) -> None:
    from onnx.reference import ReferenceEvaluator

    from exporters.pytorch import onnx_to_torch

    extra = {"linear_before_reset": 1} if op_type == "GRU" else {}
    model = recurrent_graph(op_type, direction=direction, layout=layout, runtime=runtime, **extra)
    module = onnx_to_torch(model)
    reference = ReferenceEvaluator(model)
    rng = np.random.default_rng(2)
    for batch, seq in ((1, 1), (3, 7)):
        feeds = feeds_for(model, batch, seq, rng)
        with torch.no_grad():
            got = module(*(torch.from_numpy(feeds[vi.name]) for vi in model.graph.input))
        for vi, value, ref in zip(model.graph.output, got, reference.run(None, feeds)):
            assert np.abs(value.numpy() - ref).max() <= TOLERANCE, (vi.name, batch, seq)


@pytest.mark.parametrize(("op_type", "attributes", "runtime", "named"), [
    ("GRU", {"linear_before_reset": 0}, (), "linear_before_reset"),
    ("LSTM", {}, ("sequence_lens",), "sequence_lens"),
    ("LSTM", {"clip": 2.0}, (), "clip"),
])
def test_onnx2torch_refusals_are_one_line_and_name_the_op(op_type: str, attributes: dict[str, Any],
                                                          runtime: tuple[str, ...], named: str) -> None:
    from exporters.pytorch import onnx_to_torch

    with pytest.raises(ZooError) as info:
        onnx_to_torch(recurrent_graph(op_type, runtime=runtime, **attributes))
    message = str(info.value)
    assert "\n" not in message and f"'{op_type}'" in message and named in message


def test_onnx2torch_refusal_for_an_op_without_converter_names_it() -> None:
    from exporters.pytorch import onnx_to_torch

    node = helper.make_node("DFT", ["x"], ["y"], name="dft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    with pytest.raises(ZooError, match=r"ONNX op 'DFT' \(opset 17\) has no onnx2torch converter"):
        onnx_to_torch(model)
