"""Small picture helpers (numpy + PIL): colour maps, tiles with captions, grids, overlays, contact sheets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

BACKGROUND = (255, 255, 255)
CAPTION_HEIGHT = 14
GAP = 4


def normalise(values: np.ndarray) -> np.ndarray:
    """Values rescaled to [0, 1] (a constant map becomes 0)."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def colour(values: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """A 2-D map with values in [0, 1] -> (H, W, 3) uint8 through a matplotlib colour map."""
    from matplotlib import colormaps

    rgba = colormaps[cmap](np.clip(values, 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def enlarge(image: Image.Image, min_side: int, resample: Image.Resampling = Image.Resampling.NEAREST) -> Image.Image:
    """``image`` scaled up by a whole factor so its shorter side is at least ``min_side`` pixels."""
    factor = max(1, -(-min_side // max(1, min(image.size))))
    return image.resize((image.width * factor, image.height * factor), resample) if factor > 1 else image


def caption(image: Image.Image, text: str) -> Image.Image:
    """``image`` with one line of ``text`` above it."""
    canvas = Image.new("RGB", (max(image.width, 6 * len(text) + 4), image.height + CAPTION_HEIGHT), BACKGROUND)
    ImageDraw.Draw(canvas).text((2, 1), text, fill=(0, 0, 0))
    canvas.paste(image.convert("RGB"), (0, CAPTION_HEIGHT))
    return canvas


def grid(tiles: Sequence[Image.Image], columns: int) -> Image.Image:
    """Tiles (any sizes) in rows of ``columns``, each cell as large as the largest tile."""
    if not tiles:
        raise ValueError("grid of no tiles")
    cell_w, cell_h = max(t.width for t in tiles), max(t.height for t in tiles)
    rows = -(-len(tiles) // columns)
    cols = min(columns, len(tiles))
    sheet = Image.new("RGB", (cols * (cell_w + GAP) - GAP, rows * (cell_h + GAP) - GAP), BACKGROUND)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet.paste(tile.convert("RGB"), (c * (cell_w + GAP), r * (cell_h + GAP)))
    return sheet


def stack(parts: Sequence[Image.Image]) -> Image.Image:
    """Pictures one below the other, left-aligned."""
    width = max(p.width for p in parts)
    sheet = Image.new("RGB", (width, sum(p.height for p in parts) + GAP * (len(parts) - 1)), BACKGROUND)
    y = 0
    for p in parts:
        sheet.paste(p.convert("RGB"), (0, y))
        y += p.height + GAP
    return sheet


def overlay(image: Image.Image, heat: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """``heat`` (H, W) in [0, 1], at the image's size, blended over ``image`` with the 'jet' colour map."""
    base = np.asarray(image.convert("RGB"), dtype=np.float64)
    hot = colour(heat, "jet").astype(np.float64)
    return Image.fromarray(((1 - alpha) * base + alpha * hot).round().astype(np.uint8), "RGB")
