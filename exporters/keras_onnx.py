"""Keras 3 -> ONNX through Keras' own exporter (``model.export(path, format="onnx")``).

On the torch backend Keras exports with ``torch.onnx`` (the TorchScript-based exporter when the
batch axis is dynamic). Its graph names outputs by internal value ids; we rename inputs and outputs
to the zoo model's names and stamp the zoo metadata so the file is as self-describing as one
exported from PyTorch.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    import onnx

    from zoo.registry import ZooModel


def keras_to_onnx(model: Any, spec: ZooModel | None = None, *, opset: int | None = None) -> onnx.ModelProto:
    """ONNX graph of a Keras model (or ``.keras`` path) with a dynamic batch axis.

    With ``spec``, inputs/outputs get the spec's names (in order) and the graph gets zoo metadata.
    """
    import onnx

    from exporters.onnx import check_model, set_metadata, zoo_metadata
    from exporters.runtime import load_keras

    if isinstance(model, (str, Path)):
        model = load_keras(model)
    signature = [list(model.inputs)] if len(model.inputs) > 1 else [model.inputs[0]]
    with tempfile.TemporaryDirectory(prefix="zoo-keras-onnx-") as tmp:
        target = Path(tmp) / "model.onnx"
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                model.export(str(target), format="onnx", input_signature=signature, opset_version=opset, verbose=False)
        except Exception as exc:  # Keras/torch.onnx raise many error types for untraceable models
            raise ZooError(f"Keras could not export the model to ONNX ({first_line(exc)}).") from exc
        proto = onnx.load(str(target))
    if spec is not None:
        rename_io(proto, [t.name for t in spec.inputs()], [t.name for t in spec.outputs()])
        set_metadata(proto, zoo_metadata(spec))
    check_model(proto, what="the ONNX graph Keras exported")
    return proto


def rename_io(proto: onnx.ModelProto, input_names: list[str], output_names: list[str]) -> None:
    """Rename graph inputs and outputs (by position) everywhere they are referenced, in place."""
    from exporters.onnx import graph_io

    current_inputs, current_outputs = graph_io(proto)
    if len(current_inputs) != len(input_names) or len(current_outputs) != len(output_names):
        raise ZooError(f"the exported graph has {len(current_inputs)} input(s) and {len(current_outputs)} output(s); "
                       f"the zoo model has {len(input_names)} and {len(output_names)}: this file is not that model.")
    mapping = {old: new for old, new in zip(current_inputs + current_outputs, input_names + output_names) if old != new}
    if not mapping:
        return
    graph = proto.graph
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
