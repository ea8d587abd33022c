"""The README.md model card of a pushed zoo model: Hub metadata (YAML front matter) plus a human page.

The metadata is built with ``huggingface_hub.ModelCardData`` / ``EvalResult`` so the Hub reads it:
``library_name: zoo`` (without it the Hub guesses ``transformers`` because of ``config.json``),
``pipeline_tag`` from the model description, ``license``, ``tags``, ``base_model`` for fine-tunes, and a
``model-index`` holding every metric of ``metrics.json`` on the held-out split.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from huggingface_hub import ModelCardData

    from zoo.artifacts import Artifact

LIBRARY_NAME = "zoo"
HUB_SCHEME = "hf://"


@dataclass
class CardContext:
    """What the card describes besides the artifact itself."""

    repo_id: str
    files: Collection[str]  # paths uploaded with the card
    revision: str | None = None  # branch pushed to; None = main
    license: str = "mit"
    bench: Any = None  # bench.json content
    parity: dict[str, dict[str, Any]] = field(default_factory=dict)  # format -> parity report


def metric_type(key: str) -> str:
    """A Hub metric id for a zoo metric key (``test/20way_acc`` -> ``accuracy``); the key itself otherwise."""
    name = key.rsplit("/", 1)[-1].lower()
    if "auc" in name:
        return "roc_auc"
    if name.endswith("acc") or "accuracy" in name:
        return "accuracy"
    for known in ("f1", "precision", "recall", "mse", "mae", "rmse", "r2"):
        if name == known or name.endswith("_" + known):
            return known
    return name


def base_model(art: Artifact) -> str | None:
    """``OWNER/NAME`` when the run was fine-tuned from Hub weights (``--init-from hf://...``)."""
    source = getattr(art.spec.config, "init_from", None) or ""
    if not source.startswith(HUB_SCHEME):
        return None
    return source[len(HUB_SCHEME):].split("@", 1)[0]


def card_data(art: Artifact, ctx: CardContext) -> ModelCardData:
    from huggingface_hub import EvalResult, ModelCardData

    spec, doc = art.spec, art.metrics
    data_name = doc.get("data") or spec.config.data or spec.default_data
    results = [
        EvalResult(task_type=spec.pipeline_tag, task_name=spec.task, dataset_type=data_name, dataset_name=data_name,
                   dataset_split="test", metric_type=metric_type(key), metric_name=key, metric_value=value)
        for key, value in doc.get("metrics", {}).items()
    ]
    tags = [LIBRARY_NAME, spec.name, "pytorch", "safetensors", *spec.tags]
    tags += [fmt for fmt in ("onnx", "keras") if f"model.{fmt}" in ctx.files]
    parent = base_model(art)
    extra: dict[str, Any] = {"base_model_relation": "finetune"} if parent else {}
    metrics = sorted({metric_type(key) for key in doc.get("metrics", {}) if not key.endswith(("_trials", "_ci95"))})
    return ModelCardData(library_name=LIBRARY_NAME, license=ctx.license, pipeline_tag=spec.pipeline_tag, tags=tags,
                         datasets=[data_name], metrics=metrics or None, base_model=parent, model_name=ctx.repo_id.split("/")[-1], eval_results=results or None, **extra)


def render(art: Artifact, ctx: CardContext) -> str:
    """The full README.md: YAML front matter, then what the model is, how it was trained, results, usage."""
    from huggingface_hub import ModelCard

    sections = [_overview(art, ctx), _model(art), _training(art, ctx), _results(art), _audit(art, ctx), _benchmark(ctx.bench),
                _exports(ctx), _usage(art, ctx), _files(ctx)]
    body = "\n\n".join(s for s in sections if s)
    return str(ModelCard(f"---\n{card_data(art, ctx).to_yaml()}\n---\n\n{body}\n"))


# -- sections ------------------------------------------------------------------------------------------

def _overview(art: Artifact, ctx: CardContext) -> str:
    spec = art.spec
    lines = [f"# {ctx.repo_id.split('/')[-1]}", "", spec.summary, "",
             f"A **{spec.name}** model ({spec.task}) from the zoo model zoo: trained with PyTorch Lightning, "
             "weights in `model.safetensors`, configuration in `config.json` / `config.yaml`."]
    parent = base_model(art)
    if parent:
        lines += ["", f"Fine-tuned from [{parent}](https://huggingface.co/{parent}) (`--init-from {spec.config.init_from}`)."]
    return "\n".join(lines)


def _model(art: Artifact) -> str:
    spec = art.spec
    paper = f"[{spec.paper}]({spec.paper_url})" if spec.paper_url else spec.paper
    params = art.metrics.get("parameters")
    rows = ["| tensor | name | shape | dtype | description |", "| --- | --- | --- | --- | --- |"]
    for kind, tensors in (("input", spec.inputs()), ("output", spec.outputs())):
        for t in tensors:
            meaning = f" ({t.meaning})" if t.meaning else ""
            rows.append(f"| {kind} | `{t.name}` | {_shape(t.shape)} | {t.dtype} | {t.description}{meaning} |")
    pre = spec.preprocessing()
    lines = ["## Model", "", f"- **Paper**: {paper}", f"- **Task**: {spec.task}"]
    if params is not None:
        lines.append(f"- **Parameters**: {params:,}")
    if pre.kind != "none":
        lines.append(f"- **Preprocessing**: {pre.notes or pre.kind}" + (f" (layout {pre.layout})" if pre.layout else ""))
    labels = spec.labels()
    if labels:
        lines.append(f"- **Labels**: {', '.join(labels[:20])}" + (" ..." if len(labels) > 20 else ""))
    return "\n".join(lines + ["", *rows])


def _training(art: Artifact, ctx: CardContext) -> str:
    import yaml

    doc, spec = art.metrics, art.spec
    from zoo.config import portable_command

    command = portable_command(doc.get("command") or f"zoo train {spec.name}")
    # the portable fields only: no local paths or machine settings in a published card
    config_yaml = yaml.safe_dump({"model": spec.name, **spec.config.portable_dict()}, sort_keys=False).strip()
    lines = ["## Training", "", f"- **Data**: {doc.get('data') or spec.config.data or spec.default_data}"]
    for label, key, fmt in (("Training time", "train_seconds", "{:.0f} s"), ("Peak memory", "peak_memory_mb", "{:.0f} MB"),
                            ("zoo version", "zoo_version", "{}"), ("Python", "python", "{}")):
        if doc.get(key) is not None:
            lines.append(f"- **{label}**: {fmt.format(doc[key])}")
    lines += ["", "Command:", "", "```bash", command, "```", "",
              "Configuration (`config.yaml`; reuse it with `zoo train " + spec.name + " --config config.yaml`):", "",
              "```yaml", config_yaml, "```"]
    if "training_curves.png" in ctx.files:
        lines += ["", "![training curves](training_curves.png)"]
    return "\n".join(lines)


def _results(art: Artifact) -> str:
    metrics = art.metrics.get("metrics", {})
    if not metrics:
        return ""
    primary = art.metrics.get("primary_metric") or art.spec.primary_metric
    rows = [f"| {key}{' (headline)' if key == primary else ''} | {_number(value)} |" for key, value in metrics.items()]
    data = art.metrics.get("data") or art.spec.default_data
    return "\n".join(["## Results", "", f"Held-out test split of `{data}`, as recorded by `zoo train` "
                      "(`zoo eval hf://...` recomputes them):", "", "| metric | value |", "| --- | --- |", *rows])


def _audit(art: Artifact, ctx: CardContext) -> str:
    """The `zoo audit` report (target-agnostic attack), when the run has one."""
    import json

    path = art.root / "audit.json"
    if "audit.json" not in ctx.files or not path.is_file():
        return ""
    r = json.loads(path.read_text(encoding="utf-8"))
    eff, clean = r["effectiveness"], r["clean_confident"]
    nabac = r["nabac"] if r["nabac"] is not None else f"not reached ({r['classes_broken']} of {len(r['classes'])} classes)"
    rows = [f"| {c['class']} | {c['crafted_inputs']} | {c['at_95']} | {c['at_99']} | {c['first_attempt_95'] or '-'} |" for c in r["per_class"]]
    lines = ["## Security audit: target-agnostic attack", "",
             f"`zoo audit` (Rezaei & Liu 2020): {r['attempts']} inputs crafted from the public backbone alone ({r['backbone']}, "
             f"{r['backbone_source']}), sent to the deployed ONNX model; {r['retrained_layers']} retrained layer(s) "
             f"(freeze {r['freeze']}).", "",
             f"- effectiveness: **{100 * eff['95']:.1f}%** of crafted inputs classified at >= 95% confidence, {100 * eff['99']:.1f}% at >= 99% "
             f"(clean test images: {100 * clean['95']:.1f}% / {100 * clean['99']:.1f}%)",
             f"- NABAC (attempts to break all classes at 95%): {nabac}", ""]
    start, f = r.get("start_confident"), r.get("features")
    if start:  # reports written before these fields existed lack them
        lines.insert(-1, f"- the unmodified start images of the crafted inputs: {100 * start['95']:.1f}% at >= 95% (what crafting adds is the difference)")
    if f:
        lines.insert(-1, f"- crafted features on the backbone (medians): target / largest other neuron {f['target_over_rest_median']:.3g}, "
                         f"target / its clean maximum {f['target_over_clean_median']:.3g} (the attack assumes >> 1 for both)")
    lines += [
             "| class | crafted inputs | at >= 95% | at >= 99% | first attempt (95%) |", "| --- | --- | --- | --- | --- |", *rows]
    if "audit.png" in ctx.files:
        lines += ["", "![original vs crafted inputs](audit.png)"]
    return "\n".join(lines)


def _benchmark(bench: Any) -> str:
    if not bench:
        return ""
    rows = _rows(bench)
    if not rows:
        return "## Benchmark\n\n```json\n" + json.dumps(bench, indent=2) + "\n```"
    machine = bench.get("machine") if isinstance(bench, Mapping) else None
    where = f" on {machine['cpu']}" if isinstance(machine, Mapping) and machine.get("cpu") else ""
    return f"## Benchmark\n\nFrom `bench.json` (`zoo bench`){where}:\n\n" + _table(rows)


def _exports(ctx: CardContext) -> str:
    if not ctx.parity:
        return ""
    rows = []
    for fmt, report in ctx.parity.items():
        target = report.get("target") or {}
        rows.append({"file": target.get("file") or f"model.{fmt}", "runtime": target.get("runtime", ""), "precision": target.get("precision", ""),
                     "checked on": f"{(report.get('inputs') or {}).get('rows', '?')} held-out inputs",
                     "parity": ("passed: " if report.get("passed") else "FAILED: ") + str(report.get("verdict", ""))})
    return ("## Exported formats\n\nEach export was run against the PyTorch model on real held-out inputs "
            "(full reports in `<file>.parity.json`):\n\n" + _table(rows))


def _usage(art: Artifact, ctx: CardContext) -> str:
    spec = art.spec
    ref = ctx.repo_id + (f"@{ctx.revision}" if ctx.revision else "")
    rev_arg = f", revision={ctx.revision!r}" if ctx.revision else ""
    example = ", ".join(f'"{t.name}": np.zeros({_concrete(t.shape)}, np.{t.dtype})' for t in spec.inputs())
    parts = ["## Usage", "", "### zoo", "", "```bash", f"zoo pull {ref}", f"zoo eval hf://{ref}",
             f"zoo export hf://{ref} --to onnx", f"zoo train {spec.name} --init-from hf://{ref}   # fine-tune", "```", "",
             "```python", "import numpy as np", "import zoo", "", f'model = zoo.load("hf://{ref}")  # verified download; .spec, .model, .metrics',
             "predict = model.predictor()", f"outputs = predict({{{example}}})", "```"]
    if "model.onnx" in ctx.files:
        parts += ["", "### onnxruntime", "", "```python", "import numpy as np", "import onnxruntime as ort",
                  "from huggingface_hub import hf_hub_download", "",
                  f'session = ort.InferenceSession(hf_hub_download("{ctx.repo_id}", "model.onnx"{rev_arg}))',
                  f"outputs = session.run(None, {{{example}}})", "```"]
    if "model.keras" in ctx.files:
        parts += ["", "### Keras 3", "", "```python", "import os", 'os.environ["KERAS_BACKEND"] = "torch"  # or jax / tensorflow',
                  "import keras", "import numpy as np", "from huggingface_hub import hf_hub_download", "",
                  f'model = keras.saving.load_model(hf_hub_download("{ctx.repo_id}", "model.keras"{rev_arg}))',
                  f"outputs = model.predict({{{example}}})", "```"]
    if "model.onnx" not in ctx.files and "model.keras" not in ctx.files:
        parts += ["", "ONNX and Keras 3 files are not in this repo; `zoo export hf://" + ref + " --to onnx` makes them "
                  "(or push with `zoo push --with onnx,keras`)."]
    return "\n".join(parts)


def _files(ctx: CardContext) -> str:
    described = {"model.safetensors": "weights and buffers (safetensors)", "config.json": "model description: config, inputs, outputs, preprocessing",
                 "config.yaml": "training configuration", "metrics.json": "metrics and training statistics",
                 "model.onnx": "ONNX export", "model.keras": "Keras 3 export", "bench.json": "benchmark results",
                 "splits.json": "the seeded data split", "audit.json": "`zoo audit` target-agnostic attack report", "training_curves.png": "training curves"}
    rows = [f"| `{name}` | {described.get(name, _describe_other(name))} |" for name in sorted(ctx.files) if name != "README.md"]
    return "\n".join(["## Files", "", "| file | content |", "| --- | --- |", *rows])


# -- formatting helpers ----------------------------------------------------------------------------------

def _describe_other(name: str) -> str:
    if name.endswith(".parity.json"):
        return "parity report of the export"
    if name.startswith("onnx/"):
        return "ONNX export, " + ("float16" if "fp16" in name else "int8 (static, calibrated)" if "int8" in name else "float32")
    if name == "demo.json":
        return "demo description (UI kind, examples) for `zoo demo` / `zoo space` without PyTorch"
    if name.startswith("examples/"):
        return "demo example input"
    if name.endswith(".png"):
        return "figure"
    return ""


def _shape(shape: tuple[Any, ...] | list[Any]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _concrete(shape: tuple[Any, ...] | list[Any]) -> str:
    dims = [1 if isinstance(d, str) else d for d in shape]
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 10 else f"{value:.4f}"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) or value is None


def _rows(data: Any) -> list[dict[str, Any]]:
    """Table rows from bench-like JSON: a list of flat dicts, a dict holding one, or a dict of flat dicts."""
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        return [{k: v for k, v in r.items() if _is_scalar(v)} for r in data]
    if isinstance(data, Mapping):
        for value in data.values():
            if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
                return _rows(value)
        if data and all(isinstance(v, Mapping) for v in data.values()):
            return [{"name": k, **{kk: vv for kk, vv in v.items() if _is_scalar(vv)}} for k, v in data.items()]
    return []


def _table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_number(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
