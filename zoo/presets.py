"""Pretrained presets: a model's published weights (hf://OWNER/NAME@REV), their sha256 and the metrics
they reach, and the resolution `--pretrained` / a preset name -> a verified local SOURCE.

Torch-free (stdlib only at import). A preset's *recipe* (name, description, config) lives on the model
card (``zoo/models/<name>/__init__.py``); what a release *published* (revision, sha256 of every pushed
file, metrics) is data in ``zoo/presets.json`` (or the file $ZOO_PRESETS names), written by
``zoo release`` and merged onto the card's presets by :func:`presets_for`.

Every command that takes a SOURCE also takes ``pretrained:MODEL[:PRESET]`` (what ``--pretrained`` and
``--preset NAME`` expand to): the preset's files are downloaded through :mod:`zoo.hub` and each one is
checked against the sha256 the release recorded before it is used."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

WEIGHTS = "model.safetensors"
PRETRAINED_SCHEME = "pretrained:"
PRESETS_FILE = Path(__file__).with_name("presets.json")
PRESETS_ENV = "ZOO_PRESETS"  # another presets file (a private release, tests)
PRESETS_FORMAT = 1


@dataclass(frozen=True)
class Preset:
    """One published configuration of a model."""

    name: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None  # "hf://OWNER/NAME@REV"
    sha256: str | None = None  # of model.safetensors
    metrics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # every published file -> its sha256

    def sha256_of(self, name: str) -> str | None:
        """The recorded sha256 of published file ``name`` (the weights' also from ``sha256``)."""
        return self.files.get(name) or (self.sha256 if name == WEIGHTS else None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# model name -> its published presets (recorded by a release). Empty until a release is published.
PRESETS: dict[str, tuple[Preset, ...]] = {}


def presets_file() -> Path:
    """The published-presets file in use: $ZOO_PRESETS, else zoo/presets.json."""
    return Path(os.environ.get(PRESETS_ENV) or PRESETS_FILE).expanduser()


def read_published(path: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """model -> its published preset entries, from the presets file (missing file: none published)."""
    path = path or presets_file()
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        models = doc["models"] if doc.get("format") == PRESETS_FORMAT else None
    except (OSError, ValueError, KeyError, AttributeError):
        models = None
    if not isinstance(models, dict):
        raise ZooError(f"{path} is not a zoo presets file (format {PRESETS_FORMAT}); restore it from git or rerun "
                       "`zoo release` to write it again.")
    return models


def write_published(entries: dict[str, list[dict[str, Any]]], path: Path | None = None) -> Path:
    """Write the presets file atomically (entries sorted by model)."""
    from zoo import io as zio

    path = path or presets_file()
    return zio.write_json(path, {"format": PRESETS_FORMAT, "models": dict(sorted(entries.items()))})


def record_release(model_name: str, preset: Preset, path: Path | None = None) -> Path:
    """Add (or replace, by name) ``preset`` among the published presets of ``model_name`` in the presets file."""
    entries = read_published(path)
    kept = [e for e in entries.get(model_name, []) if e.get("name") != preset.name]
    entries[model_name] = [preset.to_dict(), *kept]
    return write_published(entries, path)


def presets_for(model_name: str) -> tuple[Preset, ...]:
    """The presets of ``model_name``: the card's (or :data:`PRESETS`'), each completed with what the presets
    file says was published under its name; published presets the card lacks come after them."""
    from zoo import registry

    card = getattr(registry, "card", None)
    base = getattr(card(model_name), "presets", None) if card is not None else None
    if base is None:
        registry.get(model_name)  # unknown names fail here, with the list of models
        base = PRESETS.get(model_name, ())
    fields = {f.name for f in dataclasses.fields(Preset)}
    published = {e["name"]: e for e in read_published().get(model_name, []) if isinstance(e, dict) and e.get("name")}
    merged = []
    for preset in base:
        entry = published.pop(preset.name, None)
        if entry:
            update = {k: v for k, v in entry.items() if k in fields and k not in ("name", "config", "description")}
            preset = dataclasses.replace(preset, **update)
        merged.append(preset)
    merged += [Preset(**{k: v for k, v in e.items() if k in fields}) for e in published.values()]
    return tuple(merged)


def find_preset(model_name: str, preset: str | None = None) -> Preset:
    """The named preset (default: the first one with published weights); ZooError naming the choices."""
    presets = presets_for(model_name)
    published = [p for p in presets if p.weights]
    if preset is None:
        if not published:
            raise ZooError(f"model '{model_name}' has no published pretrained weights yet; train one with "
                           f"`zoo train {model_name}` or pass SOURCE (a run directory or hf://OWNER/NAME).")
        return published[0]
    for candidate in presets:
        if candidate.name == preset:
            if not candidate.weights:
                raise ZooError(f"preset '{preset}' of '{model_name}' has no published weights; train it with "
                               f"`zoo train {model_name}` and its config, or pick one of: {_names(published)}.")
            return candidate
    raise ZooError(f"'{model_name}' has no preset '{preset}'; choose one of: {_names(presets)}.")


def verify_weights(path: Path, expected_sha256: str | None, origin: str) -> None:
    """ZooError unless ``path`` hashes to ``expected_sha256`` (a preset without a recorded hash is refused)."""
    if not expected_sha256:
        raise ZooError(f"{origin} has no recorded sha256; a pretrained download is only used once verified. "
                       "Record the hash in the preset (zoo/presets.py or the model card).")
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != expected_sha256.lower():
        raise ZooError(f"{path} from {origin} has sha256 {actual[:16]}…, not the recorded {expected_sha256[:16]}…; "
                       "the download is corrupt or was changed: delete it (or run with a fresh cache) and retry.")


def resolve_pretrained(model_name: str, preset: str | None = None, files: Sequence[str] | None = None) -> str:
    """Download the preset's files from the Hub (cached; default: what ``zoo.load`` needs), verify each one
    against the sha256 the release recorded and return the snapshot folder, a SOURCE usable by
    eval/export/bench/demo/space/--init-from."""
    from zoo import hub

    chosen = find_preset(model_name, preset)
    assert chosen.weights is not None
    snapshot = hub.download(chosen.weights, files)
    origin = f"preset '{chosen.name}' of {model_name} ({chosen.weights})"
    for path in sorted(p for p in snapshot.rglob("*") if p.is_file() and not p.name.startswith(".")):
        name = path.relative_to(snapshot).as_posix()
        if name == WEIGHTS or name.endswith(".onnx") or name.endswith(".keras"):  # everything that runs
            verify_weights(path, chosen.sha256_of(name), f"{origin}, file {name}")
    return str(snapshot)


def pretrained_source(model_name: str, preset: str | None = None) -> str:
    """The SOURCE text ``pretrained:MODEL[:PRESET]`` that ``--pretrained`` / ``--preset NAME`` stand for."""
    return PRETRAINED_SCHEME + model_name + (f":{preset}" if preset else "")


def parse_pretrained(source: str) -> tuple[str, str | None] | None:
    """``pretrained:MODEL[:PRESET]`` -> (MODEL, PRESET or None); None for any other SOURCE."""
    if not source.startswith(PRETRAINED_SCHEME):
        return None
    model, _, preset = source[len(PRETRAINED_SCHEME):].partition(":")
    if not model:
        raise ZooError(f"'{source}' names no model; write pretrained:MODEL or pretrained:MODEL:PRESET (e.g. pretrained:siamese).")
    return model, preset or None


def expand_source(source: str, files: Sequence[str] | None = None) -> str:
    """``source`` with ``pretrained:MODEL[:PRESET]`` replaced by its verified local snapshot folder."""
    parsed = parse_pretrained(str(source))
    return resolve_pretrained(*parsed, files=files) if parsed else str(source)


def _names(presets: Any) -> str:
    return ", ".join(p.name for p in presets) or "(none)"
