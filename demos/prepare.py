"""Zoo side of the demos: SOURCE -> a servable model (ONNX file or PyTorch predictor), its DemoHook and
example inputs. Everything the torch-free builders need is computed here from the registry and the
exporters API, so no builder knows a model by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:
    from demos.runtime import DemoModel
    from exporters.sources import ResolvedSource

ASSETS = Path(__file__).parent / "assets"
BACKENDS = ("onnx", "torch")
EXAMPLE_ROWS = 6


@dataclass
class Prepared:
    """A model ready to serve: ``onnx`` is None only for ``--backend torch``; ``source`` is None for a Hub
    model served from its pushed ``model.onnx`` and ``demo.json`` (no PyTorch needed, none imported)."""

    name: str
    source: ResolvedSource | None
    hook: dict[str, Any]
    document: dict[str, Any]
    onnx: Path | None = None
    examples: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # held-out metrics recorded at training
    hub_repo: str | None = None  # OWNER/NAME when the model came from the Hub


def cache_root() -> Path:
    """Where demos keep ONNX exports of read-only sources (Hub snapshots): $ZOO_CACHE or ~/.cache/zoo."""
    base = os.environ.get("ZOO_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zoo"
    return Path(base) / "demos"


def newest_run(runs_dir: Path, model: str) -> Path | None:
    """The run directory under ``runs_dir/model`` whose model.safetensors was written last, if any."""
    finished = [w.parent for w in (runs_dir / model).glob("*/model.safetensors") if (w.parent / "config.json").is_file()]
    return max(finished, key=lambda d: (d / "model.safetensors").stat().st_mtime, default=None)


def pick_sources(model: str | None, sources: list[str], runs_dir: Path, *, pretrained: bool = False,
                 preset: str | None = None) -> list[tuple[str | None, str]]:
    """(expected model name or None, SOURCE) pairs to serve, from `zoo demo [MODEL] [--source ...] [--pretrained]`."""
    from zoo import registry

    if pretrained or preset:
        from zoo.presets import find_preset, pretrained_source

        if model is None or sources:
            raise ZooError("--pretrained/--preset serve one model's published weights: `zoo demo MODEL --pretrained`, "
                           "without --source.")
        chosen = find_preset(model, preset)  # a model without published weights fails here, saying what to run
        return [(model, pretrained_source(model, chosen.name))]

    if model is not None:
        registry.get(model)  # unknown names fail here, with the list of models
        if len(sources) > 1:
            raise ZooError(f"`zoo demo {model}` serves one source, got {len(sources)}; drop MODEL to serve "
                           "several (`zoo demo --source A --source B`).")
        if sources:
            return [(model, sources[0])]
        run = newest_run(runs_dir, model)
        if run is None:
            raise ZooError(f"no finished {model} run under {runs_dir / model}; train one with `zoo train {model}` "
                           "or pass --source RUN_DIR|FILE.onnx|hf://OWNER/NAME.")
        return [(model, str(run))]
    if sources:
        return [(None, s) for s in sources]
    found = [(name, str(run)) for name in registry.names() if (run := newest_run(runs_dir, name)) is not None]
    if not found:
        raise ZooError(f"no finished run under {runs_dir}/<model>/; train a model (`zoo train siamese`) or pass "
                       "--source RUN_DIR|FILE.onnx|hf://OWNER/NAME.")
    return found


def prepare(source: str, *, expected: str | None = None, backend: str = "onnx", examples_dir: Path | None = None,
            log: Any = print) -> Prepared:
    """Resolve SOURCE, check it holds ``expected`` (when given) and has a demo, make sure an ONNX file
    exists for ``backend="onnx"`` (exporting a PyTorch source, parity-checked) and collect examples."""
    from exporters.sources import resolve_source

    if backend not in BACKENDS:
        raise ZooError(f"--backend must be one of {', '.join(BACKENDS)}, got '{backend}'.")
    if backend == "onnx":
        published = prepare_published(source, expected=expected)
        if published is not None:
            return published
    resolved = resolve_source(source)
    spec = resolved.spec
    if expected is not None and spec.name != expected:
        raise ZooError(f"{source} holds a '{spec.name}' model, not '{expected}'; run `zoo demo {spec.name} --source {source}`.")
    hook = spec.demo()
    if hook is None:
        raise ZooError(f"model '{spec.name}' has no demo (its demo() returns None); add a DemoHook to zoo/models/{spec.name}.py.")
    hook_dict = asdict(hook)
    from demos.app import UnknownKind, builder_module

    try:
        builder_module(hook.kind)
    except UnknownKind as exc:
        raise ZooError(str(exc)) from None
    onnx_path: Path | None = None
    if backend == "torch":
        if resolved.kind != "pytorch":
            raise ZooError(f"--backend torch needs PyTorch weights (a run directory, model.safetensors or hf://); "
                           f"{source} is a {resolved.kind} file: drop --backend torch to serve it on onnxruntime.")
        from zoo.artifacts import config_document

        document = config_document(spec)
    else:
        onnx_path = ensure_onnx(resolved, log=log)
        from exporters.onnx import zoo_document

        document = zoo_document(onnx_path)
    examples = collect_examples(spec, hook_dict, document, examples_dir, log=log)
    metrics = resolved.artifact.metrics.get("metrics", {}) if resolved.artifact else {}
    return Prepared(name=spec.name, source=resolved, hook=hook_dict, document=document, onnx=onnx_path, examples=examples,
                    metrics=metrics, hub_repo=_hub_repo(resolved.artifact.root) if resolved.artifact else None)


def prepare_published(source: str, *, expected: str | None = None) -> Prepared | None:
    """A Hub model (hf://OWNER/NAME[@REV] or pretrained:MODEL[:PRESET]) served as pushed: its parity-checked
    ``model.onnx`` with the ``demo.json`` and examples `zoo push --with onnx` uploaded beside it; nothing is
    exported and PyTorch is not imported. None when SOURCE is not a Hub model or the repo lacks those files
    (then the caller exports from the weights)."""
    from zoo import hub, presets

    pretrained = presets.parse_pretrained(source)
    if pretrained is None and not source.startswith(hub.HUB_SCHEME):
        return None
    if pretrained is not None:
        if expected is not None and pretrained[0] != expected:
            raise ZooError(f"{source} names the '{pretrained[0]}' model, not '{expected}'; run `zoo demo {pretrained[0]} --pretrained`.")
        snapshot = Path(presets.resolve_pretrained(*pretrained, files=hub.DEMO_FILES))
    else:
        snapshot = hub.download(source, hub.DEMO_FILES)
    if not (snapshot / hub.DEMO_JSON).is_file() or not (snapshot / "model.onnx").is_file():
        return None
    from demos.app import SpaceModel, _absolute
    from exporters.onnx import zoo_document

    manifest = json.loads((snapshot / hub.DEMO_JSON).read_text(encoding="utf-8"))
    entry = SpaceModel(**manifest["models"][0])
    if expected is not None and entry.name != expected:
        raise ZooError(f"{source} holds a '{entry.name}' model, not '{expected}'; run `zoo demo {entry.name} --source {source}`.")
    onnx_path = snapshot / entry.onnx
    metrics_file = snapshot / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")).get("metrics", {}) if metrics_file.is_file() else {}
    return Prepared(name=entry.name, source=None, hook=entry.hook, document=zoo_document(onnx_path), onnx=onnx_path,
                    examples=_absolute(entry.examples, snapshot), metrics=metrics, hub_repo=_hub_repo(snapshot))


def _hub_repo(folder: Path) -> str | None:
    """OWNER/NAME of a Hub snapshot folder (its zoo download manifest), else None."""
    from zoo.hub import MANIFEST

    try:
        return str(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["repo_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_onnx(resolved: ResolvedSource, *, log: Any = print) -> Path:
    """The ONNX file to serve: SOURCE itself if it is one; else ``<model>.onnx`` beside the weights (or in
    the cache for read-only sources) when its parity report matches the current weights; else a fresh,
    parity-checked export made with ``exporters.export.export``."""
    if resolved.kind == "onnx":
        return resolved.path
    if resolved.kind != "pytorch" or resolved.artifact is None:
        raise ZooError(f"{resolved.origin} is a {resolved.kind} file; demos serve ONNX or PyTorch sources: export it "
                       "to ONNX (`zoo convert FILE --to onnx`) or pass the run directory.")
    from exporters.export import export, output_name
    from exporters.parity import sha256

    weights = resolved.artifact.weights
    digest = sha256(weights)
    name = output_name(resolved.spec.name, "onnx")
    if resolved.origin.startswith("hf://"):  # the ONNX file `zoo push --with onnx` uploaded, if there is one
        from zoo import hub

        try:
            hub.download(resolved.origin, ["model.onnx", "model.onnx.parity.json"])
        except ZooError:
            pass
    for candidate in (resolved.path / "model.onnx", resolved.path / name, cache_root() / digest[:16] / name):
        if _export_matches(candidate, digest):
            return candidate
    from exporters.sources import is_remote

    writable = not is_remote(resolved.origin) and os.access(resolved.path, os.W_OK)
    out = resolved.path if writable else cache_root() / digest[:16]
    log(f"exporting {resolved.spec.name} to ONNX in {out} (parity-checked) ...")
    return export(resolved.origin, "onnx", out).path


def _export_matches(path: Path, weights_sha256: str) -> bool:
    """True if ``path`` exists and its parity report says it was exported from weights with this digest."""
    report = path.with_name(path.name + ".parity.json")
    if not path.is_file() or not report.is_file():
        return False
    try:
        recorded = json.loads(report.read_text(encoding="utf-8")).get("source", {}).get("sha256")
    except (json.JSONDecodeError, AttributeError):
        return False
    return recorded == weights_sha256


# -- examples -------------------------------------------------------------------------------------------

def collect_examples(spec: Any, hook: dict[str, Any], document: dict[str, Any], out_dir: Path | None,
                     *, log: Any = print) -> dict[str, Any]:
    """Example inputs for the builder, with absolute file paths. In order of preference: the hook's own
    ``examples``; curated files in demos/assets for the model's data set; real held-out inputs from
    ``spec.example_inputs`` (images written as PNG into ``out_dir``). Missing data is not an error."""
    import importlib

    from demos.app import builder_module

    key = importlib.import_module(builder_module(hook["kind"])).HOOK_EXAMPLES
    if hook.get("examples"):
        return {key: hook["examples"]}
    data = str(document.get("config", {}).get("data") or spec.default_data)
    curated = curated_examples(data)
    if curated:
        return curated
    if out_dir is None:
        return {}
    try:
        inputs = spec.example_inputs(EXAMPLE_ROWS)
    except Exception as exc:  # noqa: BLE001 - data may be offline or absent; the demo works without examples
        log(f"no examples for {spec.name}: its data set '{data}' is not available ({str(exc).splitlines()[0][:160]}).")
        return {}
    return examples_from_inputs(inputs, document, out_dir / spec.name)


def curated_examples(data: str) -> dict[str, Any]:
    """Examples shipped in demos/assets/<set>.examples.json for data set ``data`` (paths made absolute)."""
    for manifest in sorted(ASSETS.glob("*.examples.json")):
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        if data in doc.get("data", []):
            return _resolve_files(doc["examples"], ASSETS)
    return {}


def _resolve_files(value: Any, folder: Path) -> Any:
    if isinstance(value, str) and (folder / value).is_file():
        return str(folder / value)
    if isinstance(value, list):
        return [_resolve_files(v, folder) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_files(v, folder) for k, v in value.items()}
    return value


def examples_from_inputs(inputs: dict[str, Any], document: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Real model inputs -> examples: image inputs (4-D) back to PNG files ("pairs" for two image inputs,
    "images" for one), tabular inputs as raw rows ("rows")."""
    import numpy as np

    from demos.inputs import array_to_image

    pre = document.get("preprocessing") or {}
    names = [t["name"] for t in document["inputs"] if t["name"] in inputs]
    if pre.get("kind") == "image":
        out_dir.mkdir(parents=True, exist_ok=True)
        files: dict[str, list[str]] = {}
        images = [t["name"] for t in document["inputs"] if t["name"] in inputs and len(t["shape"]) == 4]
        for name in images[:2]:  # other inputs (a VAE's noise and latent point) are not pictures
            for i, x in enumerate(inputs[name]):
                path = out_dir / f"{name}-{i + 1}.png"
                array_to_image(x, pre).save(path)
                files.setdefault(name, []).append(str(path))
        if len(files) == 2:
            return {"pairs": [list(p) for p in zip(*files.values())]}
        return {"images": next(iter(files.values()), [])}
    if pre.get("kind") == "tabular" and names:
        return {"rows": [[float(str(np.float32(v))) for v in row] for row in inputs[names[0]]]}  # 5.1, not 5.0999999
    return {}


def demo_model(prepared: Prepared, *, threads: int | None = None) -> DemoModel:
    """The torch-free :class:`DemoModel` for a prepared source: onnxruntime, or PyTorch for --backend torch."""
    from demos.app import MAX_BATCH_ROWS, onnx_model
    from demos.runtime import BatchingPredict, DemoModel

    if prepared.onnx is not None:
        return onnx_model(prepared.name, prepared.onnx, prepared.hook, prepared.examples, threads)
    predict = BatchingPredict(prepared.source.predictor(), MAX_BATCH_ROWS)
    explain = None
    if prepared.hook.get("kind") == "image-classifier" and prepared.source.artifact is not None:
        from zoo.visualize.demo import gradcam_explainer

        explain = gradcam_explainer(prepared.source.artifact)
    return DemoModel(name=prepared.name, document=prepared.document, hook=prepared.hook, predict=predict,
                     examples=prepared.examples, backend="PyTorch (CPU)", explain=explain)
