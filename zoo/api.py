"""The Python API (timm / torchvision style), imported on first use through ``zoo.__getattr__``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from zoo.artifacts import Artifact


def list_models() -> list[str]:
    """Registered model names (torch-free)."""
    from zoo import registry

    return registry.names()


def create_model(name: str, pretrained: bool | str = False, **config: Any) -> nn.Module:
    """The PyTorch network of model ``name``: fresh with ``config`` fields, or with published weights
    (``pretrained=True`` for the default preset, or a preset name), verified against their sha256."""
    from zoo import registry

    if pretrained:
        if config:
            from zoo.errors import ZooError

            raise ZooError("pretrained weights come with their own config; drop the config fields or pretrained.")
        return from_pretrained(name, None if pretrained is True else str(pretrained)).model
    return registry.create(name, config or None).build_model()


def from_pretrained(name: str, preset: str | None = None) -> Artifact:
    """A published preset of ``name`` (downloaded, sha256-verified) as a loaded model (see ``zoo.load``)."""
    from zoo.artifacts import load
    from zoo.presets import resolve_pretrained

    return load(resolve_pretrained(name, preset))
