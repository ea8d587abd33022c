"""Raw inputs -> the model's input tensors, with the same code the demos use (``demos.inputs``), so
``zoo.load(...).predict(image_or_rows)`` and the Gradio demo see identical arrays.

Accepted per input tensor: the tensor itself (a float array whose shape matches the model's, with or without
the batch axis), or raw data the model's :class:`zoo.registry.Preprocessing` describes:

- ``kind == "image"``: a PIL image, an image file path, an 8-bit (H, W) / (H, W, C) numpy image, or a list of them;
- ``kind == "tabular"``: one row (a list of numbers or a dict feature -> value), a list of rows, a 2-D array,
  a pandas DataFrame (columns named like the features) or a CSV file path whose header names the features.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.registry import TensorSpec, ZooModel


def to_feeds(spec: ZooModel, inputs: Any) -> dict[str, np.ndarray]:
    """``inputs`` (a dict input name -> value, or one value for a single-input model) -> batched float feeds."""
    tensors = spec.inputs()
    if not isinstance(inputs, dict):
        if len(tensors) != 1:
            raise ZooError(f"{spec.name} takes {len(tensors)} inputs ({', '.join(t.name for t in tensors)}); pass a dict "
                           "input name -> value.")
        inputs = {tensors[0].name: inputs}
    missing = [t.name for t in tensors if t.name not in inputs]
    if missing:
        raise ZooError(f"{spec.name}.predict() needs input(s) {missing}; got {sorted(inputs)}.")
    return {t.name: _tensor(spec, t, inputs[t.name]) for t in tensors}


def _tensor(spec: ZooModel, tensor: TensorSpec, value: Any) -> np.ndarray:
    from demos.inputs import InputError

    item_shape = tuple(tensor.shape[1:])  # the shape of one example (the batch axis first)
    if _is_tensor(value, item_shape):
        array = np.asarray(value, dtype=tensor.dtype)
        return array if array.ndim == len(item_shape) + 1 else array[None]
    kind = spec.preprocessing().kind
    try:
        if kind == "image":
            return _images(value, spec.preprocessing().to_dict(), tensor)
        if kind == "tabular":
            return _rows(value, feature_names(spec, item_shape))
    except InputError as exc:
        raise ZooError(f"{spec.name}.predict(), input '{tensor.name}': {exc}") from None
    raise ZooError(f"{spec.name}.predict() input '{tensor.name}' must be an array of shape (batch, "
                   f"{', '.join(map(str, item_shape))}); this model has no raw-input preprocessing.")


def _is_tensor(value: Any, item_shape: tuple[Any, ...]) -> bool:
    """A float (or already-batched numeric) array whose trailing shape is the model's example shape."""
    if not isinstance(value, np.ndarray) or value.dtype == np.uint8 or value.ndim not in (len(item_shape), len(item_shape) + 1):
        return False
    trailing = value.shape[-len(item_shape):] if item_shape else ()
    return all(not isinstance(want, int) or want == got for want, got in zip(item_shape, trailing))


def _images(value: Any, preprocessing: dict[str, Any], tensor: TensorSpec) -> np.ndarray:
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ZooError(f"input '{tensor.name}': an empty list; pass one image or a list of images.")
    return np.stack([_image_array(item, preprocessing) for item in items]).astype(tensor.dtype, copy=False)


def _image_array(item: Any, preprocessing: dict[str, Any]) -> np.ndarray:
    from PIL import Image

    from demos.inputs import InputError, _flatten, image_to_array, load_image

    if isinstance(item, (str, Path)):
        image = load_image(item)
    elif isinstance(item, Image.Image):
        image = _flatten(item)
    elif isinstance(item, np.ndarray) and item.ndim in (2, 3):
        pixels = item if item.dtype == np.uint8 else np.clip(np.rint(item), 0, 255).astype(np.uint8)
        image = _flatten(Image.fromarray(pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels))
    else:
        raise InputError(f"{type(item).__name__} is not an image; pass a PIL image, an image file path or an 8-bit "
                         "(H, W) / (H, W, C) numpy array.")
    return image_to_array(image, preprocessing)


def feature_names(spec: ZooModel, item_shape: tuple[Any, ...]) -> list[str]:
    """The tabular model's feature names (as the demo finds them), else x1..xn."""
    count = int(item_shape[-1]) if item_shape and isinstance(item_shape[-1], int) else 0
    hook = spec.demo()
    for names in ((hook.extra.get("feature_names") if hook else None), getattr(spec.config, "feature_names", None)):
        if names and len(names) == count:
            return [str(n) for n in names]
    return [f"x{i + 1}" for i in range(count)]


def _rows(value: Any, names: list[str]) -> np.ndarray:
    from demos.inputs import parse_rows, read_csv_rows

    if isinstance(value, (str, Path)):
        return read_csv_rows(value, names)
    if hasattr(value, "columns") and hasattr(value, "values"):  # a pandas DataFrame: columns by name when named so
        if all(n in list(value.columns) for n in names):
            value = value[names]
        return parse_rows(value.values.tolist(), names)
    if isinstance(value, dict):
        value = [value]
    rows = value.tolist() if isinstance(value, np.ndarray) else list(value)
    if rows and not isinstance(rows[0], (list, tuple, dict, np.ndarray)):
        rows = [rows]  # one row
    rows = [[r.get(n, "") for n in names] if isinstance(r, dict) else list(r) for r in rows]
    return parse_rows(rows, names, what="rows")
