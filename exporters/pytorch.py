"""ONNX -> PyTorch through onnx2torch, and the safetensors file that stores the result.

onnx2torch rebuilds a ``torch.fx.GraphModule`` from the ONNX graph; its structure comes from the
graph, so the saved file holds only the weights (safetensors, never a pickle) plus the ONNX file's
metadata_props; :func:`load_torch` rebuilds the module from the same ONNX graph and loads them.

Two gaps in onnx2torch 1.5.15 that our graphs hit, and what :func:`prepare_for_onnx2torch` does:

- it has converters only up to opset 18 for several ops (``Reshape`` version 19+ is "not
  implemented"): the graph is down-converted to opset 17 with ``onnx.version_converter``;
- it rejects ``Reshape(allowzero=1)``, which torch's dynamo exporter always emits: when the target
  shape is a constant without zeros, ``allowzero`` changes nothing and is dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from zoo import io as zio
from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    import onnx
    from torch import nn

ONNX2TORCH_OPSET = 17
META_ONNX_SHA256 = "onnx_sha256"
META_STRUCTURE = "structure"


def prepare_for_onnx2torch(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` that onnx2torch can convert (see module docstring)."""
    import onnx
    from onnx import numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    constants = {i.name: numpy_helper.to_array(i) for i in out.graph.initializer}
    for node in out.graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value":
                    constants[node.output[0]] = numpy_helper.to_array(attr.t)
    for node in out.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        shape = constants.get(node.input[1])
        if shape is not None and (shape != 0).all():
            kept = [a for a in node.attribute if a.name != "allowzero"]
            del node.attribute[:]
            node.attribute.extend(kept)
    opset = next((o.version for o in out.opset_import if o.domain in ("", "ai.onnx")), ONNX2TORCH_OPSET)
    if opset > ONNX2TORCH_OPSET:
        try:
            out = onnx.version_converter.convert_version(out, ONNX2TORCH_OPSET)
        except Exception as exc:  # the version converter raises RuntimeError/ConvertError variants
            raise ZooError(f"cannot down-convert the ONNX graph from opset {opset} to {ONNX2TORCH_OPSET} for onnx2torch "
                           f"({first_line(exc)}); re-export with --opset {ONNX2TORCH_OPSET}.") from None
    return out


def onnx_to_torch(source: str | Path | onnx.ModelProto) -> nn.Module:
    """The ONNX graph as a PyTorch module (onnx2torch), in eval mode."""
    from onnx2torch import convert

    import exporters.onnx2torch_recurrent  # noqa: F401  (registers the LSTM/GRU/RNN converters)
    from exporters.onnx import load_onnx

    proto = load_onnx(source) if isinstance(source, (str, Path)) else source
    try:
        module = convert(prepare_for_onnx2torch(proto))
    except NotImplementedError as exc:
        detail = first_line(exc)
        missing = re.search(r"operation_type='([^']+)', version=(\d+)", detail)
        if missing:  # onnx2torch's own message names an OperationDescription tuple
            detail = f"ONNX op '{missing.group(1)}' (opset {missing.group(2)}) has no onnx2torch converter"
        raise ZooError(f"onnx2torch cannot convert this graph: {detail}; "
                       "run the ONNX file with onnxruntime instead.") from None
    return module.eval()


def save_torch(module: nn.Module, path: str | Path, metadata: dict[str, str]) -> Path:
    """The module's weights as safetensors (atomically), with ``metadata`` in the safetensors header."""
    from safetensors.torch import save_file

    # onnx2torch may give shared (siamese) weights one tensor per use; store each as its own copy.
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}
    with zio.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in metadata.items()})
    return Path(path)


def load_torch(weights: str | Path, onnx_source: str | Path | onnx.ModelProto) -> nn.Module:
    """Rebuild the onnx2torch module from ``onnx_source`` and load ``weights`` into it (strictly)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    module = onnx_to_torch(onnx_source)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise ZooError(f"{weights} is not a readable safetensors file ({exc}); convert the ONNX file again.") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ZooError(f"{weights} does not match the structure of the ONNX graph ({first_line(exc)}); "
                       "convert again from the same ONNX file.") from None
    return module.eval()


def read_metadata(weights: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        return dict(f.metadata() or {})


def structure_note(onnx_name: str) -> str:
    return json.dumps({"builder": "onnx2torch", "onnx_file": onnx_name, "opset": ONNX2TORCH_OPSET})
