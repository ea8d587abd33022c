"""Multi-graph export: a model's further graphs (an encoder, a head fed by the encoder's features) are
written as <model>.<graph>.onnx/.keras, each parity-checked against its own submodule; `zoo verify` and
`zoo convert` work on them; a broken graph writes nothing at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo import registry
from zoo.errors import ZooError
from zoo.registry import ExportSpec, GraphSpec, TensorSpec


def _with_head_graph(monkeypatch: pytest.MonkeyPatch, head_module: str = "head") -> None:
    """rotnet with a third graph, ``head``, whose input is the encoder's features (not a model input)."""
    cls = registry.get("rotnet")
    original = cls.export_spec

    def export_spec(self) -> ExportSpec:
        spec = original(self)
        features = spec.graphs[1].outputs[0]
        head = GraphSpec("head", module=head_module, inputs=(features,),
                         outputs=(TensorSpec("logits", ("batch", self.num_classes()), meaning="logits"),))
        return ExportSpec(graphs=(*spec.graphs, head), atol=spec.atol)

    def graph_example_inputs(self, graph: GraphSpec, n: int, split: str = "test") -> dict[str, np.ndarray]:
        if graph.name != "head":
            return registry.ZooModel.graph_example_inputs(self, graph, n, split)
        from zoo import artifacts

        model = artifacts.load(self._test_run).model.eval()
        with torch.no_grad():
            return {"features": model.encoder(torch.from_numpy(self.example_inputs(n, split)["image"])).numpy()}

    monkeypatch.setattr(cls, "export_spec", export_spec)
    monkeypatch.setattr(cls, "graph_example_inputs", graph_example_inputs)


@pytest.fixture()
def rotnet_copy(tiny_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    run = tmp_path / "rotnet"
    shutil.copytree(tiny_run("rotnet"), run)
    monkeypatch.setattr(registry.get("rotnet"), "_test_run", run, raising=False)
    return run


def test_every_graph_is_written_and_checked(rotnet_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporters.export import convert, export, verify
    from exporters.sources import resolve_source

    _with_head_graph(monkeypatch)
    out = rotnet_copy / "exported"
    result = export(rotnet_copy, "onnx", out)
    assert [r.path.name for r in (result, *result.graphs)] == ["rotnet.onnx", "rotnet.encoder.onnx", "rotnet.head.onnx"]
    head = result.graphs[1]
    assert head.parity["passed"] and head.parity["graph"] == "head"
    assert head.parity["outputs"]["logits"]["top1_agreement"] == 1.0
    spec = resolve_source(head.path).spec
    assert spec.graph_name == "head" and [t.name for t in spec.inputs()] == ["features"]
    assert verify(head.path)["passed"]  # the reference is the PyTorch head, not the whole network
    keras = convert(head.path, "keras", out)
    assert keras.path.name == "rotnet.head.keras" and keras.parity["passed"]


def test_a_broken_graph_writes_no_file(rotnet_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exporters.export import export

    _with_head_graph(monkeypatch, head_module="no.such.module")
    out = rotnet_copy / "exported"
    with pytest.raises(ZooError, match="no submodule 'no.such.module' for graph 'head'") as err:
        export(rotnet_copy, "onnx", out)
    assert "\n" not in str(err.value)
    assert not any(p for p in out.rglob("*") if p.is_file())  # not even the main graph, which was fine


def test_graph_inputs_the_model_cannot_make_are_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = registry.create("rotnet", registry.card("rotnet").tiny)
    graph = GraphSpec("decoder", module="head", inputs=(TensorSpec("code", ("batch", 4)),))
    with pytest.raises(ZooError, match="override graph_example_inputs"):
        spec.graph_example_inputs(graph, 3)
