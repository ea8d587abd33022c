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


__all__ = ["__version__", "load"]
