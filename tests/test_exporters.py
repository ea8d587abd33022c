"""Exporters: every registered model goes PyTorch -> ONNX and -> Keras 3, the files run in a fresh process
without zoo, and every conversion (round trip, onnx2torch, fp16, int8) is parity-checked on real inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo import artifacts, registry

ATOL = 1e-4
BATCHES = (1, 7, 64)

# Run in a fresh interpreter with one runtime only; prints nothing, writes outputs per batch size.
ONNX_ALONE = """
import sys
import numpy as np, onnxruntime as ort
inputs = dict(np.load(sys.argv[2]))
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
results = {}
for b in (1, 7, 64):
    for i, out in enumerate(session.run(None, {k: v[:b] for k, v in inputs.items()})):
        results[f"{b}_{i}"] = out
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "exporters", "torch", "keras"))
assert not leaked, leaked
np.savez(sys.argv[3], **results)
"""

KERAS_ALONE = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, keras
inputs = dict(np.load(sys.argv[2]))
model = keras.saving.load_model(sys.argv[1])  # default safe_mode: built-in layers only
names = [t.name for t in model.inputs]
results = {}
for b in (1, 7, 64):
    args = [inputs[n][:b] for n in names]
    out = model.predict_on_batch(args[0] if len(args) == 1 else args)
    for i, o in enumerate(out if isinstance(out, (list, tuple)) else [out]):
        results[f"{b}_{i}"] = np.asarray(o)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "exporters", "onnxruntime"))
assert not leaked, leaked
np.savez(sys.argv[3], **results)
"""


def rows(inputs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``n`` rows, repeating the real examples when the split has fewer (tabular test splits are small)."""
    return {k: np.concatenate([v] * -(-n // len(v)))[:n] for k, v in inputs.items()}


def standalone(script: str, model_file: Path, inputs_file: Path, out_file: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.Popen([sys.executable, "-c", script, str(model_file), str(inputs_file), str(out_file)],
                            cwd=out_file.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def exports(tiny_run, tmp_path_factory: pytest.TempPathFactory):
    """``exports(name)`` -> (ONNX, Keras) ExportResults of model ``name``'s tiny run, made once per module
    into their own folder (tests that change a file copy it first)."""
    from exporters.export import export

    made: dict[str, tuple] = {}

    def get(name: str) -> tuple:
        if name not in made:
            out = tmp_path_factory.mktemp(f"exports-{name}")
            made[name] = (export(tiny_run(name), "onnx", out), export(tiny_run(name), "keras", out))
        return made[name]

    return get


@pytest.mark.parametrize("name", registry.names())
def test_every_model_exports_and_runs_without_zoo(name: str, tiny_run, exports, tmp_path: Path) -> None:
    """Every graph of the export spec (the main one and e.g. an encoder) is written as ONNX and Keras,
    parity-checked, describes itself, and runs in a fresh process without zoo like its PyTorch submodule."""
    from exporters.onnx import read_metadata
    from exporters.sources import resolve_source
    from zoo import graphs as zgraphs
    from zoo.runtime import torch_predictor

    run = tiny_run(name)
    onnx_result, keras_result = exports(name)
    art = artifacts.load(run)
    art.spec.data  # noqa: B018  (models may complete data-dependent config fields when their data loads)
    graphs = zgraphs.graph_specs(art.spec)
    assert len(onnx_result.graphs) == len(keras_result.graphs) == len(graphs) - 1
    for index, (graph, onnx_file, keras_file) in enumerate(zip(graphs, [onnx_result, *onnx_result.graphs],
                                                               [keras_result, *keras_result.graphs])):
        stem = name if index == 0 else f"{name}.{graph.name}"
        assert onnx_file.path.name == f"{stem}.onnx" and keras_file.path.name == f"{stem}.keras"
        for result in (onnx_file, keras_file):
            assert result.parity["passed"] and result.parity_path.is_file()
            assert max(o["max_abs_error"] for o in result.parity["outputs"].values()) <= ATOL
            assert result.parity.get("graph") == (graph.name if index else None)
        meta = read_metadata(onnx_file.path)
        assert json.loads(meta["zoo"])["config"] == art.spec.config.portable_dict() and meta["model"] == name
        assert json.loads(meta["parity"])["passed"] is True
        spec = zgraphs.view(art.spec, graph)
        for exported in (onnx_file.path, keras_file.path):  # the spec (and graph) comes back from the file alone
            back = resolve_source(exported).spec
            assert back.config == art.spec.config and getattr(back, "graph_name", None) == getattr(spec, "graph_name", None)

        inputs = rows(spec.example_inputs(64), 64)
        np.savez(tmp_path / "inputs.npz", **inputs)
        module = zgraphs.module_of(art.model, graph)
        reference = torch_predictor(module, [t.name for t in spec.inputs()], device="cpu")(inputs)
        jobs = {"onnx": standalone(ONNX_ALONE, onnx_file.path, tmp_path / "inputs.npz", tmp_path / "onnx_out.npz"),
                "keras": standalone(KERAS_ALONE, keras_file.path, tmp_path / "inputs.npz", tmp_path / "keras_out.npz")}
        for fmt, job in jobs.items():
            _, err = job.communicate(timeout=300)
            assert job.returncode == 0, f"{fmt} {stem}: {err[-2000:]}"
            outputs = np.load(tmp_path / f"{fmt}_out.npz")
            for b in BATCHES:
                for i, ref in enumerate(reference):
                    got = outputs[f"{b}_{i}"]
                    assert got.shape == ref[:b].shape, (fmt, stem, b)
                    np.testing.assert_allclose(got, ref[:b], atol=ATOL, rtol=0, err_msg=f"{stem} {fmt} batch {b}")


def test_round_trip_pytorch_onnx_keras_onnx(siamese_run: Path, exports) -> None:
    from exporters.export import convert, verify
    from exporters.onnx import graph_io, load_onnx, read_metadata
    from exporters.runtime import onnx_predictor

    keras_file = exports("siamese")[1].path
    result = convert(keras_file, "onnx")
    assert result.path == keras_file.with_name("siamese.from-keras.onnx")
    assert result.parity["source"]["format"] == "keras" and result.parity["passed"]
    assert graph_io(load_onnx(result.path)) == (["left", "right"], ["same"])
    assert json.loads(read_metadata(result.path)["parity"])["source"]["format"] == "keras"

    art = artifacts.load(siamese_run)
    inputs = art.spec.example_inputs(64)
    round_tripped, reference = onnx_predictor(result.path), art.predictor()(inputs)[0]
    for b in BATCHES:  # Keras' exporter keeps the batch axis dynamic too
        np.testing.assert_allclose(round_tripped({k: v[:b] for k, v in inputs.items()})[0], reference[:b], atol=ATOL, rtol=0)
    assert verify(result.path)["passed"]  # against the .keras file its report names
    assert verify(keras_file)["passed"]  # against the PyTorch run


def test_onnx_to_pytorch_with_onnx2torch(siamese_run: Path, exports) -> None:
    from exporters.export import convert, verify
    from exporters.pytorch import load_torch, read_metadata
    from zoo.runtime import torch_predictor

    onnx_file = exports("siamese")[0].path
    result = convert(onnx_file, "pytorch")
    assert result.path.name == "siamese.onnx2torch.safetensors" and result.parity["passed"]
    assert json.loads(read_metadata(result.path)["zoo"])["model"] == "siamese"

    art = artifacts.load(siamese_run)
    inputs = art.spec.example_inputs(32)
    module = load_torch(result.path, onnx_file)
    np.testing.assert_allclose(torch_predictor(module, ["left", "right"], device="cpu")(inputs)[0],
                               art.predictor()(inputs)[0], atol=ATOL, rtol=0)
    assert verify(result.path)["passed"]


def test_int8_and_fp16_reports_show_metric_change_and_sizes(siamese_run: Path, tmp_path: Path) -> None:
    from exporters.export import export

    dynamic = export(siamese_run, "onnx", tmp_path, quantize="dynamic", metric_tolerance=0.5).parity
    static = export(siamese_run, "onnx", tmp_path, quantize="static", metric_tolerance=0.5, calibration_rows=32).parity
    half = export(siamese_run, "onnx", tmp_path, fp16=True).parity
    assert {p.name for p in tmp_path.glob("*.onnx")} == {"siamese.int8.onnx", "siamese.int8-static.onnx", "siamese.fp16.onnx"}
    for report in (dynamic, static):
        assert report["target"]["precision"] == "int8"
        assert report["tolerance"] == {"criterion": "primary metric drop <= max_drop", "metric": "test/20way_acc", "max_drop": 0.5}
        metric = report["metric"]
        assert metric["primary"] == "test/20way_acc"
        assert metric["change"]["test/20way_acc"] == pytest.approx(metric["candidate"]["test/20way_acc"] - metric["reference"]["test/20way_acc"])
        # Dense (Gemm) weights are most of the bytes: rewritten to MatMul so that int8 covers them.
        assert report["sizes"]["ratio_vs_fp32"] >= 3.0, report["sizes"]
        assert "decision_agreement" in report["outputs"]["same"]
    assert half["tolerance"]["atol"] == 1e-2 and half["outputs"]["same"]["max_abs_error"] <= 1e-2
    assert 1.8 <= half["sizes"]["ratio_vs_fp32"] <= 2.2
    assert "test/20way_acc" in half["metric"]["change"]


def test_verify_catches_a_tampered_file(exports, tmp_path: Path) -> None:
    from onnx import numpy_helper

    from exporters.export import verify
    from exporters.onnx import load_onnx, write_onnx
    from zoo.errors import ParityError

    exported = exports("siamese")[0]
    path = Path(shutil.copy(exported.path, tmp_path))
    shutil.copy(exported.parity_path, tmp_path)
    assert verify(path)["passed"]
    proto = load_onnx(path)
    head = max(proto.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    head.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(head) * 1.5, head.name))
    write_onnx(proto, path)
    with pytest.raises(ParityError, match="not within tolerance"):
        verify(path)


def test_static_batch_and_torchscript(siamese_run: Path, tmp_path: Path) -> None:
    from exporters.export import export
    from exporters.runtime import onnx_predictor, onnx_session

    static = export(siamese_run, "onnx", tmp_path, dynamic_batch=False)
    assert [i.shape[0] for i in onnx_session(static.path).get_inputs()] == [1, 1]
    art = artifacts.load(siamese_run)
    inputs = art.spec.example_inputs(5)  # fed one row at a time by the predictor
    np.testing.assert_allclose(onnx_predictor(static.path)(inputs)[0], art.predictor()(inputs)[0], atol=ATOL, rtol=0)
    traced = export(siamese_run, "torchscript", tmp_path)
    assert traced.path.name == "siamese.torchscript.pt" and traced.parity["passed"]
