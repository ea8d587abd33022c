"""The graphs a model exports, each seen as a model of its own.

A model's :class:`~zoo.registry.ExportSpec` lists its graphs: ``graphs[0]`` is the main graph (file
``<model>.onnx``), the others are submodules written as ``<model>.<graph>.onnx`` (a VAE's
``encoder`` and ``decoder``, a pretext model's ``encoder``). :class:`GraphModel` gives each graph
the interface the exporters, parity checks and runtimes already use (``inputs``, ``outputs``,
``example_inputs``, ``describe``), so one code path exports and checks every graph.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from zoo.registry import ExportSpec, GraphSpec, Preprocessing, TensorSpec, ZooModel


class GraphModel:
    """Graph ``graph`` of model ``spec``: its own inputs, outputs and example inputs; the model's name,
    config, data and everything else. ``name`` stays the model's (the file's metadata rebuilds the
    model, then picks the graph by ``graph_name``)."""

    def __init__(self, spec: ZooModel, graph: GraphSpec) -> None:
        self.spec = spec
        self.graph = graph

    def __getattr__(self, attr: str) -> Any:  # everything not graph-specific is the model's
        return getattr(self.spec, attr)

    @property
    def graph_name(self) -> str:
        return self.graph.name

    def inputs(self) -> list[TensorSpec]:
        return list(self.graph.inputs) if self.graph.inputs is not None else self.spec.inputs()

    def outputs(self) -> list[TensorSpec]:
        return list(self.graph.outputs) if self.graph.outputs is not None else self.spec.outputs()

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        return self.spec.graph_example_inputs(self.graph, n, split)

    def takes_model_inputs(self) -> bool:
        return [t.name for t in self.inputs()] == [t.name for t in self.spec.inputs()]

    def preprocessing(self) -> Preprocessing:
        from zoo.registry import Preprocessing

        return self.spec.preprocessing() if self.takes_model_inputs() else Preprocessing(kind="none")

    def labels(self) -> list[str] | None:
        return self.spec.labels() if self.graph.outputs is None else None

    def export_spec(self) -> ExportSpec:
        return replace(self.spec.export_spec(), graphs=(self.graph,))

    def evaluate(self, predict: Any) -> dict[str, float]:
        raise ZooError(f"graph '{self.graph.name}' of {self.spec.name} has no task metric of its own; "
                       "fp16/int8 and task-metric checks apply to the main graph.")

    def describe(self) -> dict[str, Any]:
        return {**self.spec.describe(), "graph": self.graph.name,
                "inputs": [asdict(t) for t in self.inputs()], "outputs": [asdict(t) for t in self.outputs()],
                "preprocessing": self.preprocessing().to_dict(), "labels": self.labels()}


def graph_specs(spec: ZooModel) -> tuple[GraphSpec, ...]:
    """The model's graphs, main graph first, with distinct names."""
    graphs = spec.export_spec().graphs
    names = [g.name for g in graphs]
    if not graphs or len(set(names)) != len(names):
        raise ZooError(f"{spec.name}'s export spec must name at least one graph, each once (got {names}).")
    return graphs


def is_whole_model(spec: ZooModel, graph: GraphSpec) -> bool:
    """Whether ``graph`` is just the trained network with the model's own inputs and outputs."""
    return graph.module == "" and graph.inputs is None and graph.outputs is None


def view(spec: ZooModel, graph: GraphSpec) -> ZooModel:
    """``spec`` itself for the whole network, else the :class:`GraphModel` of ``graph``."""
    return spec if is_whole_model(spec, graph) else GraphModel(spec, graph)  # type: ignore[return-value]


def find(spec: ZooModel, name: str | None) -> GraphSpec:
    """Graph ``name`` of the model (the main graph for None)."""
    graphs = graph_specs(spec)
    if name is None:
        return graphs[0]
    for graph in graphs:
        if graph.name == name:
            return graph
    raise ZooError(f"{spec.name} has no exported graph '{name}'; its graphs are {[g.name for g in graphs]}.")


def module_of(model: nn.Module, graph: GraphSpec) -> nn.Module:
    """The submodule ``graph.module`` (a dotted attribute path; "" is the whole network)."""
    module = model
    for part in filter(None, graph.module.split(".")):
        module = getattr(module, part, None)  # type: ignore[assignment]
        if module is None:
            raise ZooError(f"the network has no submodule '{graph.module}' for graph '{graph.name}'; "
                           "fix the GraphSpec's module path in the model's export_spec().")
    return module


def file_name(model: str, graph: GraphSpec, index: int, suffix: str) -> str:
    """``<model><suffix>`` for the main graph, ``<model>.<graph><suffix>`` for the others."""
    return f"{model}{suffix}" if index == 0 else f"{model}.{graph.name}{suffix}"
