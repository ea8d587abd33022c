"""ONNX -> Keras 3 converter: torch -> ONNX (dynamo) -> Keras -> .keras -> fresh process, outputs compared."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper
from torch import nn

os.environ.setdefault("KERAS_BACKEND", "torch")

from exporters.keras import UnsupportedOpError, onnx_to_keras, save_keras  # noqa: E402

BATCH_SIZES = (1, 7, 64)
TOLERANCE = 1e-4


# --------------------------------------------------------------------------- models


class Branch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        h = torch.relu(self.conv2(h))
        return self.fc(self.pool(h).flatten(1))


class Siamese(nn.Module):
    """Shared conv branch; L1 distance + sigmoid similarity, and a sqrt (Euclidean) feature-map distance."""

    def __init__(self) -> None:
        super().__init__()
        self.branch = Branch()
        self.head = nn.Linear(12, 1)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a, b = self.branch(left), self.branch(right)
        maps_a, maps_b = torch.relu(self.branch.conv1(left)), torch.relu(self.branch.conv1(right))
        distance = torch.sqrt(((maps_a - maps_b) ** 2).sum(1, keepdim=True) + 1e-6).mean(dim=(2, 3))
        return torch.sigmoid(self.head(torch.abs(a - b))), a, distance


class TwoBranchCNN(nn.Module):
    """Factorised 2x1/1x2 and 5x1/1x5 convs, BN, ReLU, max-pool, concat, GAP, dense, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.a1 = nn.Conv2d(3, 8, (2, 1), padding="same")
        self.a2 = nn.Conv2d(8, 8, (1, 2), padding="same")
        self.b1 = nn.Conv2d(3, 8, (5, 1), padding=(2, 0))
        self.b2 = nn.Conv2d(8, 8, (1, 5), padding=(0, 2))
        self.bn_a = nn.BatchNorm2d(8)
        self.bn_b = nn.BatchNorm2d(8)
        self.bn = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.max_pool2d(torch.relu(self.bn_a(self.a2(self.a1(x)))), 2)
        b = F.max_pool2d(torch.relu(self.bn_b(self.b2(self.b1(x)))), 2)
        h = self.bn(torch.cat([a, b], dim=1))  # BN not foldable into a conv: stays a BatchNormalization op
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return torch.softmax(self.fc2(torch.relu(self.fc1(h))), dim=1)


class TabularToImage(nn.Module):
    """Constant gather of feature columns, reshape into an image, conv; plus x @ W with a constant W."""

    def __init__(self, features: int = 10) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("idx", torch.randint(0, features, (16,), generator=generator))
        self.register_buffer("proj", torch.randn(features, 4, generator=generator))
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4 + 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = x[:, self.idx].reshape(-1, 1, 4, 4)
        h = torch.relu(self.conv(image)).flatten(1)
        return self.fc(torch.cat([h, x @ self.proj], dim=1))


class OpsTour(nn.Module):
    """Depthwise/dilated/grouped conv, ConvTranspose, ceil-mode pools, Resize, Pad, Split, Slice, 1-D conv..."""

    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(4, 8, 3, padding=1, groups=4, stride=2)
        self.gc = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.ct = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.c1 = nn.Conv1d(4, 6, 3, padding=1)
        self.lin = nn.Linear(6, 6)
        self.bn1 = nn.BatchNorm1d(6)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = F.elu(self.gc(F.leaky_relu(self.dw(x), 0.1)))
        h = self.bn(self.ct(h))
        h = F.hardsigmoid(h) + F.gelu(h) + F.relu6(h)
        p1 = F.max_pool2d(h, 3, 2, padding=1, ceil_mode=True)
        p2 = F.avg_pool2d(h, 3, 2, padding=1, ceil_mode=True, count_include_pad=False)
        p3 = F.avg_pool2d(h, 3, 2, padding=1, ceil_mode=True)
        up = F.interpolate(p1 + p2 * p3, scale_factor=2, mode="nearest")
        up = up + F.interpolate(p1, scale_factor=2, mode="bilinear", align_corners=False)
        z = F.pad(up, (1, 0, 2, 1))
        a, b = torch.chunk(z, 2, dim=1)
        z = torch.cat([b, a], 1)[:, :, 1:-1, ::2]
        seq = self.c1(z.mean(3)).transpose(1, 2)
        seq = torch.softmax(self.lin(seq), -1)
        return seq.view(seq.size(0), -1), self.bn1(seq.mean(1)), torch.tanh(z).permute(0, 2, 3, 1)


@dataclass
class Case:
    name: str
    model: nn.Module
    inputs: dict[str, tuple[int, ...]]  # name -> shape without batch
    outputs: list[str]


CASES = [
    Case("siamese", Siamese(), {"left": (1, 20, 20), "right": (1, 20, 20)}, ["similarity", "embedding", "distance"]),
    Case("two_branch_cnn", TwoBranchCNN(), {"image": (3, 16, 16)}, ["probs"]),
    Case("tabular_to_image", TabularToImage(), {"features": (10,)}, ["logits"]),
    Case("ops_tour", OpsTour(), {"x": (4, 16, 16)}, ["seq", "pooled", "nhwc"]),
]


def _randomize_batch_norm(model: nn.Module) -> None:
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)


def _export(case: Case, path: Path) -> None:
    case.model.eval()
    _randomize_batch_norm(case.model)
    batch = torch.export.Dim("batch", min=1, max=1024)
    example = tuple(torch.randn(2, *shape) for shape in case.inputs.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            case.model,
            example,
            str(path),
            dynamo=True,
            input_names=list(case.inputs),
            output_names=case.outputs,
            dynamic_shapes=tuple({0: batch} for _ in case.inputs),
            verbose=False,
        )


_FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras

    jobs = json.loads(sys.argv[1])
    for job in jobs:
        model = keras.saving.load_model(job["keras"])
        data = np.load(job["inputs"])
        result = {}
        for bs in job["batch_sizes"]:
            feeds = [data[f"{name}_{bs}"] for name in job["input_names"]]
            out = model.predict(feeds if len(feeds) > 1 else feeds[0], batch_size=64, verbose=0)
            for name, value in zip(job["output_names"], out if isinstance(out, list) else [out]):
                result[f"{name}_{bs}"] = np.asarray(value)
        result["__output_names__"] = np.array(model.output_names)
        result["__input_names__"] = np.array([t.name for t in model.inputs])
        np.savez(job["outputs"], **result)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "exporters"))
    assert not leaked, leaked
    print("FRESH_OK")
    """
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Export, convert and save every case; reload all in ONE fresh process (keeps the file fast)."""
    logging.getLogger("torch").setLevel(logging.ERROR)
    workdir = tmp_path_factory.mktemp("keras_converter")
    rng = np.random.default_rng(0)
    results: dict[str, dict] = {}
    jobs = []
    for case in CASES:
        onnx_path = workdir / f"{case.name}.onnx"
        _export(case, onnx_path)
        keras_model = onnx_to_keras(onnx_path)
        keras_path = save_keras(keras_model, workdir / f"{case.name}.keras")
        feeds = {
            f"{name}_{bs}": rng.standard_normal((bs, *shape)).astype(np.float32)
            for name, shape in case.inputs.items()
            for bs in BATCH_SIZES
        }
        np.savez(workdir / f"{case.name}_in.npz", **feeds)
        jobs.append(
            {
                "keras": str(keras_path),
                "inputs": str(workdir / f"{case.name}_in.npz"),
                "outputs": str(workdir / f"{case.name}_out.npz"),
                "batch_sizes": list(BATCH_SIZES),
                "input_names": list(case.inputs),
                "output_names": case.outputs,
            }
        )
        results[case.name] = {"case": case, "onnx": onnx_path, "feeds": feeds, "keras_model": keras_model}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"KERAS_BACKEND": "torch"}
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS_SCRIPT, json.dumps(jobs)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "FRESH_OK" in proc.stdout, proc.stderr[-4000:]
    for case, job in zip(CASES, jobs):
        results[case.name]["fresh"] = dict(np.load(job["outputs"]))
    return results


@pytest.mark.parametrize("case_name", [c.name for c in CASES])
def test_fresh_process_keras_matches_onnxruntime_and_torch(converted: dict[str, dict], case_name: str) -> None:
    entry = converted[case_name]
    case: Case = entry["case"]
    fresh = entry["fresh"]
    assert list(fresh["__input_names__"]) == list(case.inputs)
    assert list(fresh["__output_names__"]) == case.outputs
    session = ort.InferenceSession(str(entry["onnx"]), providers=["CPUExecutionProvider"])
    for bs in BATCH_SIZES:
        feeds = {name: entry["feeds"][f"{name}_{bs}"] for name in case.inputs}
        onnx_out = session.run(case.outputs, feeds)
        with torch.no_grad():
            torch_out = case.model(*(torch.from_numpy(v) for v in feeds.values()))
        torch_out = torch_out if isinstance(torch_out, tuple) else (torch_out,)
        for name, ref_onnx, ref_torch in zip(case.outputs, onnx_out, torch_out):
            got = fresh[f"{name}_{bs}"]
            assert got.shape == ref_onnx.shape, (name, bs)
            assert np.abs(got - ref_onnx).max() <= TOLERANCE, (name, bs, np.abs(got - ref_onnx).max())
            assert np.abs(got - ref_torch.numpy()).max() <= TOLERANCE, (name, bs)


def test_keras_model_keeps_onnx_layout_and_names(converted: dict[str, dict]) -> None:
    model = converted["siamese"]["keras_model"]
    assert [t.name for t in model.inputs] == ["left", "right"]
    assert model.output_names == ["similarity", "embedding", "distance"]
    assert tuple(model.inputs[0].shape) == (None, 1, 20, 20)  # NCHW in, like the ONNX model
    nhwc_output = converted["ops_tour"]["keras_model"].outputs[2]  # torch's permute(0, 2, 3, 1) output
    assert tuple(nhwc_output.shape) == (None, 19, 10, 4)


def test_saved_model_uses_only_builtin_keras_classes(converted: dict[str, dict]) -> None:
    for entry in converted.values():
        config = entry["keras_model"].get_config()
        for layer in config["layers"]:
            assert layer["module"].startswith(("keras.layers", "keras.src.ops")), layer["module"]
            assert layer["class_name"] != "Lambda"


# --------------------------------------------------------------------------- hand-built ONNX graphs


def _graph_model(nodes: list, inputs: list, outputs: list, initializers: list = (), opset: int = 18) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model


def _float_input(name: str, *dims: int | str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))



def _assert_keras_matches_onnxruntime(model: onnx.ModelProto, rng: np.random.Generator) -> None:
    """Convert a hand-built graph with input x (N, 3, 4, 4); compare every output with onnxruntime."""
    onnx.checker.check_model(model)
    keras_model = onnx_to_keras(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for bs in (1, 7):
        x = rng.standard_normal((bs, 3, 4, 4)).astype(np.float32)
        for got, ref in zip(keras_model.predict(x, verbose=0), session.run(None, {"x": x})):
            assert got.shape == ref.shape
            assert np.abs(got - ref).max() <= TOLERANCE

def test_hand_built_ops_match_onnxruntime() -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 48)).astype(np.float32)  # Gemm transB weight
    nodes = [
        helper.make_node("GlobalMaxPool", ["x"], ["gmp"], name="gmp"),
        helper.make_node("Flatten", ["x"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "w", "c"], ["gemm"], name="gemm", transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Exp", ["gemm"], ["exp"], name="exp"),
        helper.make_node("Log", ["exp"], ["log"], name="log"),
        helper.make_node("Neg", ["log"], ["neg"], name="neg"),
        helper.make_node("Div", ["two", "exp"], ["div"], name="div"),
        helper.make_node("Sub", ["div", "neg"], ["sub"], name="sub"),
        helper.make_node("Softmax", ["sub"], ["y1"], name="softmax", axis=1),
        helper.make_node("Transpose", ["x"], ["xt"], name="transpose", perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["xt"], ["xt_t"], name="transpose2", perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["xt", "xt_t"], ["mm"], name="matmul_dyn"),
        helper.make_node("ReduceMax", ["mm", "axis_last"], ["rmax"], name="reduce_max", keepdims=0),
        helper.make_node("Clip", ["rmax", "lo", "hi"], ["y2"], name="clip"),
        helper.make_node("Squeeze", ["gmp", "axes23"], ["y3"], name="squeeze"),
    ]
    initializers = [
        onnx.numpy_helper.from_array(w, "w"),
        onnx.numpy_helper.from_array(rng.standard_normal((1, 5)).astype(np.float32), "c"),
        onnx.numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
        onnx.numpy_helper.from_array(np.array(-1.0, dtype=np.float32), "lo"),
        onnx.numpy_helper.from_array(np.array(3.0, dtype=np.float32), "hi"),
        onnx.numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes23"),
        onnx.numpy_helper.from_array(np.array([-1], dtype=np.int64), "axis_last"),
    ]
    model = _graph_model(
        nodes,
        [_float_input("x", "N", 3, 4, 4)],
        [_float_input("y1", "N", 5), _float_input("y2", "N", 4, 4), _float_input("y3", "N", 3)],
        initializers,
    )
    _assert_keras_matches_onnxruntime(model, rng)


def test_shape_arithmetic_gather_and_resize_match_onnxruntime() -> None:
    """Unoptimised-export patterns: Shape->Gather->Unsqueeze->Concat->Reshape with a dynamic batch."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["gap"], name="gap"),
        helper.make_node("Shape", ["gap"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], name="gather_batch", axis=0),
        helper.make_node("Unsqueeze", ["batch", "axis0"], ["batch1"], name="unsqueeze_batch"),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], name="concat_shape", axis=0),
        helper.make_node("Reshape", ["gap", "target"], ["y1"], name="reshape_dynamic"),
        helper.make_node("Gather", ["x", "channels"], ["picked"], name="gather_channels", axis=1),
        helper.make_node("Resize", ["picked", "", "", "sizes"], ["y2"], name="resize", mode="linear", axes=[2, 3]),
        helper.make_node("Unsqueeze", ["y1", "axis0"], ["y1u"], name="unsqueeze"),
        helper.make_node("Transpose", ["y1u"], ["y3"], name="transpose_batch", perm=[1, 0, 2]),
        helper.make_node("Gemm", ["y1", "y1", "gemm_c"], ["y4"], name="gemm_dynamic", transB=1, alpha=0.5),
    ]
    initializers = [
        onnx.numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        onnx.numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
        onnx.numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
        onnx.numpy_helper.from_array(np.array([2, 0, -1], dtype=np.int64), "channels"),
        onnx.numpy_helper.from_array(np.array([7, 5], dtype=np.int64), "sizes"),
        onnx.numpy_helper.from_array(np.array(0.25, dtype=np.float32), "gemm_c"),
    ]
    model = _graph_model(
        nodes,
        [_float_input("x", "N", 3, 4, 4)],
        [
            _float_input("y1", "N", 3),
            _float_input("y2", "N", 3, 7, 5),
            _float_input("y3", "N", 1, 3),
            _float_input("y4", "N", "N"),
        ],
        initializers,
    )
    _assert_keras_matches_onnxruntime(model, rng)


def test_names_clashing_with_keras_auto_names_are_kept_for_io() -> None:
    import keras

    keras.backend.clear_session()  # auto names restart at 'sqrt', 'absolute', ...
    nodes = [
        helper.make_node("Relu", ["sqrt"], ["r"], name="sqrt"),
        helper.make_node("Sqrt", ["r"], ["s"], name="node_sqrt"),
        helper.make_node("Abs", ["s"], ["absolute"], name="abs"),
    ]
    model = _graph_model(nodes, [_float_input("sqrt", "N", 3)], [_float_input("absolute", "N", 3)])
    keras_model = onnx_to_keras(model)
    assert [t.name for t in keras_model.inputs] == ["sqrt"]
    assert keras_model.output_names == ["absolute"]
    x = np.array([[-4.0, 4.0, 9.0]], dtype=np.float32)
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), [[0.0, 2.0, 3.0]])


@pytest.mark.parametrize("op_type", ["Det", "NonMaxSuppression"])
def test_unsupported_op_raises_naming_op_and_node(op_type: str) -> None:
    if op_type == "Det":
        node = helper.make_node("Det", ["x"], ["y"], name="my_det")
        outputs = [_float_input("y", "N")]
    else:
        node = helper.make_node("NonMaxSuppression", ["x", "scores"], ["y"], name="my_nms")
        outputs = [helper.make_tensor_value_info("y", TensorProto.INT64, ["K", 3])]
    inputs = [_float_input("x", "N", 4, 4)] + ([_float_input("scores", "N", 1, 4)] if op_type != "Det" else [])
    model = _graph_model([node], inputs, outputs)
    with pytest.raises(UnsupportedOpError, match=rf"ONNX op '{op_type}' \(node '{node.name}'\) has no Keras mapping"):
        onnx_to_keras(model)


def test_unsupported_attribute_raises_naming_op_and_node() -> None:
    weight = onnx.numpy_helper.from_array(np.ones((2, 3, 3, 3), dtype=np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="same_conv", auto_pad="SAME_UPPER")
    # SAME padding is resolved from static spatial sizes; with dynamic ones it must be refused, naming it.
    model = _graph_model([node], [_float_input("x", "N", 3, "H", "W")], [_float_input("y", "N", 2, "H", "W")], [weight])
    with pytest.raises(UnsupportedOpError, match=r"ONNX op 'Conv' \(node 'same_conv'\).*auto_pad='SAME_UPPER'"):
        onnx_to_keras(model)


# --------------------------------------------------------------------------- save_keras


def _tiny_keras_model() -> Any:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    return onnx_to_keras(_graph_model([node], [_float_input("x", "N", 3)], [_float_input("y", "N", 3)]))


def test_save_keras_failure_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_keras_model()
    target = tmp_path / "model.keras"

    def broken_save(path: object, *args: object, **kwargs: object) -> None:
        Path(str(path)).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_keras(model, target)
    assert list(tmp_path.iterdir()) == []

    target.write_bytes(b"previous good file")
    with pytest.raises(OSError):
        save_keras(model, target)
    assert target.read_bytes() == b"previous good file"
    assert list(tmp_path.iterdir()) == [target]


def test_save_keras_writes_loadable_file(tmp_path: Path) -> None:
    import keras

    path = save_keras(_tiny_keras_model(), tmp_path / "sub" / "relu.keras")
    assert path == tmp_path / "sub" / "relu.keras" and path.is_file()
    reloaded = keras.saving.load_model(path)
    x = np.array([[-1.0, 0.5, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), np.maximum(x, 0))
    assert sorted(p.name for p in path.parent.iterdir()) == ["relu.keras"]
