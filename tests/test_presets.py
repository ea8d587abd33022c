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


def test_published_presets_are_data_merged_onto_the_card(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from zoo.presets import PRESETS_ENV, Preset, pretrained_source, parse_pretrained, record_release

    path = tmp_path / "presets.json"
    monkeypatch.setenv(PRESETS_ENV, str(path))
    assert [p.weights for p in presets_for("siamese")] == [None]  # no file: the card's recipes, none published
    record_release("siamese", Preset("koch-2015", config={"ignored": 1}, weights="hf://me/siamese@abc", sha256="a" * 64,
                                     metrics={"test/20way_acc": 0.9}, files={"model.onnx": "b" * 64}), path)
    record_release("siamese", Preset("tiny", weights="hf://me/siamese-tiny@def", sha256="c" * 64), path)
    koch, tiny = presets_for("siamese")
    assert koch.weights == "hf://me/siamese@abc" and koch.metrics == {"test/20way_acc": 0.9}
    assert koch.config["image_size"] == 105  # the recipe stays the card's
    assert koch.sha256_of("model.onnx") == "b" * 64 and koch.sha256_of("model.safetensors") == "a" * 64
    assert tiny.name == "tiny" and find_preset("siamese") == koch and find_preset("siamese", "tiny") == tiny
    record_release("siamese", Preset("tiny", weights="hf://me/siamese-tiny@ghi", sha256="d" * 64), path)  # replaced by name
    assert [p.weights for p in presets_for("siamese")] == ["hf://me/siamese@abc", "hf://me/siamese-tiny@ghi"]
    assert parse_pretrained(pretrained_source("siamese", "tiny")) == ("siamese", "tiny")
    assert parse_pretrained("runs/siamese/x") is None
    path.write_text("[1, 2]")
    with pytest.raises(ZooError, match="not a zoo presets file"):
        presets_for("siamese")
