"""Bounded models: a config's network is sized on PyTorch's ``meta`` device (shapes only, no memory) before
anything is allocated, and a weights file's safetensors header is checked against those shapes before a
single weight is read. A config that asks for hundreds of GB (``channels: [100000, 100000]``) is a
one-line error, from the command line, a YAML file or an ``hf://`` repo alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    from zoo.registry import ZooModel

MAX_PARAMETERS_ENV = "ZOO_MAX_PARAMETERS"
DEFAULT_MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights (16 GB with AdamW's state and gradients)


def max_parameters() -> int:
    raw = os.environ.get(MAX_PARAMETERS_ENV, "")
    try:
        return int(float(raw)) if raw else DEFAULT_MAX_PARAMETERS
    except ValueError:
        raise ZooError(f"{MAX_PARAMETERS_ENV}={raw!r} is not a number; set it to a parameter count such as 2e9.") from None


def expected_shapes(spec: ZooModel) -> dict[str, tuple[int, ...]] | None:
    """The shapes of the state dict ``spec.build_model()`` would have, computed without allocating it.

    Refuses a config whose network is larger than ``max_parameters()``. None when the network cannot be
    built on the meta device (a model whose construction reads real tensors): then the real build decides."""
    import torch

    try:
        with torch.device("meta"):
            model = spec.build_model()
    except ZooError:
        raise
    except Exception:  # noqa: BLE001  a guard, never a new way to fail: invalid widths are refused by the config
        return None
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    check_count(spec.name, sum(_numel(s) for s in shapes.values()), "config")
    return shapes


def check_count(name: str, count: int, what: str) -> None:
    limit = max_parameters()
    if count > limit:
        raise ZooError(f"the {name} {what} needs {count:,} weights, more than the limit of {limit:,} "
                       f"(~{4 * count / 1e9:,.0f} GB); lower its channels/widths, or raise {MAX_PARAMETERS_ENV} "
                       "if this machine really has the memory.")


def check_weights_header(spec: ZooModel, weights: Path) -> None:
    """Compare the tensor names and shapes in the safetensors header of ``weights`` with the config's
    network (reads the header only, never the data)."""
    from safetensors import SafetensorError, safe_open

    expected = expected_shapes(spec)
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            found = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooError(f"weights file {weights} is corrupt or not safetensors ({first_line(exc, 160)}); "
                       "re-download or retrain it.") from None
    check_count(spec.name, sum(_numel(s) for s in found.values()), f"weights file {weights}")
    if expected is None:
        return
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ZooError(f"weights in {weights} do not match the {spec.name} config ({detail}); "
                       "the config and weights come from different runs.")
    for key, shape in found.items():
        if shape != expected[key]:
            raise ZooError(f"weight {key} in {weights} has shape {shape}, the config needs {expected[key]}; "
                           "the config and weights come from different runs.")


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= int(dim)
    return count
