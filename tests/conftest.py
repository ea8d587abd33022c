"""Shared fixtures: small, real training runs reused across test modules (session-scoped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("COLUMNS", "200")  # rich tables: no wrapping inside names the tests look for

def train_tiny(model: str, run_dir: Path, **overrides) -> Path:
    """Train ``model`` with tiny settings into ``run_dir`` through the real engine; return the run dir."""
    from zoo import registry
    from zoo.engine import train

    cls = registry.get(model)
    spec = cls(cls.Config(**{**registry.card(model).tiny, **overrides}))
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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """``tiny_run(name)`` -> a finished tiny run directory of model ``name`` with its card's ``tiny``
    config, trained once per session (siamese reuses ``siamese_run``). Read-only: copy before changing."""
    runs: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name == "siamese":
            return request.getfixturevalue("siamese_run")
        if name not in runs:
            runs[name] = train_tiny(name, tmp_path_factory.mktemp("runs") / name)
        return runs[name]

    return get


@pytest.fixture(scope="session")
def exports(tiny_run, tmp_path_factory: pytest.TempPathFactory):
    """``exports(name)`` -> (ONNX, Keras) ExportResults of model ``name``'s tiny run, made once per session
    into their own folder (read-only: tests that change a file copy it first). test_exporters checks them;
    the every-model demo serves the same ONNX files instead of exporting each model again."""
    from exporters.export import export

    made: dict[str, tuple] = {}

    def get(name: str) -> tuple:
        if name not in made:
            out = tmp_path_factory.mktemp(f"exports-{name}")
            made[name] = (export(tiny_run(name), "onnx", out), export(tiny_run(name), "keras", out))
        return made[name]

    return get
