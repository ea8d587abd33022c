"""Context prediction (Doersch, Gupta & Efros 2015): where does the second patch sit relative to the first?

A 3x3 grid of square patches is cut from each unlabelled image at a random place; the centre patch
(base) and one of its 8 neighbours go through ONE encoder (the two branches share their weights
because they are the same module, as in `siamese`), their features are concatenated and a small
head predicts the neighbour's position (8 classes). The paper's defences against trivial solutions
are config options: ``gap`` pixels between patches, ``jitter`` of each patch's position and
``drop_channels`` (see :class:`~zoo.models.context.config.ContextConfig` for what it does on grey images).

The exported model takes the two patches side by side in one image (base left, neighbour right),
so the generic image-classifier demo and runtimes see one input; the encoder is its own graph.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from zoo.models.context import CARD
from zoo.models.context.config import ContextConfig
from zoo.registry import DemoHook, ExportSpec, GraphSpec, Preprocessing, TensorSpec, register
from zoo.tasks.pretext import EVAL_SEED, Encoder, PretextNet, PretextTask

# (row, column) offsets of the neighbour from the base patch, in label order (as in the paper's figure 2)
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
POSITION_NAMES = ("top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right")


class ContextNet(PretextNet):
    """forward(pair) -> 8 position logits; ``pair`` is (N, C, P, 2P): base patch left, neighbour right."""

    def __init__(self, backbone: str, pretrained: str, in_channels: int, patch_size: int, hidden: int) -> None:
        super().__init__(backbone, pretrained, in_channels, len(NEIGHBOURS))
        self.patch_size = patch_size
        self.head = nn.Sequential(nn.Linear(2 * self.features_dim, hidden), nn.ReLU(), nn.Linear(hidden, len(NEIGHBOURS)))

    def encode(self, patch: torch.Tensor) -> torch.Tensor:
        return Encoder.forward(self, patch)  # type: ignore[arg-type]

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        base, neighbour = pair[..., :p], pair[..., p:]
        return self.head(torch.cat([self.encode(base), self.encode(neighbour)], dim=1))


def drop_channels(patches: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """RGB: per patch, keep one random channel and replace the other two with Gaussian noise of 1/100 of
    its standard deviation (Doersch et al.'s colour dropping). Grey: an independent random contrast
    (x0.6-1.4) and brightness (+-0.4 normalised units) per patch, the nearest grey counterpart."""
    n, c = patches.shape[:2]
    if c == 3:
        keep = torch.randint(3, (n,), generator=gen)
        std = patches[torch.arange(n), keep].flatten(1).std(1).clamp_min(1e-6)
        noise = torch.randn(patches.shape, generator=gen, dtype=patches.dtype) * (0.01 * std).view(n, 1, 1, 1)
        kept = torch.nn.functional.one_hot(keep, 3).to(patches.dtype).view(n, 3, 1, 1)
        return patches * kept + noise * (1 - kept)
    contrast = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=gen, dtype=patches.dtype)
    brightness = 0.8 * torch.rand(n, 1, 1, 1, generator=gen, dtype=patches.dtype) - 0.4
    mean = patches.mean(dim=(1, 2, 3), keepdim=True)
    return (patches - mean) * contrast + mean + brightness


@register
class Context(PretextTask):
    card = CARD
    Config = ContextConfig
    config: ContextConfig

    def pretext_labels(self) -> list[str]:
        return list(POSITION_NAMES)

    def build_model(self) -> ContextNet:
        self.data  # noqa: B018  (loading fills in_channels)
        torch.manual_seed(self.config.seed)
        cfg = self.config
        return ContextNet(cfg.backbone, cfg.pretrained, self.in_channels(), cfg.patch_size, cfg.head_hidden)

    def inputs(self) -> list[TensorSpec]:
        p, c = self.config.patch_size, self.in_channels()
        mean, std = self.mean_std()
        return [TensorSpec("image", ("batch", c, p, 2 * p),
                           description=f"base patch (left {p}x{p}) and neighbour patch (right {p}x{p}) side by side, "
                                       f"(pixel/255 - mean) / std with mean {mean}, std {std}")]

    def preprocessing(self) -> Preprocessing:
        p = self.config.patch_size
        mean, std = self.mean_std()
        return Preprocessing(kind="image", size=(p, 2 * p), color=self.color(), scale=1 / 255, mean=mean, std=std, layout="NCHW",
                             notes=f"{self.color()}, an image of two patches side by side (base left, neighbour right) resized to "
                                   f"{p}x{2 * p}, x = (pixel/255 - mean) / std")

    def pretext_batch(self, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        out, y = self.cut_pairs(images, gen)
        if self.config.drop_channels:
            p = self.config.patch_size
            out[..., :p] = drop_channels(out[..., :p], gen)
            out[..., p:] = drop_channels(out[..., p:], gen)
        return out, y

    def cut_pairs(self, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(base | neighbour pairs, position labels) cut from ``images`` with the configured gap and jitter."""
        cfg = self.config
        p, step, j = cfg.patch_size, cfg.patch_size + cfg.gap, cfg.jitter
        n, size = len(images), images.shape[-1]
        y = torch.randint(len(NEIGHBOURS), (n,), generator=gen)
        free = size - (3 * p + 2 * cfg.gap + 2 * j)  # >= 0: checked by the config
        origin = j + torch.randint(free + 1, (n, 2), generator=gen)  # top-left of the grid's first cell (row, col)
        shake = torch.randint(-j, j + 1, (n, 2, 2), generator=gen)  # per patch (base, neighbour), per axis
        offsets = torch.tensor(NEIGHBOURS)[y]
        base_at = origin + step + shake[:, 0]
        neighbour_at = origin + step * (1 + offsets) + shake[:, 1]
        out = torch.empty(n, images.shape[1], p, 2 * p, dtype=images.dtype)
        for i in range(n):
            (br, bc), (nr, nc) = base_at[i].tolist(), neighbour_at[i].tolist()
            out[i, :, :, :p] = images[i, :, br:br + p, bc:bc + p]
            out[i, :, :, p:] = images[i, :, nr:nr + p, nc:nc + p]
        return out, y

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        rows = self.data.splits[split] if len(self.data.splits[split]) else self.data.splits["train"]
        picked = np.resize(rows, max(n, 1))[:n]
        # real pixels only (no photometric noise): examples survive the demo's round trip through 8-bit PNG files
        pairs, _ = self.cut_pairs(self.data.images[picked], torch.Generator().manual_seed(EVAL_SEED))
        return {"image": pairs.numpy()}

    def graph_example_inputs(self, graph: GraphSpec, n: int, split: str = "test") -> dict[str, np.ndarray]:
        """The encoder graph takes single patches: the base patches of the example pairs."""
        if graph.name != "encoder":
            return super().graph_example_inputs(graph, n, split)
        return {"patch": np.ascontiguousarray(self.example_inputs(n, split)["image"][..., :self.config.patch_size])}

    def export_spec(self) -> ExportSpec:
        """The whole network (two patches in), plus the encoder (one patch in) as its own graph."""
        spec = super().export_spec()
        encoder = spec.graphs[1]
        p, c = self.config.patch_size, self.in_channels()
        patch = TensorSpec("patch", ("batch", c, p, p), description=f"one {p}x{p} patch, normalised as the model input")
        return ExportSpec(graphs=(spec.graphs[0], GraphSpec(encoder.name, module=encoder.module, inputs=(patch,),
                                                            outputs=encoder.outputs)), atol=spec.atol)

    def demo(self) -> DemoHook:
        p = self.config.patch_size
        return DemoHook(kind="image-classifier", title="context: where does the second patch sit?",
                        description=f"Upload an image of two patches side by side (base left, neighbour right; resized to "
                                    f"{p}x{2 * p}): the neighbour's predicted position relative to the base patch.",
                        extra={"top_k": 3})
