"""Resolve what a user points a command at -- a run directory, a ``model.safetensors``,
``hf://OWNER/NAME[@REV]``, an ``.onnx`` or a ``.keras`` file -- to the model spec plus the thing to run.

Bench and demo code call :func:`resolve_source` so every command accepts the same SOURCE forms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoo.errors import ZooError

if TYPE_CHECKING:
    import onnxruntime as ort

    from zoo.artifacts import Artifact
    from zoo.registry import Predict, ZooModel

SourceKind = Literal["pytorch", "onnx", "keras"]
PARITY_SUFFIX = ".parity.json"


@dataclass
class ResolvedSource:
    """A model spec and where its runnable form lives.

    ``kind == "pytorch"``: ``artifact`` holds the weights (``path`` is the artifact root);
    ``"onnx"``/``"keras"``: ``path`` is the file and ``artifact`` is None.
    """

    spec: ZooModel
    kind: SourceKind
    path: Path
    artifact: Artifact | None = None
    origin: str = ""  # the SOURCE text as given

    def predictor(self, providers: list[str] | None = None, session_options: ort.SessionOptions | None = None) -> Predict:
        """A ``Predict`` for this source on its own runtime (PyTorch on CPU, onnxruntime, Keras)."""
        if self.kind == "pytorch":
            assert self.artifact is not None
            return self.artifact.predictor()
        if self.kind == "onnx":
            from exporters.runtime import onnx_predictor

            return onnx_predictor(self.path, providers, session_options)
        from exporters.runtime import keras_predictor

        return keras_predictor(self.path)


def resolve_source(source: str | Path) -> ResolvedSource:
    """SOURCE (run dir, model.safetensors, hf://OWNER/NAME[@REV], .onnx or .keras file) -> ResolvedSource.

    For a bare ``.onnx`` the spec is rebuilt with ``zoo.registry.create(name, config)`` from the
    file's ``zoo`` metadata; for a ``.keras`` file from its ``<file>.parity.json`` sidecar. Either
    falls back to a ``config.json`` beside the file (a Hub snapshot or run directory).
    """
    text = str(source)
    path = Path(text).expanduser()
    if not text.startswith("hf://") and path.suffix in (".onnx", ".keras"):
        if not path.is_file():
            raise ZooError(f"{path} does not exist; pass an existing {path.suffix} file, a run directory or hf://OWNER/NAME.")
        kind: SourceKind = "onnx" if path.suffix == ".onnx" else "keras"
        return ResolvedSource(spec=spec_of_file(path), kind=kind, path=path, origin=text)
    from zoo import artifacts

    art = artifacts.load(text)
    return ResolvedSource(spec=art.spec, kind="pytorch", path=art.root, artifact=art, origin=text)


def spec_of_file(path: Path) -> ZooModel:
    """The model spec an exported ``.onnx``/``.keras`` file was made from."""
    from zoo import registry

    described = _from_onnx_metadata(path) if path.suffix == ".onnx" else _from_sidecar(path)
    if described is None:
        described = _from_config_beside(path)
    if described is None:
        raise ZooError(f"{path} does not say which zoo model it holds (no zoo metadata, no {path.name}{PARITY_SUFFIX}, "
                       f"no config.json beside it); export it with `zoo export` or pass the run directory with --source.")
    name, config, graph = described
    spec = registry.create(name, config)
    if graph:  # one of the model's further graphs (<model>.<graph>.onnx)
        from zoo import graphs as zgraphs

        spec = zgraphs.view(spec, zgraphs.find(spec, graph))
    return spec


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The ``<file>.parity.json`` report next to an exported file, if there is one."""
    sidecar = path.with_name(path.name + PARITY_SUFFIX)
    if not sidecar.is_file():
        return None
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ZooError(f"{sidecar} is not valid JSON ({exc}); delete it and re-run `zoo verify`.") from None
    return doc if isinstance(doc, dict) else None


Described = tuple[str, dict[str, Any], "str | None"]  # (model name, config, graph name or None)


def _from_onnx_metadata(path: Path) -> Described | None:
    from exporters.onnx import META_DOCUMENT, load_onnx

    proto = load_onnx(path, check=False)
    if not any(p.key == META_DOCUMENT for p in proto.metadata_props):
        return None
    from exporters.onnx import zoo_document

    doc = zoo_document(proto)
    return str(doc["model"]), doc["config"], _graph_name(doc)


def _from_sidecar(path: Path) -> Described | None:
    doc = read_sidecar(path)
    if doc and isinstance(doc.get("model"), str) and isinstance(doc.get("config"), dict):
        return doc["model"], doc["config"], _graph_name(doc)
    return None


def _from_config_beside(path: Path) -> Described | None:
    from zoo.artifacts import CONFIG_JSON, CONFIG_YAML, read_config

    if (path.parent / CONFIG_JSON).is_file() or (path.parent / CONFIG_YAML).is_file():
        return (*read_config(path.parent), None)
    return None


def _graph_name(doc: dict[str, Any]) -> str | None:
    graph = doc.get("graph")
    if graph is not None and not isinstance(graph, str):
        raise ZooError(f"the file's 'graph' entry is {graph!r}, not a graph name; re-export the model with `zoo export`.")
    return graph
