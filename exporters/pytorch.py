"""ONNX -> PyTorch through onnx2torch, and the safetensors file that stores the result.

onnx2torch rebuilds a ``torch.fx.GraphModule`` from the ONNX graph; its structure comes from the
graph, so the saved file holds only the weights (safetensors, never a pickle) plus the ONNX file's
metadata_props; :func:`load_torch` rebuilds the module from the same ONNX graph and loads them.

Two gaps in onnx2torch 1.5.15 that our graphs hit, and what :func:`prepare_for_onnx2torch` does:

- it has converters only up to opset 18 for several ops (``Reshape`` version 19+ is "not
  implemented"): the graph is down-converted to opset 17 with ``onnx.version_converter``;
- it rejects ``Reshape(allowzero=1)``, which torch's dynamo exporter always emits: when the target
  shape is a constant without zeros, ``allowzero`` changes nothing and is dropped;
- ``onnx.version_converter`` cannot take ``Gelu`` (opset 20, no earlier version), ``Split``
  version 18 below opset 18 nor ``Pad`` version 19 (the reflection/edge padding of image-to-image
  networks) below 19, and onnx2torch has no ``Gelu`` and no ``Pad`` with ``axes`` or ``wrap``: before the
  down-conversion these are moved to our own domain (:data:`ZOO_DOMAIN`, left alone by the version
  converter), for which :func:`register_onnx2torch_converters` adds onnx2torch converters (``nn.GELU``,
  ``torch.split`` and ``F.pad`` with constant, reflect, edge and wrap modes).
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
ZOO_DOMAIN = "zoo_onnx2torch"  # no dots: onnx2torch names submodules after the domain
# ops whose newest version the version converter cannot bring below ONNX2TORCH_OPSET
_KEPT_OPS = ("Gelu", "Split", "Pad")
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
        kept = [n for n in out.graph.node if n.op_type in _KEPT_OPS and n.domain in ("", "ai.onnx")]
        for node in kept:
            node.domain = ZOO_DOMAIN
        if kept and not any(o.domain == ZOO_DOMAIN for o in out.opset_import):
            out.opset_import.append(onnx.helper.make_opsetid(ZOO_DOMAIN, 1))
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
    register_onnx2torch_converters()
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


def register_onnx2torch_converters() -> None:
    """onnx2torch converters for the :data:`ZOO_DOMAIN` ops of :func:`prepare_for_onnx2torch` (once)."""
    import torch
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription, add_converter
    from onnx2torch.utils.common import OnnxToTorchModule, OperationConverterResult, onnx_mapping_from_node

    if OperationDescription(ZOO_DOMAIN, "Gelu", 1) in _CONVERTER_REGISTRY:
        return

    class OnnxGelu(torch.nn.GELU, OnnxToTorchModule):
        """ONNX Gelu (opset 20): exact (erf) or, with approximate="tanh", the tanh approximation."""

    class OnnxSplit18(torch.nn.Module, OnnxToTorchModule):
        """ONNX Split 18: sizes from the ``split`` input, else ``num_outputs`` chunks, the last smaller."""

        def __init__(self, axis: int, num_outputs: int) -> None:
            super().__init__()
            self.axis, self.num_outputs = axis, num_outputs

        def forward(self, x: torch.Tensor, split: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            if split is not None:
                return torch.split(x, split.tolist(), dim=self.axis)
            return torch.split(x, -(-x.shape[self.axis] // self.num_outputs), dim=self.axis)

    class OnnxPad(torch.nn.Module, OnnxToTorchModule):
        """ONNX Pad 18/19: ``pads`` (and optional ``constant_value``, ``axes``) inputs; constant, reflect,
        edge (torch: replicate) and wrap (torch: circular) modes."""

        def __init__(self, mode: str) -> None:
            super().__init__()
            self.mode = {"edge": "replicate", "wrap": "circular"}.get(mode, mode)

        def forward(self, x: torch.Tensor, pads: torch.Tensor, value: torch.Tensor | None = None,
                    axes: torch.Tensor | None = None) -> torch.Tensor:
            rank = x.dim()
            listed = [int(a) % rank for a in axes.tolist()] if axes is not None else list(range(rank))
            given = [int(p) for p in pads.tolist()]
            before = dict(zip(listed, given[:len(listed)]))
            after = dict(zip(listed, given[len(listed):]))
            torch_pads: list[int] = []
            for axis in reversed(range(rank)):  # torch: last axis first
                torch_pads += [before.get(axis, 0), after.get(axis, 0)]
            if self.mode != "constant":  # torch pads only the trailing (non-batch, non-channel) axes in these modes
                while len(torch_pads) > 2 and torch_pads[-2:] == [0, 0]:
                    torch_pads = torch_pads[:-2]
                return torch.nn.functional.pad(x, torch_pads, mode=self.mode)
            fill = float(value.reshape(())) if value is not None and value.numel() else 0.0
            return torch.nn.functional.pad(x, torch_pads, mode="constant", value=fill)

    @add_converter(operation_type="Pad", version=1, domain=ZOO_DOMAIN)
    def _pad(node, graph) -> OperationConverterResult:  # noqa: ANN001, ARG001
        mode = node.attributes.get("mode", "constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode not in ("constant", "reflect", "edge", "wrap"):
            raise NotImplementedError(f"Pad mode={mode!r}")
        return OperationConverterResult(torch_module=OnnxPad(mode), onnx_mapping=onnx_mapping_from_node(node))

    @add_converter(operation_type="Gelu", version=1, domain=ZOO_DOMAIN)
    def _gelu(node, graph) -> OperationConverterResult:  # noqa: ANN001, ARG001
        approximate = node.attributes.get("approximate", "none")
        approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
        if approximate not in ("none", "tanh"):
            raise NotImplementedError(f"Gelu approximate={approximate!r}")
        return OperationConverterResult(torch_module=OnnxGelu(approximate=approximate),
                                        onnx_mapping=onnx_mapping_from_node(node))

    @add_converter(operation_type="Split", version=1, domain=ZOO_DOMAIN)
    def _split(node, graph) -> OperationConverterResult:  # noqa: ANN001, ARG001
        module = OnnxSplit18(axis=int(node.attributes.get("axis", 0)), num_outputs=len(node.output_values))
        return OperationConverterResult(torch_module=module, onnx_mapping=onnx_mapping_from_node(node))


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
