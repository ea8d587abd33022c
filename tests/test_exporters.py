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

# A fresh interpreter with one runtime only, started once per module and format, that never imports zoo:
# it reads jobs (model file, inputs .npz, outputs .npz) as JSON lines and answers one JSON line each, so
# the Keras/torch import is paid once, not once per graph. Every answer checks that nothing of zoo (or
# of the other runtime) has been imported.
FRESH_WORKER = """
import json, os, sys, traceback
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np
kind = sys.argv[1]
if kind == "keras":
    import keras
    forbidden = ("zoo", "exporters", "onnxruntime")
else:
    import onnxruntime as ort
    forbidden = ("zoo", "exporters", "torch", "keras")
for line in sys.stdin:
    job = json.loads(line)
    try:
        inputs = dict(np.load(job["inputs"]))
        results = {}
        if kind == "keras":
            model = keras.saving.load_model(job["model"])  # default safe_mode: built-in layers only
            names = [t.name for t in model.inputs]
            for b in (1, 7, 64):
                args = [inputs[n][:b] for n in names]
                out = model.predict_on_batch(args[0] if len(args) == 1 else args)
                for i, o in enumerate(out if isinstance(out, (list, tuple)) else [out]):
                    results[f"{b}_{i}"] = np.asarray(o)
        else:
            session = ort.InferenceSession(job["model"], providers=["CPUExecutionProvider"])
            for b in (1, 7, 64):
                for i, out in enumerate(session.run(None, {k: v[:b] for k, v in inputs.items()})):
                    results[f"{b}_{i}"] = out
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
        assert not leaked, leaked
        np.savez(job["out"], **results)
        answer = {"ok": True}
    except Exception:
        answer = {"ok": False, "error": traceback.format_exc()[-3000:]}
    print(json.dumps(answer), flush=True)
"""


class FreshWorker:
    """One ``FRESH_WORKER`` process of ``kind`` ("onnx" or "keras"), without zoo on its path."""

    def __init__(self, kind: str, folder: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.log = folder / f"{kind}-worker.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", FRESH_WORKER, kind], cwd=folder, env=env, text=True,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)

    def run(self, model_file: Path, inputs_file: Path, out_file: Path) -> None:
        """Outputs of ``model_file`` on the inputs at batch 1, 7 and 64, saved in ``out_file``; fails the test
        with the worker's traceback when the file does not load or run alone."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"model": str(model_file), "inputs": str(inputs_file), "out": str(out_file)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the fresh worker died: {self.log.read_text()[-2000:]}"
        answer = json.loads(line)
        assert answer["ok"], f"{model_file.name} in a fresh process without zoo: {answer['error']}"

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory):
    """``fresh[kind].run(model_file, inputs, out)``: the module's ONNX and Keras fresh-process workers."""
    folder = tmp_path_factory.mktemp("fresh")

    class Workers(dict):
        def __missing__(self, kind: str) -> FreshWorker:  # started on first use
            self[kind] = FreshWorker(kind, folder)
            return self[kind]

    workers = Workers()
    yield workers
    for worker in workers.values():
        worker.close()


def rows(inputs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``n`` rows, repeating the real examples when the split has fewer (tabular test splits are small)."""
    return {k: np.concatenate([v] * -(-n // len(v)))[:n] for k, v in inputs.items()}


@pytest.mark.parametrize("name", registry.names())
def test_every_model_exports_and_runs_without_zoo(name: str, tiny_run, exports, fresh, tmp_path: Path) -> None:
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
        for fmt, exported in (("onnx", onnx_file.path), ("keras", keras_file.path)):
            fresh[fmt].run(exported, tmp_path / "inputs.npz", tmp_path / f"{fmt}_out.npz")
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
