"""``Predict`` adapters for exported files: onnxruntime sessions and Keras models.

A ``Predict`` takes named numpy inputs and returns the outputs (float32 numpy arrays) in the
model's output order, so ``spec.evaluate`` and the parity checks run unchanged on any runtime.
Both adapters feed large inputs in chunks, and a graph with a fixed batch axis row-block by row-block.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import ZooError, first_line

if TYPE_CHECKING:
    import onnxruntime as ort

    from zoo.registry import Predict

DEFAULT_CHUNK = 256
# onnxruntime 1.32's NCHWc layout transformer (level "all") crashes the process (SIGSEGV) while creating a
# session for some float16 graphs (char-rnn's step graph); it only serves float32 convolutions, so fp16
# sessions go without it.
FP16_DISABLED_OPTIMIZERS = ("NchwcTransformer",)


def onnx_session(path: str | Path, providers: list[str] | None = None,
                 session_options: ort.SessionOptions | None = None, *,
                 disabled_optimizers: tuple[str, ...] = ()) -> ort.InferenceSession:
    """An onnxruntime session for ``path``; unreadable or unsupported graphs become a ZooError."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"{path} does not exist; pass an .onnx file written by `zoo export`.")
    options = session_options or ort.SessionOptions()
    if session_options is None:
        options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"],
                                    disabled_optimizers=list(disabled_optimizers))
    except Exception as exc:  # onnxruntime raises pybind Fail/InvalidGraph/InvalidProtobuf/NotImplemented
        raise ZooError(f"onnxruntime cannot load {path} ({first_line(exc)}); the file is corrupt, truncated "
                       "or uses an op this onnxruntime lacks: re-export it with `zoo export`.") from None


def onnx_predictor(path: str | Path, providers: list[str] | None = None,
                   session_options: ort.SessionOptions | None = None, *, chunk: int = DEFAULT_CHUNK,
                   disabled_optimizers: tuple[str, ...] = ()) -> Predict:
    """A ``Predict`` running the ONNX file at ``path`` on onnxruntime (CPU unless ``providers`` says otherwise)."""
    session = onnx_session(path, providers, session_options, disabled_optimizers=disabled_optimizers)
    graph_inputs = session.get_inputs()
    fixed = [i.shape[0] for i in graph_inputs if i.shape and isinstance(i.shape[0], int)]
    rows = fixed[0] if fixed else chunk
    dtypes = {i.name: _ort_numpy_dtype(i.type) for i in graph_inputs}

    def predict(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        absent = [name for name in dtypes if name not in inputs]
        if absent:
            raise ZooError(f"{Path(path).name} needs input(s) {absent}, got {sorted(inputs)}.")
        feeds = {name: np.asarray(inputs[name], dtype=dtypes[name]) for name in dtypes}
        return _in_chunks(lambda part: session.run(None, part), feeds, rows)

    return predict


def keras_predictor(path: str | Path, *, chunk: int = DEFAULT_CHUNK) -> Predict:
    """A ``Predict`` running the ``.keras`` file at ``path`` (loaded with default ``safe_mode``)."""
    model = load_keras(path)
    names = [t.name.split(":")[0] for t in model.inputs]

    def predict(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        ordered = _match_keras_inputs(names, inputs, Path(path).name)

        def run(part: dict[str, np.ndarray]) -> list[np.ndarray]:
            args = [part[n] for n in names]
            out = model.predict_on_batch(args[0] if len(args) == 1 else args)
            return list(out) if isinstance(out, (list, tuple)) else [out]

        return _in_chunks(run, ordered, chunk)

    return predict


def load_keras(path: str | Path) -> Any:
    """``keras.saving.load_model`` with safe_mode on; failures (custom layers, corrupt zip) become a ZooError."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"{path} does not exist; pass a .keras file written by `zoo export --to keras`.")
    if path.suffix != ".keras":
        raise ZooError(f"{path} is not a .keras file; Keras models are loaded from the Keras 3 '.keras' format.")
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises TypeError/ValueError/zipfile errors for unknown layers or bad files
        detail = first_line(exc)
        hint = ("it uses a custom layer or function zoo does not load (only built-in Keras layers are allowed)"
                if any(w in detail for w in ("Could not locate", "custom", "Unknown", "deserializ", "safe_mode"))
                else "it is corrupt or not a Keras 3 file")
        raise ZooError(f"Keras cannot load {path}: {hint} ({detail}).") from None


def _match_keras_inputs(names: list[str], inputs: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Inputs keyed by the Keras input-layer names (which are the ONNX names, sanitised)."""
    if all(n in inputs for n in names):
        return {n: np.asarray(inputs[n]) for n in names}
    if len(inputs) == len(names):  # sanitised names differ from the spec's: fall back to order
        return {n: np.asarray(v) for n, v in zip(names, inputs.values())}
    raise ZooError(f"{where} takes input(s) {names}, got {sorted(inputs)}.")


def _in_chunks(run: Any, feeds: dict[str, np.ndarray], rows: int) -> list[np.ndarray]:
    n = len(next(iter(feeds.values())))
    parts: list[list[np.ndarray]] = []
    for start in range(0, max(n, 1), rows):
        part = {k: v[start:start + rows] for k, v in feeds.items()}
        parts.append([_float32(np.asarray(o)) for o in run(part)])
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


def _float32(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype in (np.float16, np.float64) else array


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
              "tensor(int8)": np.int8, "tensor(bool)": np.bool_}


def _ort_numpy_dtype(ort_type: str) -> Any:
    return _ORT_TYPES.get(ort_type, np.float32)
