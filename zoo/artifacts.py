"""The artifact every command after training consumes: a run directory or a Hub snapshot holding
``config.json`` (+ ``config.yaml``), ``model.safetensors`` and ``metrics.json``.

``load(SOURCE)`` turns a run directory, a ``model.safetensors`` path or ``hf://OWNER/NAME[@REV]``
into an :class:`Artifact`: the configured model spec, validated *before* any weight is read.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import __version__
from zoo import io as zio
from zoo.config import portable_command
from zoo.errors import ZooError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from zoo.registry import Predict, ZooModel

WEIGHTS = "model.safetensors"
CONFIG_JSON = "config.json"
CONFIG_YAML = "config.yaml"
METRICS = "metrics.json"
CURVES = "training_curves.png"
CARD = "model_card.md"
RUN_YAML = "run.yaml"  # this machine's settings and local paths; never published


@dataclass
class Artifact:
    root: Path
    spec: ZooModel
    weights: Path
    source: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def state_dict(self) -> dict[str, torch.Tensor]:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(self.weights))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ZooError(f"weights file {self.weights} is corrupt or not safetensors ({exc}); re-download or retrain it.") from None
        import torch

        for key, tensor in state.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise ZooError(f"weight {key} in {self.weights} holds NaN or infinite values; the run diverged or the "
                               "file was damaged: retrain it (lower --lr) or re-download it.")
        return state

    @cached_property
    def model(self) -> nn.Module:
        """The network with these weights, in eval mode on the CPU."""
        model = self.spec.build_model()
        state = self.state_dict()
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
            raise ZooError(f"weights in {self.weights} do not match the {self.spec.name} config ({detail}); "
                           "the config and weights come from different runs.")
        for key, tensor in state.items():
            if tuple(expected[key].shape) != tuple(tensor.shape):
                raise ZooError(f"weight {key} in {self.weights} has shape {tuple(tensor.shape)}, the config needs "
                               f"{tuple(expected[key].shape)}; the config and weights come from different runs.")
        model.load_state_dict(state)
        return model.eval()

    def predictor(self, device: str | None = "cpu") -> Predict:
        from zoo.runtime import torch_predictor

        return torch_predictor(self.model, [t.name for t in self.spec.inputs()], device=device)

    @property
    def name(self) -> str:
        return self.spec.name

    def predict(self, inputs: Any) -> list[Any]:
        """Run the model on raw inputs or tensors; returns the outputs as numpy arrays (batch first).

        ``inputs``: a dict input name -> value, or one value for a single-input model. A value is the model's
        tensor (see `zoo info MODEL`), or raw data preprocessed as the demo does it (:mod:`zoo.preprocess`):
        PIL images, image file paths or 8-bit numpy images (one or a list) for image models; rows (lists,
        dicts, a 2-D array, a DataFrame or a CSV path) for tabular models."""
        import numpy as np

        from zoo.preprocess import to_feeds

        return [np.asarray(o) for o in self.predictor()(to_feeds(self.spec, inputs))]

    def export(self, to: str = "onnx", out_dir: str | Path | None = None, **options: Any) -> Path:
        """Export (parity-checked) like `zoo export`; returns the written file."""
        from exporters.export import export

        return export(self.source, to, out_dir, **options).path

    def push_to_hub(self, repo: str, **options: Any) -> str:
        """Upload like `zoo push SOURCE --repo REPO`; returns the repo URL."""
        from zoo import hub

        return hub.push(self.source, repo, **options).url


def config_document(spec: ZooModel, command: str = "") -> dict[str, Any]:
    """The content of config.json: enough to rebuild the model and to use its exported files."""
    return {"model": spec.name, "zoo_version": __version__, "config": spec.config.portable_dict(),
            **{k: v for k, v in spec.describe().items() if k != "model"}, "command": portable_command(command)}


def write_config(run_dir: Path, spec: ZooModel, command: str = "") -> None:
    """config.json and config.yaml (portable: architecture, recipe, data) and run.yaml (this machine's
    trainer settings and local paths, which `--resume` and local `zoo eval` merge back in)."""
    zio.write_json(run_dir / CONFIG_JSON, config_document(spec, command))
    zio.write_yaml(run_dir / CONFIG_YAML, {"model": spec.name, **spec.config.portable_dict()})
    zio.write_yaml(run_dir / RUN_YAML, spec.config.local_dict())


def read_config(root: Path) -> tuple[str, dict[str, Any]]:
    """(model name, config fields) from config.json, else config.yaml, in ``root``, with run.yaml's
    local settings on top when the run was made on this machine."""
    name, fields = _read_portable_config(root)
    if (root / RUN_YAML).is_file():
        from zoo.config import read_yaml_mapping

        fields = {**fields, **read_yaml_mapping(root / RUN_YAML)}
    return name, fields


def _read_portable_config(root: Path) -> tuple[str, dict[str, Any]]:
    if (root / CONFIG_JSON).is_file():
        doc = zio.read_json_object(root / CONFIG_JSON, "restore it from the run or the Hub")
        if "model" not in doc or not isinstance(doc.get("config"), dict):
            raise ZooError(f"{root / CONFIG_JSON} is not a zoo config (needs 'model' and 'config'); was it written by zoo?")
        return str(doc["model"]), doc["config"]
    if (root / CONFIG_YAML).is_file():
        from zoo.config import read_yaml_mapping

        values = read_yaml_mapping(root / CONFIG_YAML)
        if "model" not in values:
            raise ZooError(f"{root / CONFIG_YAML} does not name its model; add `model: NAME`.")
        return str(values.pop("model")), values
    raise ZooError(f"no {CONFIG_JSON} or {CONFIG_YAML} in {root}; pass a run directory made by `zoo train`.")


def load(source: str | Path) -> Artifact:
    """Resolve SOURCE (run dir, model.safetensors, hf://OWNER/NAME[@REV] or pretrained:MODEL[:PRESET]) to a
    validated Artifact."""
    from zoo import registry
    from zoo.presets import expand_source

    text = expand_source(str(source))
    if text.startswith("hf://"):
        from zoo import hub

        root = hub.download(text)
    else:
        path = Path(text).expanduser()
        if not path.exists():
            raise ZooError(f"{path} does not exist; pass a run directory (runs/<model>/<time>), a model.safetensors or hf://OWNER/NAME.")
        root = path if path.is_dir() else path.parent
        if path.is_file() and path.suffix != ".safetensors":
            raise ZooError(f"{path} is not a run directory or a .safetensors file; zoo loads weights only from safetensors.")
    name, fields = read_config(root)
    spec = registry.create(name, fields)  # validates the config before any weight is read
    weights = root / WEIGHTS if Path(text).suffix != ".safetensors" else Path(text)
    if not weights.is_file():
        raise ZooError(f"no {WEIGHTS} in {root}; the run has not finished training (resume it with `zoo train --resume {root}`).")
    from zoo.model_size import check_weights_header

    check_weights_header(spec, weights)  # names, shapes and size from the header, before any weight is read
    metrics = {}
    if (root / METRICS).is_file():
        metrics = zio.read_json_object(root / METRICS, "restore it from the run or delete it (it is re-written by `zoo train`)")
    return Artifact(root=root, spec=spec, weights=weights, source=text, metrics=metrics)


def save_weights(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with zio.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def finish_run(run_dir: Path, spec: ZooModel, model: nn.Module, *, train_seconds: float, command: str,
               stages: list[str], parameter_summaries: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    """Write weights, evaluate, write metrics, curves and the model-card stub. Returns metrics.json's content."""
    import time

    from zoo.plots import plot_training_curves
    from zoo.runtime import torch_predictor

    save_weights(model, run_dir / WEIGHTS)
    started = time.perf_counter()
    metrics = spec.evaluate(torch_predictor(model, [t.name for t in spec.inputs()], device="cpu"))
    doc = {
        "model": spec.name,
        "data": spec.config.data or spec.default_data,
        "metrics": metrics,
        "primary_metric": spec.primary_metric,
        "train_seconds": round(train_seconds, 2),
        "eval_seconds": round(time.perf_counter() - started, 2),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameter_summary": parameter_summaries or {},
        "command": portable_command(command),
        "zoo_version": __version__,
        "python": sys.version.split()[0],
    }
    zio.write_json(run_dir / METRICS, doc)
    plot_training_curves(run_dir, stages, run_dir / CURVES)
    spec.write_extras(run_dir, model, metrics)
    zio.write_text(run_dir / CARD, model_card_stub(spec, doc))
    return doc


def model_card_stub(spec: ZooModel, doc: dict[str, Any]) -> str:
    rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in doc["metrics"].items())
    return f"""# {spec.name}

{spec.summary}

- **Paper**: {spec.paper}
- **Task**: {spec.task}
- **Data**: {doc['data']}
- **Parameters**: {doc['parameters']:,}
- **Training time**: {doc['train_seconds']:.0f} s, peak memory {doc['peak_memory_mb']:.0f} MB
- **Command**: `{doc['command']}`

## Results (held-out split)

| metric | value |
| --- | --- |
{rows}

Weights: `model.safetensors`; configuration: `config.yaml` / `config.json`.
"""
