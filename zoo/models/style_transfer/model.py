"""Feed-forward style transfer (Johnson, Alahi & Fei-Fei 2016).

A transformation network ``image -> stylized image`` — a 9x9 reflection-padded convolution, two stride-2
convolutions, residual blocks, two x2 up-samplings and a 9x9 convolution, every inner layer instance-
normalised (Ulyanov et al. 2016) — is trained for ONE style by minimising, through a fixed loss network
(a zoo backbone, see :mod:`zoo.style`), the relative content loss to its input, the relative Gram loss
to the style image and a total-variation term. The exported graph is the network itself: the fast
stylizer that the demo and the Space run on onnxruntime.

Content images (offline): random crops of scikit-learn's two sample photos (china.jpg and flower.jpg,
CC BY 2.0, shipped in the scikit-learn wheel) — training crops from the left three quarters of each
photo, validation and test crops from the right quarter — and generated scenes (sky, ground, blocks
and discs). Style: the ``--style`` file, or a procedurally generated marbled pattern.

Metrics (held-out images x, outputs y, style image s; loss terms of :class:`zoo.style.PerceptualLoss`):
``test/style_match`` = 1 - style(y) / style(x): the share of the Gram distance to the style that the
network removes (0: the unchanged input, 1: the style's statistics exactly); ``test/content_kept`` =
1 - content(y) / content(s): how much closer the result's content features are to the input's than
those of the style image pasted in its place (1: the content unchanged, 0: no more content than the
style image itself).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.engine import step_generator
from zoo.errors import ZooError
from zoo.models.style_transfer import CARD
from zoo.models.style_transfer.config import StyleTransferConfig
from zoo.registry import DemoHook, ExportSpec, Predict, Preprocessing, TensorSpec, ZooModel, register
from zoo.tasks.base import StepModule

PHOTOS_LICENSE = "scikit-learn sample images china.jpg and flower.jpg (CC BY 2.0; see sklearn.datasets.load_sample_images)"
SPLIT_SEEDS = {"train": 11, "val": 12, "test": 13}


# -- the transformation network -----------------------------------------------------------------------------

class ConvLayer(nn.Sequential):
    """Reflection padding (no border artefacts) + convolution."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


def norm_relu(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels, affine=True), nn.ReLU()]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), *norm_relu(channels),
                                  ConvLayer(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def upsampling(cin: int, cout: int, mode: str) -> nn.Module:
    if mode == "transpose":
        return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), ConvLayer(cin, cout, 3))


class TransformNet(nn.Module):
    """forward(image in [0, 1]) -> stylized image in [0, 1] (same size; sides a multiple of 4)."""

    def __init__(self, width: int, res_blocks: int, upsample: str) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            ConvLayer(3, w, 9), *norm_relu(w),
            ConvLayer(w, 2 * w, 3, 2), *norm_relu(2 * w),
            ConvLayer(2 * w, 4 * w, 3, 2), *norm_relu(4 * w),
            *[ResidualBlock(4 * w) for _ in range(res_blocks)],
            upsampling(4 * w, 2 * w, upsample), *norm_relu(2 * w),
            upsampling(2 * w, w, upsample), *norm_relu(w),
            ConvLayer(w, 3, 9))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(image))


# -- content images ------------------------------------------------------------------------------------------

def sample_photos() -> list[np.ndarray]:
    """scikit-learn's two sample photos (H x W x 3 uint8), shipped with the package (no download)."""
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images)


def photo_crops(photos: list[np.ndarray], n: int, size: int, split: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` random square crops (side 25-100% of the region's short side) resized to ``size``; training crops
    from the left three quarters of each photo, validation/test crops from the right quarter."""
    from PIL import Image

    out = np.zeros((n, 3, size, size), np.float32)
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        x0, x1 = (0, w * 3 // 4) if split == "train" else (w * 3 // 4, w)
        side = int(rng.uniform(0.25, 1.0) * min(h, x1 - x0))
        left, top = int(rng.integers(x0, x1 - side + 1)), int(rng.integers(0, h - side + 1))
        crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((size, size), Image.Resampling.LANCZOS)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out[i] = np.asarray(crop, np.float32).transpose(2, 0, 1) / 255.0
    return out


def generated_scenes(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` simple generated scenes: a sky gradient over a ground band, with blocks and discs."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.zeros((n, 3, size, size), np.float32)
    for i in range(n):
        sky_top, sky_low, ground = rng.uniform(0, 1, (3, 3)).astype(np.float32)
        horizon = rng.uniform(0.45, 0.8)
        img = sky_top[:, None, None] * (1 - yy) + sky_low[:, None, None] * yy
        img = np.where(yy[None] > horizon, ground[:, None, None] * (0.7 + 0.3 * yy[None]), img)
        for _ in range(int(rng.integers(2, 6))):
            colour = rng.uniform(0, 1, 3).astype(np.float32)[:, None, None]
            if rng.random() < 0.5:
                x0, y0 = rng.uniform(0, 0.8, 2)
                mask = (xx >= x0) & (xx < x0 + rng.uniform(0.08, 0.3)) & (yy >= y0) & (yy < horizon + 0.05)
            else:
                cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2)
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            img = np.where(mask[None], colour, img)
        out[i] = img
    return out


class ContentImages:
    """The content images by split (N x 3 x S x S float32 in [0, 1])."""

    def __init__(self, splits: dict[str, np.ndarray], size: int) -> None:
        self.splits, self.size = splits, size

    def summary(self) -> dict[str, Any]:
        return {"data": "sample-photos", "license": PHOTOS_LICENSE, "image_size": self.size,
                **{split: len(x) for split, x in self.splits.items()},
                "note": "half random crops of the two photos (train: left 3/4 of each photo; val/test: right 1/4), half generated scenes"}


def load_content(images: int, size: int, seed: int) -> ContentImages:
    photos = sample_photos()
    held = max(2, images // 8)
    counts = {"train": images - 2 * held, "val": held, "test": held}
    splits = {}
    for split, n in counts.items():
        rng = np.random.default_rng([seed, SPLIT_SEEDS[split]])
        half = n // 2
        splits[split] = np.concatenate([photo_crops(photos, n - half, size, split, rng), generated_scenes(half, size, rng)])
    return ContentImages(splits, size)


# -- training ------------------------------------------------------------------------------------------------

class StyleStage(StepModule):
    """Minimises the perceptual loss of the stylized batch (random horizontal flips, epoch-shuffled batches);
    selects on the validation loss."""

    monitor = "val/loss"
    monitor_mode = "min"

    def __init__(self, model: TransformNet, task: StyleTransfer) -> None:
        super().__init__(model, task.config)
        self.task = task
        self.train_x = torch.from_numpy(task.data.splits["train"])
        self.val_x = torch.from_numpy(task.data.splits["val"])
        self.__dict__["loss_fn"] = task.loss_fn  # not a submodule: the fixed loss network is not saved with the run

    def on_fit_start(self) -> None:
        super().on_fit_start()
        self.loss_fn.to(self.device)

    def steps_per_epoch(self) -> int:
        return self.rows_steps(len(self.train_x))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        rank, _ = self.world()
        picked = self.batch_positions(len(self.train_x))[1]
        gen = step_generator(self.config.seed, self.global_step, rank)
        x = self.train_x[picked]
        flip = torch.rand(len(x), generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x).to(self.device)
        terms = self.loss_fn(self.model(x), x)
        loss = terms["total"].mean()
        self.log("train/loss", loss, prog_bar=True, batch_size=len(x))
        self.log("train/content", terms["content"].mean(), batch_size=len(x))
        self.log("train/style", terms["style"].mean(), batch_size=len(x))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x = self.val_x.to(self.device)
        with torch.no_grad():
            terms = self.loss_fn(self.model(x), x)
        self.log("val/loss", terms["total"].mean(), prog_bar=True, batch_size=len(x))
        self.log("val/style", terms["style"].mean(), batch_size=len(x))
        self.log("val/content", terms["content"].mean(), batch_size=len(x))


@register
class StyleTransfer(ZooModel):
    card = CARD
    Config = StyleTransferConfig
    config: StyleTransferConfig

    def build_model(self) -> TransformNet:
        torch.manual_seed(self.config.seed)
        cfg = self.config
        return TransformNet(cfg.width, cfg.res_blocks, cfg.upsample)

    def load_data(self) -> ContentImages:
        cfg = self.config
        if (cfg.data or self.default_data) != "sample-photos":
            raise ZooError(f"style-transfer trains on --data sample-photos (offline content images), not '{cfg.data}'.")
        return load_content(cfg.images, cfg.image_size, cfg.seed)

    def check_sources(self) -> None:
        self.style_image()  # a missing or unreadable --style file fails before anything is written

    # -- style and loss network --------------------------------------------------------------------------
    def style_image(self) -> torch.Tensor:
        """The style image, 3 x S x S in [0, 1]: the ``--style`` file (centre-cropped to a square and resized
        to image_size) or the procedural pattern."""
        from zoo import style

        s = self.config.image_size
        if not self.config.style:
            return torch.from_numpy(style.procedural_style(s, self.config.seed))
        from PIL import Image

        picture = style.read_image(self.config.style, "style")
        picture = picture.convert("RGB")
        side = min(picture.size)
        left, top = (picture.width - side) // 2, (picture.height - side) // 2
        picture = picture.crop((left, top, left + side, top + side)).resize((s, s), Image.Resampling.LANCZOS)
        return style.to_tensor(picture)

    @cached_property
    def loss_fn(self) -> Any:
        from zoo import style

        cfg = self.config
        net = style.feature_net(cfg.loss_backbone, cfg.loss_weights, seed=cfg.seed)
        layers = [name.strip() for name in cfg.style_layers.split(",") if name.strip()] or None
        return style.PerceptualLoss(net, self.style_image(), content_layer=cfg.content_layer, style_layers=layers,
                                    weights=style.LossWeights(cfg.content_weight, cfg.style_weight, cfg.tv_weight))

    # -- description -------------------------------------------------------------------------------------
    def image_spec(self, name: str, description: str) -> TensorSpec:
        s = self.config.image_size
        return TensorSpec(name, ("batch", 3, s, s), description=description, meaning="image")

    def inputs(self) -> list[TensorSpec]:
        return [self.image_spec("image", "content image, RGB pixel/255 (see preprocessing)")]

    def outputs(self) -> list[TensorSpec]:
        return [self.image_spec("stylized", "the stylized image, RGB in [0, 1] (x 255 for 8-bit pixels)")]

    def preprocessing(self) -> Preprocessing:
        s = self.config.image_size
        return Preprocessing(kind="image", size=(s, s), color="RGB", scale=1 / 255, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                             layout="NCHW", notes=f"RGB, resize to {s}x{s} (bilinear), x = pixel/255; the output is in [0, 1]")

    def export_spec(self) -> ExportSpec:
        # pixels in [0, 1]: 1e-3 is a quarter of an 8-bit level; instance norm over 16x16 maps of 64 channels
        # (the default) sums differently in onnxruntime and PyTorch (measured: 1.9e-4)
        return ExportSpec(atol=1e-3)

    def training_module(self, model: nn.Module) -> StyleStage:
        return StyleStage(model, self)  # type: ignore[arg-type]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        x = self.data.splits[split] if len(self.data.splits[split]) else self.data.splits["train"]
        return {"image": x[np.arange(n) % len(x)]}

    # -- evaluation ----------------------------------------------------------------------------------------
    def evaluate(self, predict: Predict) -> dict[str, float]:
        """style_match and content_kept (module docstring) on the held-out images, with the raw loss terms."""
        x = self.data.splits["test"]
        y = np.concatenate([predict({"image": x[i:i + 64]})[0] for i in range(0, len(x), 64)])
        scores = self.loss_fn.scores(torch.from_numpy(np.ascontiguousarray(y, np.float32)), torch.from_numpy(x), self.style_image())
        out = {f"test/{k}": float(v.double().mean()) for k, v in scores.items()}
        out["test/images"] = float(len(x))
        return out

    def eval_report(self, metrics: dict[str, float]) -> list[str]:
        if "test/style_match" not in metrics:
            return []
        return [f"style match {metrics['test/style_match']:.3f} (share of the Gram distance to the style removed; 0 = the "
                f"unchanged input), content kept {metrics['test/content_kept']:.3f} (1 = the input's content features, 0 = "
                "no closer than the style image itself)."]

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        """stylized.png: held-out content images (top row: photo crops, then generated scenes) above their stylized
        versions; style.png: the style."""
        from zoo import io as zio
        from zoo import style
        from zoo.tasks.generative import save_grid

        zio.write_json(run_dir / "splits.json", self.data.summary())
        test = self.data.splits["test"]
        x = torch.from_numpy(test[np.unique(np.linspace(0, len(test) - 1, 8).round().astype(int))])  # photo crops and scenes
        model = model.cpu().eval()
        with torch.no_grad():
            y = model(x)
        save_grid(np.concatenate([x.numpy(), y.numpy()]), run_dir / "stylized.png", len(x), scale=2)
        with zio.atomic_path(run_dir / "style.png") as tmp:
            style.to_picture(self.style_image()).save(tmp, format="png")

    def demo(self) -> DemoHook | None:
        source = f"the style image {Path(self.config.style).name}" if self.config.style else "a generated marbled pattern"
        return DemoHook(kind="stylizer", title=f"{self.name}: fast neural style transfer",
                        description=f"Upload a photo: one pass of the transformation network trained for {source} "
                                    f"(Johnson et al. 2016) repaints it at {self.config.image_size}x{self.config.image_size}.",
                        extra={"image_input": "image", "image_output": "stylized"})
