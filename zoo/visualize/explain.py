"""`zoo explain RUN IMAGE`: what a convnet sees (Chollet, *Deep Learning with Python*, ch. 5.4): intermediate
activations, filter patterns by gradient ascent from noise, and Grad-CAM class activation heatmaps
(Selvaraju et al. 2017) for the predicted or a chosen class."""

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

Tick = Callable[[], None]
TILE = 48  # display side of one feature map / filter pattern (pixels, nearest-neighbour upscaled)


@dataclass
class GradCam:
    """A Grad-CAM result: ``heat`` (H, W) in [0, 1] at the model's input size."""

    layer: str
    class_index: int
    class_name: str
    score: float
    probability: float | None
    heat: np.ndarray = field(repr=False)


# -- activations ------------------------------------------------------------------------------------------

def activations(probe: ImageProbe, x: torch.Tensor, layers: list[str]) -> dict[str, np.ndarray]:
    """The first output of each layer for input ``x`` (1, C, H, W): name -> (C, h, w)."""
    with torch.no_grad():
        got, _ = probe.capture(x, layers)
    return {name: got[name][0].detach().clone().numpy() for name in layers}


def activations_picture(maps: dict[str, np.ndarray], channels: int, columns: int = 8) -> Image.Image:
    """One captioned grid per layer: its first ``channels`` feature maps, each scaled to [0, 1] (viridis; 1x1
    maps are scaled together, a lone value has no contrast of its own)."""
    parts = []
    for name, values in maps.items():
        shown = values[:channels]
        if values.shape[1] * values.shape[2] == 1:  # 1x1 maps: scale across the layer, so the tiles say which units fire
            shown = pictures.normalise(shown)
        else:
            shown = np.stack([pictures.normalise(m) for m in shown])
        tiles = [pictures.enlarge(Image.fromarray(pictures.colour(m)), TILE) for m in shown]
        title = f"{name}: {values.shape[0]} maps of {values.shape[1]}x{values.shape[2]}" + (
            f" (first {len(shown)})" if len(shown) < values.shape[0] else "")
        parts.append(pictures.caption(pictures.grid(tiles, columns), title))
    return pictures.stack(parts)


# -- filter patterns --------------------------------------------------------------------------------------

def filter_patterns(probe: ImageProbe, layer: str, count: int, *, steps: int = 40, step_size: float = 0.05,
                    seed: int = 0, centre: bool = True, tick: Tick | None = None) -> np.ndarray:
    """Inputs that maximise the first ``count`` channels of ``layer``: gradient ascent from grey noise, one
    channel per batch row, the gradient scaled to unit RMS as Chollet does, no clipping (so a linear first
    layer shows its kernel rather than a saturated box). The objective is the unit at the centre of each map
    (its receptive field), or with ``centre=False`` the map's mean as in the source, which on a near-linear
    net such as LeNet's tanh/avg-pool stack only lights up the borders. Returns (count, C, H, W) model
    inputs, to be shown contrast-normalised (:func:`deprocess`)."""
    low, high = probe.value_range
    channels = min(count, probe.layer(layer).channels)
    generator = torch.Generator().manual_seed(seed)
    mid, span = (low + high) / 2, (high - low)
    x = mid + 0.1 * span * torch.randn((channels, *probe.image_shape), generator=generator)
    rows = torch.arange(channels)
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        got, _ = probe.capture(x, [layer])
        act = got[layer]
        h, w = act.shape[2:]
        loss = act[rows, rows, h // 2, w // 2].sum() if centre else act[rows, rows].mean(dim=(1, 2)).sum()
        (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
        if grad is None:
            raise ZooError(f"layer {layer} of {probe.name} does not depend on the image; pick one computed from it.")
        rms = grad.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
        x = x + step_size * span * grad / (rms + 1e-8)
        if tick:
            tick()
    return x.detach().numpy()


def deprocess(x: np.ndarray) -> Image.Image:
    """A (C, H, W) pattern -> 8-bit picture as Chollet shows them: standardised, x 0.15 + 0.5, clipped to [0, 1]."""
    x = (x - x.mean()) / (x.std() + 1e-5) * 0.15 + 0.5
    pixels = (np.clip(x, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)
    return Image.fromarray(pixels[:, :, 0], "L") if pixels.shape[2] == 1 else Image.fromarray(pixels[:, :, :3], "RGB")


def filters_picture(patterns: dict[str, np.ndarray], columns: int = 8) -> Image.Image:
    """One captioned grid of filter patterns per layer."""
    parts = []
    for name, xs in patterns.items():
        tiles = [pictures.enlarge(deprocess(x), TILE) for x in xs]
        parts.append(pictures.caption(pictures.grid(tiles, columns), f"{name}: patterns of filters 0..{len(xs) - 1}"))
    return pictures.stack(parts)


# -- Grad-CAM ---------------------------------------------------------------------------------------------

def grad_cam(probe: ImageProbe, x: torch.Tensor, layer: str, wanted: str | None = None) -> GradCam:
    """Grad-CAM of ``layer`` for class ``wanted`` (label or index; None: the predicted class): the feature maps
    weighted by the spatial mean of the class score's gradient, summed, ReLU'd, upsampled to the input size."""
    probe.layer(layer)
    x = x.detach().clone().requires_grad_(True)  # the weights are frozen: the graph hangs on the input
    with torch.enable_grad():
        got, outputs = probe.capture(x, [layer], full=True)
        scores = probe.class_scores(outputs)
        index = probe.class_index(wanted, scores)
        score = scores[0, index]
        maps = got[layer]
        (grad,) = torch.autograd.grad(score, maps, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(maps)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * maps).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)[0, 0].numpy()
    heat = cam / cam.max() if cam.max() > 0 else np.zeros_like(cam)
    meaning = probe.outputs[probe.class_output].meaning if probe.class_output is not None else None
    probability = None
    if meaning == "logits" and scores.shape[1] > 1:
        probability = float(torch.softmax(scores.detach(), dim=1)[0, index])
    elif meaning in ("probabilities", "probability"):
        probability = float(scores[0, index].detach())
    return GradCam(layer, index, probe.class_name(index), float(score.detach()), probability, heat)


def gradcam_picture(probe: ImageProbe, x: torch.Tensor, cam: GradCam, side: int = 224) -> Image.Image:
    """The input, the heatmap and the overlay side by side, captioned with the explained class."""
    image = probe.picture(x).convert("RGB")
    factor = max(1, -(-side // max(image.size)))
    size = (image.width * factor, image.height * factor)
    big = image.resize(size, Image.Resampling.NEAREST)
    heat = np.asarray(Image.fromarray((cam.heat * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR)) / 255.0
    p = f" p={cam.probability:.3f}" if cam.probability is not None else ""
    tiles = [pictures.caption(big, "input"), pictures.caption(Image.fromarray(pictures.colour(heat, "jet")), f"Grad-CAM {cam.layer}"),
             pictures.caption(pictures.overlay(big, heat), f"class {cam.class_name}{p}")]
    return pictures.grid(tiles, 3)


# -- the command ------------------------------------------------------------------------------------------

def explain(probe: ImageProbe, image: str | Path, out_dir: Path, *, layers: list[str] | None = None,
            wanted: str | None = None, channels: int = 16, filter_steps: int = 40, centre: bool = True,
            tick: Tick | None = None) -> dict[str, Any]:
    """Compute every picture first, then write activations.png, filters.png, gradcam.png and explain.json into
    ``out_dir`` (each atomically). Returns the summary written to explain.json."""
    from zoo import io as zio

    chosen = [probe.layer(n).name for n in layers] if layers else [layer.name for layer in probe.spread(4)]
    cam_layer = chosen[-1] if layers else probe.default_layer().name
    x = probe.load(image)
    maps = activations(probe, x, chosen)
    patterns = {name: filter_patterns(probe, name, min(channels, 8), steps=filter_steps, centre=centre, tick=tick) for name in chosen}
    cam = grad_cam(probe, x, cam_layer, wanted) if probe.class_output is not None else None
    if cam is None and wanted is not None:
        probe.class_scores(None)  # raises: this model has no class output to choose from
    files = {"activations.png": activations_picture(maps, channels), "filters.png": filters_picture(patterns)}
    if cam is not None:
        files["gradcam.png"] = gradcam_picture(probe, x, cam)
    summary: dict[str, Any] = {
        "model": probe.name, "image": str(image), "input_shape": list(probe.image_shape),
        "layers": {n: {"kind": probe.layer(n).kind, "shape": list(probe.layer(n).shape)} for n in chosen},
        "valid_layers": [layer.name for layer in probe.layers()],
        "filter_steps": filter_steps, "filter_objective": "centre unit" if centre else "map mean",
        "gradcam": None if cam is None else {"layer": cam.layer, "class_index": cam.class_index, "class": cam.class_name,
                                             "score": cam.score, "probability": cam.probability,
                                             "peak": [int(v) for v in np.unravel_index(int(cam.heat.argmax()), cam.heat.shape)]},
        "files": sorted(files) + ["explain.json"],
    }
    if cam is None:
        summary["gradcam_skipped"] = f"{probe.name} has no class output (logits/probabilities)"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, picture in files.items():
        with zio.atomic_path(out_dir / name) as tmp:
            picture.save(tmp, format="PNG")
    zio.write_json(out_dir / "explain.json", summary)
    return summary
