"""RotNet: predict which angle of the rotation set an image was rotated by (Gidaris et al. 2018).

Each training image is rotated by one angle drawn (step-seeded) from ``--rotations``. Multiples of
90 degrees are exact pixel permutations (``torch.rot90``); 45-degree angles resample bilinearly with
border padding, so their corners carry the edge colour rather than a give-away black border.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from zoo.models.rotnet import CARD
from zoo.models.rotnet.config import RotNetConfig
from zoo.registry import DemoHook, register
from zoo.tasks.pretext import PretextTask


def rotate(images: torch.Tensor, degrees: int) -> torch.Tensor:
    """Rotate N, C, H, W ``images`` counter-clockwise by ``degrees`` (a multiple of 45)."""
    if degrees % 90 == 0:
        return torch.rot90(images, degrees // 90, dims=(-2, -1))
    a = math.radians(degrees)
    # affine_grid maps output to input coordinates (x right, y down): this turns the picture as rot90 does
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], dtype=images.dtype)
    grid = F.affine_grid(theta.expand(len(images), 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="border")


@register
class RotNet(PretextTask):
    card = CARD
    Config = RotNetConfig
    config: RotNetConfig

    def pretext_labels(self) -> list[str]:
        return [f"{a} deg" for a in self.config.rotations]

    def pretext_batch(self, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(len(self.config.rotations), (len(images),), generator=gen)
        out = images.clone()
        for k, angle in enumerate(self.config.rotations):
            rows = (y == k).nonzero().flatten()
            if len(rows):
                out[rows] = rotate(images[rows], angle)
        return out, y

    def demo(self) -> DemoHook:
        return DemoHook(kind="image-classifier", title="rotnet: which way is up?",
                        description="Upload an image (a digit or character, upright or turned): the rotation the network "
                                    "predicts, and the image turned back upright by it.",
                        extra={"rotations": list(self.config.rotations)})
