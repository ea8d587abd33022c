"""Pretrained presets: lookup with clear errors, and weights refused unless their sha256 matches."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from zoo.errors import ZooError
from zoo.presets import Preset, find_preset, presets_for, verify_weights


def test_preset_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    published = Preset("default", weights="hf://zoo-models/siamese@abc", sha256="0" * 64, metrics={"acc": 0.9})
    draft = Preset("big", config={"embedding_dim": 256})
    import dataclasses

    from zoo import registry

    real = registry.card
    patched = dataclasses.replace(real("siamese"), presets=(draft, published))
    monkeypatch.setattr(registry, "card", lambda name: patched if name == "siamese" else real(name))
    assert presets_for("siamese") == (draft, published)
    assert find_preset("siamese") is published
    with pytest.raises(ZooError, match="has no published weights"):
        find_preset("siamese", "big")
    with pytest.raises(ZooError, match="no preset 'huge'; choose one of: big, default"):
        find_preset("siamese", "huge")
    with pytest.raises(ZooError, match="unknown|no model|not a"):
        presets_for("no-such-model")


def test_model_without_published_weights_says_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ZooError) as info:
        find_preset("siamese")
    assert "zoo train siamese" in str(info.value) and "\n" not in str(info.value)


def test_flipped_byte_is_refused(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(bytes(range(256)) * 16)
    good = hashlib.sha256(weights.read_bytes()).hexdigest()
    verify_weights(weights, good, "test")
    data = bytearray(weights.read_bytes())
    data[100] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ZooError, match="corrupt or was changed"):
        verify_weights(weights, good, "test")
    with pytest.raises(ZooError, match="no recorded sha256"):
        verify_weights(weights, None, "test")
