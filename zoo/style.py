"""Neural style transfer: the losses of Gatys, Ecker & Bethge (2016) over any zoo backbone, and `zoo stylize`.

A *loss network* is a zoo backbone (``zoo.backbones``) cut into its stages; a *layer* is a stage's
output (vgg16: ``block1`` .. ``block5``, each ending in its max-pool; resnet18: ``stem``, ``layer1`` ..
``layer4``; lenet5: ``c1s2``, ``c3s4``, ``c5``). The losses, on images in [0, 1] (RGB, N x 3 x H x W):

* content: ``||F(y) - F(x)||^2 / ||F(x)||^2`` on one deep layer (the relative feature error);
* style: for each style layer the Gram matrix ``G = F F^T / (C H W)`` of its C x (H W) feature map, and
  ``||G(y) - G(s)||^2 / ||G(s)||^2``, averaged over the layers;
* total variation: the mean squared difference of neighbouring pixels.

Each term is relative (divided by the size of its target), so the weights mean the same on every
backbone and with random or trained weights; the defaults keep the content recognisable. The same
:class:`PerceptualLoss` trains the feed-forward ``style-transfer`` model (Johnson et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError

DEFAULT_BACKBONE = "vgg16"


# -- the loss network ------------------------------------------------------------------------------------

def default_layers(stage_names: list[str]) -> tuple[str, list[str]]:
    """(content layer, style layers) for a backbone's stages: content in the middle of the network, style
    on every stage but the last when there are more than three (the last is nearly 1x1 on small images)."""
    n = len(stage_names)
    return stage_names[(n - 1) // 2], list(stage_names[: n - 1] if n > 3 else stage_names)


class FeatureNet(nn.Module):
    """A frozen zoo backbone returning the outputs of named stages for RGB images in [0, 1]; it applies the
    backbone's own normalisation (and averages RGB to grey for a 1-channel backbone)."""

    def __init__(self, backbone: str, stages: list[tuple[str, nn.Module]], in_channels: int,
                 mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.backbone = backbone
        self.names = [name for name, _ in stages]
        self.stages = nn.ModuleList([module for _, module in stages])
        self.in_channels = in_channels
        mean = mean if len(mean) == in_channels else (float(np.mean(mean)),) * in_channels
        std = std if len(std) == in_channels else (float(np.mean(std)),) * in_channels
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.eval().requires_grad_(False)

    def check_layers(self, layers: list[str]) -> None:
        unknown = [name for name in layers if name not in self.names]
        if unknown:
            raise ZooError(f"layer '{unknown[0]}' does not exist in {self.backbone}; its layers are: {', '.join(self.names)}.")

    def forward(self, x: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
        if self.in_channels == 1 and x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        h = (x - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for name, stage in zip(self.names, self.stages):
            h = stage(h)
            if name in layers:
                out[name] = h
                if len(out) == len(layers):
                    break
        return out


def _zoo_run_weights(source: str) -> tuple[str, dict[str, torch.Tensor], int]:
    """(backbone name, stage weights keyed ``stages.<i>.*``, input channels) of a zoo run that holds a backbone."""
    from zoo import artifacts

    art = artifacts.load(source)
    held = art.spec.backbone_weights(art.state_dict())
    if held is None:
        raise ZooError(f"{source} is a '{art.spec.name}' model, which holds no zoo backbone; pass a transfer or pretext "
                       "run (made with --backbone), none, imagenet or a .safetensors file.")
    name, weights = held
    return name, weights, int(art.spec.in_channels()) if hasattr(art.spec, "in_channels") else 3


def feature_net(backbone: str | None = None, weights: str = "none", *, seed: int = 0) -> FeatureNet:
    """The frozen loss network: ``backbone`` (default vgg16, or the one a zoo run holds) with ``weights``:
    ``none`` (seeded random init), ``imagenet`` (the local torch cache; a one-line error naming the file
    and folder when absent), a ``.safetensors`` file, or a zoo run directory / ``hf://`` / ``pretrained:`` source."""
    from zoo.backbones import BACKBONES, BackboneInfo
    from zoo.backbones.build import build_parts

    run_state: dict[str, torch.Tensor] | None = None
    in_channels = 3
    looks_like_file = weights.endswith((".safetensors", ".pth"))
    if weights not in ("none", "imagenet") and not looks_like_file:
        if not (Path(weights).expanduser().is_dir() or weights.startswith(("hf://", "pretrained:"))):
            raise ZooError(f"--weights {weights}: no such run directory or file; pass none, imagenet, a .safetensors file "
                           "or a zoo run directory.")
        name, run_state, in_channels = _zoo_run_weights(weights)
        if backbone is not None and backbone != name:
            raise ZooError(f"--weights {weights} holds a {name} backbone, not {backbone}; pass --backbone {name} or leave it out.")
        backbone = name
    backbone = backbone or DEFAULT_BACKBONE
    if backbone not in BACKBONES and not backbone.startswith("timm:"):
        raise ZooError(f"unknown backbone '{backbone}'; choose one of: {', '.join(BACKBONES)} or timm:NAME.")
    if looks_like_file and not Path(weights).expanduser().is_file():
        raise ZooError(f"--weights file {weights} does not exist; pass none, imagenet, an existing .safetensors file or a zoo run.")
    info = BACKBONES.get(backbone) or BackboneInfo(backbone, "timm", 32, 224)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts = build_parts(backbone, in_channels=in_channels, pretrained="none" if run_state is not None else weights)
    if run_state is not None:
        stages = nn.ModuleList([module for _, module in parts.stages])
        own = {f"stages.{k}": v for k, v in stages.state_dict().items()}
        usable = {k.removeprefix("stages."): v for k, v in run_state.items() if k in own and own[k].shape == v.shape}
        if not usable:
            raise ZooError(f"--weights {weights} holds no tensor of the {backbone} stages; pass a run made with --backbone {backbone}.")
        stages.load_state_dict(usable, strict=False)
    return FeatureNet(backbone, parts.stages, in_channels, info.mean, info.std)


# -- the losses ------------------------------------------------------------------------------------------

def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices of N x C x H x W feature maps: N x C x C, ``F F^T / (C H W)``."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of vertically and horizontally neighbouring pixels, per image (N,)."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).flatten(1).mean(1)
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).flatten(1).mean(1)
    return dy + dx


def relative_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||value - target||^2 / ||target||^2`` per row (N,); target broadcasts over rows."""
    dims = tuple(range(1, value.dim()))
    target = target.expand_as(value)
    return (value - target).pow(2).sum(dims) / target.pow(2).sum(dims).clamp_min(1e-12)


@dataclass
class LossWeights:
    content: float = 1.0
    style: float = 5.0
    tv: float = 1e-2


class PerceptualLoss(nn.Module):
    """Content + style + total-variation loss of images against fixed style Gram targets (see the module
    docstring). ``forward(y, x)`` -> dict of per-image terms (N,) and ``total``; ``x`` is the content image."""

    def __init__(self, net: FeatureNet, style_image: torch.Tensor, *, content_layer: str = "", style_layers: list[str] | None = None,
                 weights: LossWeights | None = None) -> None:
        super().__init__()
        content_default, style_default = default_layers(net.names)
        self.content_layer = content_layer or content_default
        self.style_layers = list(style_layers or style_default)
        net.check_layers([self.content_layer, *self.style_layers])
        self.net = net
        self.weights = weights or LossWeights()
        with torch.no_grad():
            feats = net(style_image[None] if style_image.dim() == 3 else style_image[:1], set(self.style_layers))
        for i, name in enumerate(self.style_layers):
            self.register_buffer(f"target{i}", gram(feats[name])[0])

    def targets(self) -> list[torch.Tensor]:
        return [getattr(self, f"target{i}") for i in range(len(self.style_layers))]

    def style_terms(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([relative_error(gram(feats[name]), target[None])
                            for name, target in zip(self.style_layers, self.targets())]).mean(0)

    def forward(self, y: torch.Tensor, x: torch.Tensor, content_target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        feats = self.net(y, {self.content_layer, *self.style_layers})
        if content_target is None:
            with torch.no_grad():
                content_target = self.net(x, {self.content_layer})[self.content_layer]
        content = relative_error(feats[self.content_layer], content_target)
        style = self.style_terms(feats)
        tv = total_variation(y)
        w = self.weights
        return {"content": content, "style": style, "tv": tv, "total": w.content * content + w.style * style + w.tv * tv}

    def scores(self, y: torch.Tensor, x: torch.Tensor, s: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per image: style_match = 1 - style(y) / style(x) (0: the unchanged input), content_kept =
        1 - content(y) / content(s) (0: the style image itself, resized, in place of the result)."""
        with torch.no_grad():
            target = self.net(x, {self.content_layer})[self.content_layer]
            out, ident = self(y, x, target), self(x, x, target)
            pasted = self(F.interpolate(s[None], size=x.shape[-2:], mode="bilinear", align_corners=False,
                                        antialias=True).expand_as(x), x, target)
        return {"style_match": 1 - out["style"] / ident["style"].clamp_min(1e-12),
                "content_kept": 1 - out["content"] / pasted["content"].clamp_min(1e-12),
                "style_loss": out["style"], "content_loss": out["content"], "style_loss_input": ident["style"],
                "content_loss_style_image": pasted["content"]}


# -- images ------------------------------------------------------------------------------------------------

def read_image(path: str | Path, what: str) -> Any:
    """A PIL image from ``path``, or a one-line ZooError naming the file."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path).expanduser()
    if not p.is_file():
        raise ZooError(f"{what} image {p} does not exist; pass an existing PNG or JPEG file.")
    try:
        image = Image.open(p)
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ZooError(f"{what} image {p} cannot be read as an image ({str(exc).splitlines()[0][:120]}); pass a PNG or JPEG file.") from None
    return image


def to_tensor(image: Any) -> torch.Tensor:
    """PIL RGB image -> 3 x H x W float tensor in [0, 1]."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def to_picture(x: torch.Tensor | np.ndarray) -> Any:
    """3 x H x W in [0, 1] -> PIL RGB image."""
    from PIL import Image

    a = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    return Image.fromarray((np.clip(a, 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8), "RGB")


def fit_size(width: int, height: int, longest: int) -> tuple[int, int]:
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def prepare_pair(content: Any, style: Any, size: int, min_size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(content, style) tensors ready for stylising plus the notices of what was changed: the content is
    converted to RGB and resized so its longest side is ``size``; a style image of another mode is
    converted to RGB and one of another size is resized to the content's size (Gram matrices compare
    feature statistics at the same scale)."""
    from PIL import Image

    notices: list[str] = []
    if content.mode != "RGB":
        notices.append(f"content image is {content.mode}; converted to RGB")
        content = content.convert("RGB")
    if style.mode != "RGB":
        notices.append(f"style image is {style.mode}; converted to RGB")
        style = style.convert("RGB")
    w, h = fit_size(*content.size, size)
    if min(w, h) < min_size:
        raise ZooError(f"content image resized to {w}x{h} is smaller than the backbone's minimum side {min_size}; pass a larger "
                       "--size or a less elongated image.")
    if (w, h) != content.size:
        content = content.resize((w, h), Image.Resampling.LANCZOS)
    if style.size != (w, h):
        notices.append(f"style image is {style.size[0]}x{style.size[1]}; resized to the content's {w}x{h}")
        style = style.resize((w, h), Image.Resampling.LANCZOS)
    return to_tensor(content), to_tensor(style), notices


def procedural_style(size: int, seed: int = 0) -> np.ndarray:
    """A generated style image (3 x size x size in [0, 1]): domain-warped waves in a warm/cool palette with
    dark contour strokes, like marbled paper; used where no style file is given (nothing is downloaded)."""
    rng = np.random.default_rng([seed, 16])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    warp = sum(rng.uniform(0.05, 0.15) * np.sin(2 * math.pi * (rng.uniform(1, 4) * xx + rng.uniform(1, 4) * yy) + rng.uniform(0, 6.3))
               for _ in range(4))
    phase = 2 * math.pi * 5 * (xx + 0.6 * yy + warp)
    t = 0.5 + 0.5 * np.sin(phase)
    palette = np.array([[0.08, 0.16, 0.42], [0.16, 0.55, 0.75], [0.97, 0.82, 0.35], [0.86, 0.33, 0.16]])
    pos = t * (len(palette) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(palette) - 2)
    frac = (pos - lo)[..., None]
    image = palette[lo] * (1 - frac) + palette[lo + 1] * frac
    strokes = np.abs(np.sin(phase / 2 + 3 * warp)) < 0.08
    image[strokes] *= 0.25
    return image.transpose(2, 0, 1).astype(np.float32)


# -- the optimisation (Gatys et al.) -----------------------------------------------------------------------

@dataclass
class StylizeResult:
    image: torch.Tensor  # 3 x H x W in [0, 1]
    history: list[dict[str, float]] = field(default_factory=list)  # per step: total, content, style, tv
    content_layer: str = ""
    style_layers: list[str] = field(default_factory=list)


def stylize(content: torch.Tensor, style: torch.Tensor, net: FeatureNet, *, steps: int = 100, optimizer: str = "lbfgs",
            weights: LossWeights | None = None, content_layer: str = "", style_layers: list[str] | None = None,
            lr: float = 0.05, progress: Callable[[int, dict[str, float]], None] | None = None) -> StylizeResult:
    """Gatys et al.: optimise the pixels of an image (started from the content image) to minimise the
    perceptual loss; pixels stay in (0, 1) through a sigmoid. ``steps`` are L-BFGS iterations or Adam steps
    (``lr`` is Adam's step on the sigmoid's input)."""
    loss_fn = PerceptualLoss(net, style, content_layer=content_layer, style_layers=style_layers, weights=weights)
    x = content[None]
    with torch.no_grad():
        target = net(x, {loss_fn.content_layer})[loss_fn.content_layer]
    # pixels = sigmoid(z): unconstrained for the optimiser (clamping after each step would break L-BFGS's
    # curvature pairs and stall its line search); started at the content image, squeezed into [0.01, 0.99]
    # so that no pixel starts where the sigmoid is flat
    z = torch.logit(x.clamp(0.01, 0.99)).requires_grad_(True)

    if optimizer not in ("lbfgs", "adam"):
        raise ZooError(f"unknown optimizer '{optimizer}'; choose lbfgs or adam.")
    step_size = 1.0

    def make() -> torch.optim.Optimizer:
        if optimizer == "lbfgs":
            return torch.optim.LBFGS([z], lr=step_size, max_iter=1, history_size=50)
        return torch.optim.Adam([z], lr=lr)

    opt = make()
    record = [evaluate_no_grad(loss_fn, torch.sigmoid(z), x, target)]
    for step in range(steps):
        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = loss_fn(torch.sigmoid(z), x, target)["total"].sum()
            loss.backward()
            return loss

        before = z.detach().clone()
        opt.step(closure)
        now = evaluate_no_grad(loss_fn, torch.sigmoid(z), x, target)
        if optimizer == "lbfgs" and not now["total"] <= record[-1]["total"]:
            # L-BFGS overshot (random-init backbones, e.g. resnet18, are badly conditioned; the strong-Wolfe
            # line search stalls on them): undo the step and restart its curvature history at half the step
            with torch.no_grad():
                z.copy_(before)
            step_size /= 2
            opt = make()
            now = record[-1]
        record.append(now)
        if progress is not None:
            progress(step + 1, record[-1])
    return StylizeResult(torch.sigmoid(z).detach()[0], record, loss_fn.content_layer, loss_fn.style_layers)


def evaluate_no_grad(loss_fn: PerceptualLoss, y: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        return {k: float(v.sum()) for k, v in loss_fn(y, x, target).items()}


# -- `zoo stylize`: files --------------------------------------------------------------------------------------

@dataclass
class StylizeSettings:
    backbone: str | None = None
    weights: str = "none"
    steps: int = 100
    optimizer: str = "lbfgs"
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 1e-2
    content_layer: str = ""
    style_layers: str = ""
    size: int = 128
    lr: float = 0.05
    seed: int = 0


def contact_sheet(images: list[Any], labels: list[str], out: Path) -> Path:
    """PIL images side by side (scaled to one height) with a label under each, as a PNG."""
    from PIL import Image, ImageDraw

    from zoo import io as zio

    height = max(im.height for im in images)
    scaled = [im.resize((max(1, round(im.width * height / im.height)), height)) for im in images]
    pad, band = 6, 18
    sheet = Image.new("RGB", (sum(im.width for im in scaled) + pad * (len(scaled) + 1), height + 2 * pad + band), "white")
    draw = ImageDraw.Draw(sheet)
    x = pad
    for im, label in zip(scaled, labels):
        sheet.paste(im, (x, pad))
        draw.text((x, height + pad + 3), label, fill=(0, 0, 0))
        x += im.width + pad
    with zio.atomic_path(out) as tmp:
        sheet.save(tmp, format="png")
    return out


def loss_curve(history: list[dict[str, float]], weights: LossWeights, out: Path, title: str) -> Path:
    """Weighted loss terms and the total per step (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo import io as zio

    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps = range(len(history))
    for key, w in (("total", 1.0), ("content", weights.content), ("style", weights.style), ("tv", weights.tv)):
        values = [max(h[key] * w, 1e-12) for h in history]
        ax.plot(steps, values, label=key if key == "total" else f"{w:g} x {key}", lw=2 if key == "total" else 1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with zio.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return out


def run_stylize(content_path: str | Path, style_path: str | Path, out_dir: str | Path, settings: StylizeSettings, *,
                log: Callable[[str], None] = print,
                progress: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, Any]:
    """`zoo stylize`: validate everything, optimise, then write stylized.png, contact_sheet.png,
    loss_curve.png and stylize.json into ``out_dir``; returns the report written to stylize.json."""
    import time

    from zoo import io as zio
    from zoo.backbones import BACKBONES

    if settings.steps < 1:
        raise ZooError(f"--steps {settings.steps}: give at least 1 step.")
    if settings.optimizer not in ("lbfgs", "adam"):
        raise ZooError(f"unknown optimizer '{settings.optimizer}'; choose lbfgs or adam.")
    content_image, style_image = read_image(content_path, "content"), read_image(style_path, "style")
    net = feature_net(settings.backbone, settings.weights, seed=settings.seed)
    layers = [name.strip() for name in settings.style_layers.split(",") if name.strip()] or None
    net.check_layers([n for n in [settings.content_layer, *(layers or [])] if n])
    info = BACKBONES.get(net.backbone)
    content, style_t, notices = prepare_pair(content_image, style_image, settings.size, info.min_size if info else 32)
    for notice in notices:
        log(f"notice: {notice}")
    weights = LossWeights(settings.content_weight, settings.style_weight, settings.tv_weight)
    torch.manual_seed(settings.seed)
    start = time.process_time()
    result = stylize(content, style_t, net, steps=settings.steps, optimizer=settings.optimizer, weights=weights,
                     content_layer=settings.content_layer, style_layers=layers, lr=settings.lr, progress=progress)
    seconds = time.process_time() - start
    loss_fn = PerceptualLoss(net, style_t, content_layer=result.content_layer, style_layers=result.style_layers, weights=weights)
    scores = {k: float(v[0]) for k, v in loss_fn.scores(result.image[None], content[None], style_t).items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    picture = to_picture(result.image)
    with zio.atomic_path(out / "stylized.png") as tmp:
        picture.save(tmp, format="png")
    contact_sheet([to_picture(content), to_picture(style_t), picture], ["content", "style", "result"], out / "contact_sheet.png")
    loss_curve(result.history, weights, out / "loss_curve.png",
               f"{net.backbone} ({settings.weights}), {settings.optimizer}, content {result.content_layer}, "
               f"style {','.join(result.style_layers)}")
    report = {"content": str(content_path), "style": str(style_path), "backbone": net.backbone, "weights": settings.weights,
              "optimizer": settings.optimizer, "steps": settings.steps, "size": list(picture.size),
              "content_layer": result.content_layer, "style_layers": result.style_layers,
              "loss_weights": {"content": weights.content, "style": weights.style, "tv": weights.tv},
              "initial": result.history[0], "final": result.history[-1], "scores": scores, "notices": notices,
              "cpu_seconds": round(seconds, 2), "history": result.history}
    zio.write_json(out / "stylize.json", report)
    return report
