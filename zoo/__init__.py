"""zoo: a deployable model zoo. ``zoo.load("runs/siamese/...")`` or ``zoo.load("hf://owner/name")``."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from zoo.artifacts import Artifact


def load(source: str) -> Artifact:
    """Load a trained zoo model from a run directory, a model.safetensors or hf://OWNER/NAME[@REV]."""
    from zoo.artifacts import load as _load

    return _load(source)


_API = ("list_models", "create_model", "from_pretrained")


def __getattr__(name: str) -> object:
    """The rest of the Python API, imported on first use so ``import zoo`` stays light."""
    if name in _API:
        from zoo import api

        return getattr(api, name)
    raise AttributeError(f"module 'zoo' has no attribute '{name}'")


__all__ = ["__version__", "load", *_API]
