"""Checked decoding of user inputs and the model's preprocessing, driven by the ONNX metadata document.

Torch-free and zoo-free (copied into generated Spaces): numpy and Pillow only. Every refusal is an
:class:`InputError` whose text is shown to the user as is.
"""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_FILE_BYTES = 20 * 1024 * 1024  # larger uploads are refused before anything is decoded
MAX_PIXELS = 25_000_000  # width x height, checked from the header before the pixels are decoded
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")  # JPEG covers multi-picture (MPO) files
MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_ROWS = 1000


class InputError(ValueError):
    """An input the demo refuses; ``str(error)`` names the problem and what to send instead."""


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def load_image(path: str | Path | bytes | None, what: str = "image") -> Image.Image:
    """The image at ``path`` (or in the bytes ``path``) as an "L" or "RGB" PIL image (transparency
    flattened onto white, 16-bit and float grey rescaled to 8 bits).

    The one image decoder of zoo: the demos and the training data (``zoo.data.images.decode_image``) both
    use it, so a served model sees the inputs it learned from. Refuses, with an :class:`InputError`, a
    missing input, a file over :data:`MAX_FILE_BYTES`, a file that is not a PNG/JPEG/BMP/GIF/TIFF/WEBP
    image, more than :data:`MAX_PIXELS` pixels (read from the header, so a decompression bomb is never
    decoded) and truncated or corrupt image data.
    """
    if path is None or (not isinstance(path, bytes) and str(path) == ""):
        raise InputError(f"{what}: nothing was given; upload, capture or draw an image first.")
    if isinstance(path, bytes):
        size, source, name = len(path), io.BytesIO(path), what
    else:
        path = Path(path)
        source, name = path, path.name
        try:
            size = os.path.getsize(path)
        except OSError:
            raise InputError(f"{what}: the uploaded file is gone; upload it again.") from None
    if size > MAX_FILE_BYTES:
        raise InputError(f"{what}: the file is {_megabytes(size)}; the limit is {_megabytes(MAX_FILE_BYTES)}, send a smaller image.")
    if size == 0:
        raise InputError(f"{what}: the file is empty; upload a PNG or JPEG image.")
    Image.init()  # registers every format plugin, so `formats=` below can name TIFF and WEBP
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source, formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{what}: the image has too many pixels; the limit is {MAX_PIXELS:,}, resize it first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InputError(f"{what}: '{name}' is not an image file; upload a PNG, JPEG, BMP, GIF, TIFF or WEBP image.") from None
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise InputError(f"{what}: the image is {width}x{height} pixels; the limit is {MAX_PIXELS:,} pixels, resize it first.")
        if width == 0 or height == 0:
            raise InputError(f"{what}: the image has no pixels; upload a real image.")
        try:
            image.seek(0)  # animated GIF/WEBP/TIFF: the first frame
            image.load()
            return _flatten(image)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
            raise InputError(f"{what}: the image data is truncated or corrupt; upload the file again or another image.") from None


def _flatten(image: Image.Image) -> Image.Image:
    """Any PIL mode -> "L" or "RGB": alpha composited onto white (a transparent sketch is ink on paper),
    CMYK/YCbCr/LAB/HSV/palette -> RGB, 16/32-bit and float grayscale rescaled to 8 bits."""
    if image.mode in ("1", "L", "RGB"):
        return image.convert("L") if image.mode == "1" else image.copy()
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image.convert("F") if image.mode != "F" else image, dtype=np.float64)
        top = float(np.nanmax(values)) if values.size else 0.0
        scale = 255.0 / top if top > 255 else 1.0
        return Image.fromarray(np.clip(np.nan_to_num(values) * scale, 0, 255).astype(np.uint8), "L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return image.convert("RGB")


def image_to_array(image: Image.Image, preprocessing: dict[str, Any]) -> np.ndarray:
    """One decoded image -> the model's input array (no batch axis), as the document's preprocessing says:
    color mode, bilinear resize to ``size`` (H, W), ``x * scale``, ``1 - x`` if ``invert``, ``(x - mean) / std``,
    channels first for layout NCHW. Same order as the training data pipeline (convert, resize, scale)."""
    color = preprocessing.get("color")
    if color:
        image = image.convert(color)
    size = preprocessing.get("size")
    if size:
        height, width = int(size[0]), int(size[1])
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
    x = np.asarray(image, dtype=np.float32) * np.float32(preprocessing.get("scale", 1.0))
    if preprocessing.get("invert"):
        x = 1.0 - x
    if x.ndim == 2:
        x = x[:, :, None]
    mean, std = preprocessing.get("mean") or (), preprocessing.get("std") or ()
    if mean:
        x = x - np.asarray(mean, dtype=np.float32)
    if std:
        x = x / np.asarray(std, dtype=np.float32)
    layout = (preprocessing.get("layout") or "NCHW").upper()
    if layout == "NCHW":
        x = np.transpose(x, (2, 0, 1))
    return np.ascontiguousarray(x, dtype=np.float32)


def array_to_image(x: np.ndarray, preprocessing: dict[str, Any]) -> Image.Image:
    """The inverse of :func:`image_to_array`: a model input (no batch axis) back to a viewable 8-bit image."""
    x = np.asarray(x, dtype=np.float32)
    if (preprocessing.get("layout") or "NCHW").upper() == "NCHW":
        x = np.transpose(x, (1, 2, 0))
    mean, std = preprocessing.get("mean") or (), preprocessing.get("std") or ()
    if std:
        x = x * np.asarray(std, dtype=np.float32)
    if mean:
        x = x + np.asarray(mean, dtype=np.float32)
    if preprocessing.get("invert"):
        x = 1.0 - x
    x = x / np.float32(preprocessing.get("scale", 1.0) or 1.0)
    pixels = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[:, :, 0], "L") if pixels.shape[2] == 1 else Image.fromarray(pixels[:, :, :3], "RGB")


# -- tabular rows -----------------------------------------------------------------------------------

def parse_rows(rows: Any, feature_names: list[str], what: str = "table") -> np.ndarray:
    """Rows typed into a table (a list of lists in ``feature_names`` order) -> float32 (n, n_features).
    Blank rows are dropped; a blank, non-numeric or non-finite cell is refused with its row and column."""
    if rows is None:
        raise InputError(f"{what}: no values; type a row of {len(feature_names)} numbers or upload a CSV file.")
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    table = [list(r) for r in rows if any(str(v).strip() not in ("", "None", "nan") for v in r)]
    if not table:
        raise InputError(f"{what}: no values; type a row of {len(feature_names)} numbers or upload a CSV file.")
    if len(table) > MAX_ROWS:
        raise InputError(f"{what}: {len(table)} rows; the limit is {MAX_ROWS}, send fewer rows.")
    out = np.empty((len(table), len(feature_names)), dtype=np.float32)
    for i, row in enumerate(table, 1):
        if len(row) != len(feature_names):
            raise InputError(f"{what}: row {i} has {len(row)} values, the model needs {len(feature_names)} ({', '.join(feature_names[:5])}...).")
        for j, value in enumerate(row):
            out[i - 1, j] = _number(value, f"{what}: row {i}, column '{feature_names[j]}'")
    return out


def _number(value: Any, where: str) -> float:
    text = str(value).strip()
    if text in ("", "None", "nan", "NaN", "NA"):
        raise InputError(f"{where} is empty; fill every value (missing values are not imputed by the model).")
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"{where} is '{text[:20]}', not a number; use plain numbers such as 1.5 or -3e2.") from None
    if not math.isfinite(number):
        raise InputError(f"{where} is {text}; use finite numbers.")
    return number


def read_csv_rows(path: str | Path | None, feature_names: list[str]) -> np.ndarray:
    """A CSV file with a header naming the features (any order; extra columns such as a label are ignored)
    -> float32 (n, n_features) in ``feature_names`` order."""
    if path is None:
        raise InputError("CSV: no file; upload a .csv file whose header names the features.")
    path = Path(path)
    size = os.path.getsize(path)
    if size > MAX_CSV_BYTES:
        raise InputError(f"CSV: the file is {_megabytes(size)}; the limit is {_megabytes(MAX_CSV_BYTES)}, send fewer rows.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        header, *body = list(csv.reader(io.StringIO(text)))
    except (UnicodeDecodeError, csv.Error, ValueError):
        raise InputError(f"CSV: '{path.name}' is not a UTF-8 CSV file; export the table as CSV (comma-separated) and upload that.") from None
    columns = [c.strip() for c in header]
    missing = [f for f in feature_names if f not in columns]
    if missing:
        raise InputError(f"CSV: the header lacks column(s) {', '.join(missing[:5])}; the first line must name the "
                         f"{len(feature_names)} features ({', '.join(feature_names[:5])}...).")
    order = [columns.index(f) for f in feature_names]
    rows = [[row[k] if k < len(row) else "" for k in order] for row in body if any(c.strip() for c in row)]
    return parse_rows(rows, feature_names, what="CSV")
