"""`zoo dream RUN IMAGE`: DeepDream (Mordvintsev et al. 2015) as in Chollet, *Deep Learning with Python*,
ch. 8.2: gradient ascent on the activations of chosen layers, octave by octave from small to full size
(each octave 1.4x the previous), re-injecting after each upscale the detail that shrinking lost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from zoo.errors import ZooError
from zoo.visualize import pictures
from zoo.visualize.probe import ImageProbe

OCTAVE_SCALE = 1.4
MAX_SIDE = 512  # default size cap: the image's own size, at most this many pixels on its longer side
Tick = Callable[[], None]


@dataclass
class Dream:
    """The dreamed input (1, C, H, W), each octave's result and the loss at the end of each octave."""

    image: torch.Tensor
    octaves: list[torch.Tensor] = field(default_factory=list)
    shapes: list[tuple[int, int]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def parse_layers(probe: ImageProbe, specs: list[str] | None) -> dict[str, float]:
    """``["name", "name=coeff", "a,b"]`` -> {layer: coefficient}; default: the two deepest convolutions whose
    maps are 2x2 or more at the model's input size (so smaller octaves still reach them)."""
    if not specs:
        return {layer.name: 1.0 for layer in probe.spread(len(probe.conv_layers()))[-2:]}
    chosen: dict[str, float] = {}
    for spec in (s.strip() for item in specs for s in item.split(",")):
        if not spec:
            continue
        name, _, coeff = spec.partition("=")
        try:
            weight = float(coeff) if coeff else 1.0
        except ValueError:
            raise ZooError(f"--layers {spec}: the coefficient after '=' must be a number, e.g. {name}=1.5.") from None
        chosen[probe.layer(name).name] = weight
    return chosen


def octave_shapes(size: tuple[int, int], octaves: int, scale: float = OCTAVE_SCALE) -> list[tuple[int, int]]:
    """The image sizes, smallest first: ``size`` divided by ``scale`` ** i for i = octaves-1 .. 0."""
    if octaves < 1:
        raise ZooError(f"--octaves {octaves}: there must be at least one octave (1 = no rescaling; the source uses 3).")
    shapes = [(max(1, int(size[0] / scale ** i)), max(1, int(size[1] / scale ** i))) for i in range(octaves)]
    return shapes[::-1]


def _resize(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    return x if tuple(x.shape[2:]) == tuple(shape) else F.interpolate(x, size=shape, mode="bilinear", align_corners=False)


def _loss(probe: ImageProbe, x: torch.Tensor, layers: dict[str, float]) -> torch.Tensor:
    """Sum of coefficient x mean squared activation (borders of 2 dropped when the map is large enough)."""
    got, _ = probe.capture(x, list(layers))
    loss = x.new_zeros(())
    for name, coeff in layers.items():
        act = got[name]
        if act.shape[2] > 8 and act.shape[3] > 8:
            act = act[:, :, 2:-2, 2:-2]
        loss = loss + coeff * act.pow(2).mean()
    return loss


def dream(probe: ImageProbe, x: torch.Tensor, layers: dict[str, float], *, octaves: int = 3, steps: int = 20,
          step_size: float = 0.01, max_loss: float | None = None, tick: Tick | None = None) -> Dream:
    """DeepDream of ``x`` (1, C, H, W), as Chollet's loop: shrink to the smallest octave, ascend ``steps`` times
    (gradient / mean |gradient|, times ``step_size`` x the input's value span), upscale 1.4x, add back the
    detail lost by shrinking (original at this size - upscaled shrunk original), and repeat."""
    if steps < 0:
        raise ZooError(f"--steps {steps}: give 0 or more gradient-ascent steps per octave.")
    shapes = octave_shapes(tuple(x.shape[2:]), octaves)
    low, high = probe.value_range
    span = float((high - low).mean())
    original = x.detach()
    shrunk_original = _resize(original, shapes[0])
    img = original
    result = Dream(image=img, shapes=shapes)
    for shape in shapes:
        img = _resize(img, shape)
        loss_value = float("nan")
        for _ in range(steps):
            img = img.detach().requires_grad_(True)
            loss = _loss(probe, img, layers)
            loss_value = float(loss.detach())
            if max_loss is not None and loss_value > max_loss:
                break
            (grad,) = torch.autograd.grad(loss, img, allow_unused=True)
            if grad is None:
                raise ZooError(f"the layers {', '.join(layers)} of {probe.name} do not depend on the image; pick "
                               f"layers computed from it (e.g. {', '.join(n.name for n in probe.conv_layers()[:3])}).")
            img = img + step_size * span * grad / grad.abs().mean().clamp_min(1e-7)
            img = torch.minimum(torch.maximum(img, low), high)
            if tick:
                tick()
        img = img.detach()
        if steps == 0:
            with torch.no_grad():
                loss_value = float(_loss(probe, img, layers))
        # detail re-injection: what shrinking the original to the previous octave lost, at this size
        img = img + (_resize(original, shape) - _resize(shrunk_original, shape))
        shrunk_original = _resize(original, shape)
        result.octaves.append(img.clone())
        result.losses.append(loss_value)
    result.image = img
    return result


def contact_sheet(probe: ImageProbe, original: torch.Tensor, result: Dream, side: int = 160) -> Image.Image:
    """The original and each octave's result, all shown at the final size (and at least ``side`` px high)."""
    final = tuple(result.image.shape[2:])
    tiles = [pictures.caption(pictures.enlarge(probe.picture(original), side), f"original {final[1]}x{final[0]}")]
    for i, (img, shape) in enumerate(zip(result.octaves, result.shapes)):
        tile = pictures.enlarge(probe.picture(_resize(img, final)), side)
        tiles.append(pictures.caption(tile, f"octave {i + 1}: {shape[1]}x{shape[0]}"))
    return pictures.grid(tiles, len(tiles))


def run_dream(probe: ImageProbe, image: str | Path, out_dir: Path, *, layers: list[str] | None = None,
              octaves: int = 3, steps: int = 20, step_size: float = 0.01, size: int | None = None,
              max_loss: float | None = None, tick: Tick | None = None) -> dict[str, Any]:
    """Dream on the image file ``image`` and write dream.png, dream_octaves.png and dream.json into ``out_dir``
    (after all the work, each atomically). ``size``: the longer side of the result (default: the image's own,
    at most 512, at least the model's input size)."""
    from zoo import io as zio

    chosen = parse_layers(probe, layers)
    octave_shapes(probe.image_shape[1:], octaves)  # refuse a bad count before any work
    h, w = probe.image_size(image)
    longest = size if size else max(min(max(h, w), MAX_SIDE), max(probe.image_shape[1:]))
    if longest < 1:
        raise ZooError(f"--size {size}: give the result's longer side in pixels (at least 1).")
    scale = longest / max(h, w)
    target = (max(1, round(h * scale)), max(1, round(w * scale)))
    x = probe.load(image, size=target)
    result = dream(probe, x, chosen, octaves=octaves, steps=steps, step_size=step_size, max_loss=max_loss, tick=tick)
    dreamed, sheet = probe.picture(result.image), contact_sheet(probe, x, result)
    change = float((result.image - x).abs().mean())
    summary = {"model": probe.name, "image": str(image), "layers": chosen, "octaves": octaves, "octave_scale": OCTAVE_SCALE,
               "octave_shapes": [list(s) for s in result.shapes], "steps": steps, "step_size": step_size,
               "max_loss": max_loss, "loss_per_octave": result.losses, "mean_abs_change": change,
               "files": ["dream.png", "dream_octaves.png", "dream.json"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, picture in (("dream.png", dreamed), ("dream_octaves.png", sheet)):
        with zio.atomic_path(out_dir / name) as tmp:
            picture.save(tmp, format="PNG")
    zio.write_json(out_dir / "dream.json", summary)
    return summary
