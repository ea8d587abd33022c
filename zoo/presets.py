"""Pretrained presets: a model's published weights (hf://OWNER/NAME@REV), their sha256 and the metrics
they reach, and the resolution `--pretrained` / a preset name -> a verified local SOURCE.

Torch-free (stdlib only at import). Presets are read through :func:`presets_for`, which prefers the
model card's ``presets`` (``zoo.registry.card(name).presets``) and falls back to :data:`PRESETS`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class Preset:
    """One published configuration of a model."""

    name: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None  # "hf://OWNER/NAME@REV"
    sha256: str | None = None  # of model.safetensors
    metrics: dict[str, Any] = field(default_factory=dict)


# model name -> its published presets (recorded by a release). Empty until a release is published.
PRESETS: dict[str, tuple[Preset, ...]] = {}


def presets_for(model_name: str) -> tuple[Preset, ...]:
    """The presets of ``model_name``: the model card's when the registry has cards, else :data:`PRESETS`."""
    from zoo import registry

    card = getattr(registry, "card", None)
    if card is not None:
        presets = getattr(card(model_name), "presets", None)
        if presets is not None:
            return tuple(presets)
    registry.get(model_name)  # unknown names fail here, with the list of models
    return PRESETS.get(model_name, ())


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


def resolve_pretrained(model_name: str, preset: str | None = None) -> str:
    """Download the preset's weights from the Hub (cached), verify them against the recorded sha256 and
    return the snapshot folder, a SOURCE usable by eval/export/bench/demo/space/--init-from."""
    from zoo import hub

    chosen = find_preset(model_name, preset)
    assert chosen.weights is not None
    snapshot = hub.download(chosen.weights)
    verify_weights(snapshot / WEIGHTS, chosen.sha256, f"preset '{chosen.name}' ({chosen.weights})")
    return str(snapshot)


def _names(presets: Any) -> str:
    return ", ".join(p.name for p in presets) or "(none)"
