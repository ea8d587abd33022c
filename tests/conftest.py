"""Shared fixtures: small, real training runs reused across test modules (session-scoped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("COLUMNS", "200")  # rich tables: no wrapping inside names the tests look for

# Small settings that still exercise the real code paths (data, pairs, augmentation, checkpoints, eval).
TINY_SIAMESE = {
    "epochs": 1, "steps_per_epoch": 6, "batch_size": 16, "image_size": 24, "channels": [8, 16],
    "embedding_dim": 32, "val_trials": 20, "eval_trials": 40, "checkpoint_every": 3,
}
TINY_DEEPINSIGHT = {
    "data": "iris", "epochs": 2, "batch_size": 16, "pixels": 8, "channels": [4, 8, 8], "dense": [16],
    "feature_extractor": "pca", "checkpoint_every": 3,
}
TINY_NLNL = {
    "epochs": 1, "nl_epochs": 3, "selnl_epochs": 1, "selpl_epochs": 1, "width": 4, "image_size": 8, "batch_size": 128,
    "complementary_labels": 3, "lr": 5e-3, "checkpoint_every": 0,
}


def train_tiny(model: str, run_dir: Path, **overrides) -> Path:
    """Train ``model`` with tiny settings into ``run_dir`` through the real engine; return the run dir."""
    from zoo import registry
    from zoo.engine import train

    cls = registry.get(model)
    fields = {**(TINY_SIAMESE if model == "siamese" else {}), **(TINY_DEEPINSIGHT if model == "deepinsight" else {}), **overrides}
    fields = {**TINY_NLNL, **fields} if model == "nlnl" else fields
    spec = cls(cls.Config(**fields))
    train(spec, run_dir, command=f"zoo train {model} (test)", progress=False)
    return run_dir


@pytest.fixture(scope="session")
def siamese_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished, briefly trained siamese run directory (read-only for tests: copy before changing)."""
    return train_tiny("siamese", tmp_path_factory.mktemp("runs") / "siamese")


def zoo_command() -> list[str]:
    """The installed `zoo` console script of this interpreter's environment (works without an activated venv)."""
    import shutil
    import sys

    script = Path(sys.executable).with_name("zoo")
    return [str(script)] if script.exists() else [shutil.which("zoo") or "zoo"]


# Tiny settings per registered model, for tests that walk the whole registry (exporters, bench, demos).
# Add an entry when you add a model: `tiny_run` fails for a model without one rather than train it at full size.
TINY: dict[str, dict] = {
    "siamese": TINY_SIAMESE,
    "nlnl": {"epochs": 1, "width": 4, "image_size": 8, "clean_threshold": 0.05},
    "deepinsight": {"epochs": 1, "pixels": 8, "channels": [4], "dense": [8], "feature_extractor": "pca", "data": "iris"},
}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """``tiny_run(name)`` -> a finished tiny run directory of model ``name``, trained once per session
    (siamese reuses ``siamese_run``). Read-only for tests: copy before changing."""
    runs: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name == "siamese":
            return request.getfixturevalue("siamese_run")
        if name not in TINY:
            pytest.fail(f"no tiny settings for model '{name}'; add them to tests/conftest.py:TINY")
        if name not in runs:
            runs[name] = train_tiny(name, tmp_path_factory.mktemp("runs") / name, **TINY[name])
        return runs[name]

    return get
