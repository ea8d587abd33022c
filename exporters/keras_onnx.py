"""Keras 3 -> ONNX on the torch backend.

First ``torch.onnx.export(dynamo=True)`` of the Keras model (a ``torch.nn.Module`` on this backend)
with a dynamic batch axis; Keras' own ``model.export(format="onnx")`` uses the TorchScript exporter
for a dynamic batch, which cannot export LayerNormalization (its ``x.shape`` becomes an invalid
Gather) nor ``torch.ravel``, so it is only the fallback. The graph's inputs and outputs are renamed
to the zoo model's names and stamped with the zoo metadata, so the file is as self-describing as one
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
    try:
        proto = _export_dynamo(model, opset)
    except Exception as dynamo_error:  # torch.export raises many error types for untraceable models
        signature = [list(model.inputs)] if len(model.inputs) > 1 else [model.inputs[0]]
        with tempfile.TemporaryDirectory(prefix="zoo-keras-onnx-") as tmp:
            target = Path(tmp) / "model.onnx"
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    model.export(
                        str(target), format="onnx", input_signature=signature, opset_version=opset, verbose=False
                    )
            except Exception as exc:
                raise ZooError(
                    f"Keras could not export the model to ONNX (dynamo: {first_line(dynamo_error)}; "
                    f"TorchScript: {first_line(exc)})."
                ) from exc
            proto = onnx.load(str(target))
    if spec is not None:
        rename_io(proto, [t.name for t in spec.inputs()], [t.name for t in spec.outputs()])
        set_metadata(proto, zoo_metadata(spec))
    check_model(proto, what="the ONNX graph Keras exported")
    return proto


def _export_dynamo(model: Any, opset: int | None) -> onnx.ModelProto:
    """torch.onnx (dynamo) export of a torch-backend Keras model with a dynamic batch on every input."""
    import numpy as np
    import torch

    class _Positional(torch.nn.Module):
        def __init__(self, wrapped: Any) -> None:
            super().__init__()
            self.wrapped = wrapped

        def forward(self, *inputs: torch.Tensor) -> Any:
            return self.wrapped(inputs[0] if len(inputs) == 1 else list(inputs), training=False)

    samples = tuple(
        torch.zeros([2 if d is None else int(d) for d in t.shape], dtype=getattr(torch, np.dtype(t.dtype).name))
        for t in model.inputs
    )
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    dynamic = tuple({0: batch} if t.shape[0] is None else {} for t in model.inputs)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            _Positional(model).eval(),
            samples,
            dynamo=True,
            input_names=[t.name for t in model.inputs],
            output_names=list(model.output_names),
            dynamic_shapes=(dynamic,),
            opset_version=opset,
            verbose=False,
        )
        program.optimize()
    proto = program.model_proto
    for value, spec in zip(proto.graph.input, dynamic):
        if spec and value.type.tensor_type.shape.dim[0].HasField("dim_value"):
            # torch.export fell back to a draft that specialised the batch to the sample's size
            raise ZooError(f"the ONNX export fixed the batch of input '{value.name}' to the sample's size")
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
