"""`zoo export SOURCE --to triton OUT/`: a Triton Inference Server model repository.

OUT/<model>/1/model.onnx (the parity-checked fp32 export), OUT/<model>/config.pbtxt generated from the ONNX
graph's own inputs/outputs (names, types, dims), with dynamic batching and an instance group, and
OUT/<model>/labels.txt for classifiers. The repository is built in a temporary folder beside OUT and
renamed into place, so a failure leaves nothing half-written."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

# onnx.TensorProto.DataType -> Triton's DataType enum name (model_config.proto)
TRITON_TYPES: dict[int, str] = {
    1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16", 6: "TYPE_INT32",
    7: "TYPE_INT64", 8: "TYPE_STRING", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64", 12: "TYPE_UINT32",
    13: "TYPE_UINT64", 16: "TYPE_BF16",
}
INSTANCE_KINDS = ("KIND_AUTO", "KIND_CPU", "KIND_GPU")
LABELS_FILE = "labels.txt"


@dataclass(frozen=True)
class TritonTensor:
    name: str
    data_type: str
    dims: tuple[int, ...]  # without the batch axis when the model batches


@dataclass(frozen=True)
class TritonRepository:
    """What `write_repository` wrote: the model folder, its config.pbtxt and the ONNX file."""

    model_dir: Path
    config: Path
    onnx: Path
    labels: Path | None


def graph_tensors(onnx_path: Path) -> tuple[list[TritonTensor], list[TritonTensor], bool]:
    """(inputs, outputs, batches): the graph's tensors; ``batches`` when every tensor's first axis is symbolic."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    values = [v for v in graph.input if v.name not in initializers], list(graph.output)

    def dims(value: Any) -> list[int | str]:
        return [d.dim_param or "?" if not d.HasField("dim_value") else d.dim_value for d in value.type.tensor_type.shape.dim]

    shapes = [[dims(v) for v in group] for group in values]
    batches = all(s and isinstance(s[0], str) for group in shapes for s in group)

    def tensor(value: Any, shape: list[int | str]) -> TritonTensor:
        elem = value.type.tensor_type.elem_type
        if elem not in TRITON_TYPES:
            raise ZooError(f"{onnx_path}: tensor '{value.name}' has ONNX element type {elem}, which Triton has no type for.")
        kept = shape[1:] if batches else shape
        return TritonTensor(value.name, TRITON_TYPES[elem], tuple(-1 if isinstance(d, str) else int(d) for d in kept))

    inputs, outputs = ([tensor(v, s) for v, s in zip(group, group_shapes)] for group, group_shapes in zip(values, shapes))
    return inputs, outputs, batches


def config_pbtxt(name: str, inputs: list[TritonTensor], outputs: list[TritonTensor], *, batches: bool,
                 max_batch_size: int = 32, instance_count: int = 1, instance_kind: str = "KIND_AUTO",
                 labels_for: str | None = None) -> str:
    """Triton's model configuration (text protobuf of inference.ModelConfig) for an onnxruntime model."""
    def tensor_block(t: TritonTensor, label: bool = False) -> str:
        extra = f'\n    label_filename: "{LABELS_FILE}"' if label else ""
        return (f'  {{\n    name: "{t.name}"\n    data_type: {t.data_type}\n'
                f'    dims: [ {", ".join(map(str, t.dims)) if t.dims else "1"} ]{extra}\n  }}')

    lines = [f'name: "{name}"', 'platform: "onnxruntime_onnx"', f"max_batch_size: {max_batch_size if batches else 0}",
             "input [", ",\n".join(tensor_block(t) for t in inputs), "]",
             "output [", ",\n".join(tensor_block(t, t.name == labels_for) for t in outputs), "]"]
    if batches:
        lines += ["dynamic_batching {", "  max_queue_delay_microseconds: 100", "}"]
    lines += ["instance_group [", f"  {{\n    count: {instance_count}\n    kind: {instance_kind}\n  }}", "]"]
    return "\n".join(lines) + "\n"


def write_repository(source: str, out: Path, *, max_batch_size: int = 32, instance_count: int = 1,
                     instance_kind: str = "KIND_AUTO") -> TritonRepository:
    """Export SOURCE to ONNX (parity-checked, as `zoo export --to onnx`) and lay it out as a Triton model
    repository under ``out``. Refuses (ZooError, nothing written) when OUT/<model> already exists."""
    from exporters.export import export
    from zoo import artifacts

    if max_batch_size < 1:
        raise ZooError(f"--max-batch-size must be a positive integer, got {max_batch_size}.")
    if instance_count < 1:
        raise ZooError(f"the instance count must be a positive integer, got {instance_count}.")
    if instance_kind not in INSTANCE_KINDS:
        raise ZooError(f"the instance kind must be one of {', '.join(INSTANCE_KINDS)}, got '{instance_kind}'.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ZooError(f"{out} is a file; give a folder for the Triton model repository.")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".zoo-triton-", dir=out) as tmp:
        exported = export(source, "onnx", Path(tmp) / "export")
        model = exported.parity.get("model") or exported.path.name.split(".")[0]
        final = out / model
        if final.exists():
            raise ZooError(f"{final} already exists; remove it or pass another OUT folder.")
        stage = Path(tmp) / model
        (stage / "1").mkdir(parents=True)
        shutil.move(str(exported.path), stage / "1" / "model.onnx")
        inputs, outputs, batches = graph_tensors(stage / "1" / "model.onnx")
        labels = artifacts.load(source).spec.labels() if not str(source).endswith(".onnx") else None
        labels_for = next((t.name for t in outputs if labels and t.dims and t.dims[-1] == len(labels)), None)
        labels = labels if labels_for else None
        if labels:
            (stage / LABELS_FILE).write_text("\n".join(labels) + "\n", encoding="utf-8")
        (stage / "config.pbtxt").write_text(
            config_pbtxt(model, inputs, outputs, batches=batches, max_batch_size=max_batch_size,
                         instance_count=instance_count, instance_kind=instance_kind, labels_for=labels_for),
            encoding="utf-8")
        stage.rename(final)
    return TritonRepository(model_dir=final, config=final / "config.pbtxt", onnx=final / "1" / "model.onnx",
                            labels=final / LABELS_FILE if labels else None)
