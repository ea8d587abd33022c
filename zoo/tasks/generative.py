"""Image generation: what every generative image model shares (data, pixel range, baselines, pictures, demo).

A model of this kind subclasses :class:`GenerativeImageTask`: it reuses the image-classification
data pipeline (named data sets or ``imagefolder:PATH``, seeded stratified splits; the labels only
stratify the splits and, for GANs, train the scoring classifier) but keeps pixels in [0, 1] with
ink = 1, which is what a Bernoulli decoder or a sigmoid generator models. The task gives the
per-pixel mean image of the training split as the baseline every score is compared with, picture
grids saved next to a run, seeded latent draws, and the ``image-generator`` demo (latent sliders,
"generate" from a seed and, for models with an encoder, "encode my drawing").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.registry import Preprocessing, TensorSpec
from zoo.tasks.image_classification import ImageClassificationTask

# Data sets of dark characters on light paper (stored with ink = 1): a consumer's drawing is inverted.
CHARACTER_SETS = ("digits", "mnist", "omniglot", "omniglot-minimal")
EVAL_SEED = 4321  # latent and noise draws of the held-out evaluation


class GenerativeImageTask(ImageClassificationTask):
    """Base of image generators: pixels in [0, 1], no class outputs, latent draws, grids and baselines."""

    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (0.0,) * self.in_channels(), (1.0,) * self.in_channels()

    def labels(self) -> list[str] | None:
        return None

    def character_data(self) -> bool:
        from zoo import data as datasets

        return datasets.resolve_name(self.config.data or self.default_data)[0] in CHARACTER_SETS

    def preprocessing(self) -> Preprocessing:
        s = self.config.image_size
        invert = self.character_data()
        return Preprocessing(kind="image", size=(s, s), color=self.color(), scale=1 / 255, invert=invert,
                             mean=(0.0,) * self.in_channels(), std=(1.0,) * self.in_channels(), layout="NCHW",
                             notes=f"{self.color()}, resize to {s}x{s} (bilinear), x = pixel/255"
                                   + (", then 1 - x (dark ink on light paper becomes ink = 1)" if invert else ""))

    def image_spec(self, name: str, description: str) -> TensorSpec:
        s, c = self.config.image_size, self.in_channels()
        return TensorSpec(name, ("batch", c, s, s), description=description, meaning="image")

    def latent_spec(self) -> TensorSpec:
        return TensorSpec("latent", ("batch", self.config.latent_dim),
                          description=f"a point of the {self.config.latent_dim}-D latent space (the prior is N(0, I))")

    # -- data helpers --------------------------------------------------------------------------------
    def split_images(self, split: str) -> torch.Tensor:
        rows = self.data.splits[split] if len(self.data.splits[split]) else self.data.splits["train"]
        return self.data.images[rows]

    def mean_image(self) -> np.ndarray:
        """The per-pixel mean of the training split: the baseline 'model' that ignores its input."""
        return self.split_images("train").mean(0).numpy()

    def latent_draw(self, n: int, seed: int) -> np.ndarray:
        """``n`` seeded draws from the N(0, I) prior."""
        return np.random.default_rng([seed, 7]).standard_normal((n, self.config.latent_dim)).astype(np.float32)

    def pick_rows(self, n: int, split: str) -> np.ndarray:
        rows = self.data.splits[split] if len(self.data.splits[split]) else self.data.splits["train"]
        return np.resize(rows, max(n, 1))[:n]

    def write_splits(self, run_dir: Path) -> None:
        from zoo import io as zio

        zio.write_json(run_dir / "splits.json", self.data.summary())

    def latent_grid_points(self) -> np.ndarray:
        """grid x grid latent points on the prior's quantiles (5%..95%) of the first two dimensions, the
        rest 0 (for a 1-D code: one row)."""
        from statistics import NormalDist

        g, k = self.config.grid, self.config.latent_dim
        ticks = np.asarray([NormalDist().inv_cdf(q) for q in np.linspace(0.05, 0.95, g)], dtype=np.float32)
        if k == 1:
            return ticks[:, None]
        points = np.zeros((g * g, k), dtype=np.float32)
        for i, y in enumerate(ticks[::-1]):  # the top row is high on dimension 2
            for j, x in enumerate(ticks):
                points[i * g + j, :2] = (x, y)
        return points


def save_grid(images: np.ndarray, out: Path, columns: int, *, scale: int = 3, pad: int = 1) -> Path:
    """N, C, H, W images in [0, 1] (ink = 1) -> one PNG grid of ``columns`` per row, dark ink on white paper
    for grey images, each image enlarged ``scale`` times with sharp pixels."""
    from PIL import Image

    from zoo import io as zio

    images = np.clip(np.asarray(images, dtype=np.float32), 0, 1)
    n, c, h, w = images.shape
    rows = -(-n // columns)
    sheet = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, c), dtype=np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        tile = image.transpose(1, 2, 0)
        sheet[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = (
            1 - tile if c == 1 else tile)
    pixels = (sheet * 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels[:, :, 0], "L") if c == 1 else Image.fromarray(pixels, "RGB")
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    with zio.atomic_path(out) as tmp:
        picture.save(tmp, format="png")
    return out


def demo_extra(latent_dim: int, *, generated_output: str, encode: dict[str, str] | None = None,
               sliders: int = 8) -> dict[str, Any]:
    """The ``extra`` of an ``image-generator`` DemoHook: which input takes the latent point, which output is
    the generated image, how many sliders (the first dimensions) and, optionally, how to encode a drawing."""
    extra: dict[str, Any] = {"latent_input": "latent", "generated_output": generated_output,
                             "latent_dim": latent_dim, "sliders": min(sliders, latent_dim), "slider_range": 3.0}
    if encode:
        extra["encode"] = encode
    return extra
