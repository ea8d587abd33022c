"""Runtime adapters: turn a PyTorch module (or other runtimes, in ``exporters``) into a ``Predict``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from zoo.registry import Predict


def torch_predictor(model: nn.Module, input_names: list[str], *, device: str | None = None,
                    batch_size: int = 1024) -> Predict:
    """A ``Predict`` that runs ``model`` in eval mode, in chunks of ``batch_size`` rows."""
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(dev).eval()

    def predict(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        n = len(next(iter(inputs.values())))
        chunks: list[list[np.ndarray]] = []
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                args = [torch.from_numpy(np.ascontiguousarray(inputs[k][start:start + batch_size])).to(dev) for k in input_names]
                out = model(*args)
                outs = out if isinstance(out, (tuple, list)) else (out,)
                chunks.append([o.float().cpu().numpy() for o in outs])
        return [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))] if chunks else []

    return predict
