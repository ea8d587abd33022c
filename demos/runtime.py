"""The model behind a demo: an onnxruntime session loaded once, requests batched across users, outputs read
by the meaning the metadata document gives them.

Torch-free and zoo-free (copied into generated Spaces): numpy and onnxruntime only. The zoo side may hand
:class:`DemoModel` any ``Predict`` (named numpy inputs -> outputs), e.g. PyTorch for ``--backend torch``.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Predict = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
METADATA_KEY = "zoo"  # metadata_props key of the config document in every ONNX file zoo writes


@dataclass
class DemoModel:
    """Everything a UI builder needs: the model's document (inputs, outputs, preprocessing, labels), its
    ``DemoHook`` as a dict (kind, title, description, examples, extra), a batched ``predict`` and example inputs."""

    name: str
    document: dict[str, Any]
    hook: dict[str, Any]
    predict: Predict
    examples: dict[str, Any] = field(default_factory=dict)
    backend: str = "onnxruntime"
    # image path -> (picture, sentence): Grad-CAM, given by the zoo side only when PyTorch weights are served
    explain: Callable[[Any], tuple[np.ndarray, str]] | None = None

    @property
    def kind(self) -> str:
        return str(self.hook["kind"])

    @property
    def preprocessing(self) -> dict[str, Any]:
        return self.document.get("preprocessing") or {}

    @property
    def input_names(self) -> list[str]:
        return [t["name"] for t in self.document["inputs"]]

    @property
    def title(self) -> str:
        return self.hook.get("title") or self.name


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``path``; ``threads`` caps intra-op threads (None: onnxruntime's choice)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def read_document(session: Any) -> dict[str, Any]:
    """The zoo config document stored in the ONNX file's metadata (model, config, inputs, outputs, ...)."""
    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise ValueError("this ONNX file has no zoo metadata; export it with `zoo export` first.")
    return json.loads(meta[METADATA_KEY])


def session_predict(session: Any) -> Predict:
    """A ``Predict`` over an onnxruntime session; a graph with a fixed batch axis is fed that many rows at a time."""
    graph_inputs = session.get_inputs()
    fixed = [i.shape[0] for i in graph_inputs if i.shape and isinstance(i.shape[0], int)]
    rows_per_run = fixed[0] if fixed else None
    names = [i.name for i in graph_inputs]
    dtypes = {i.name: input_dtype(i.type) for i in graph_inputs}

    def predict(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        feeds = {n: np.ascontiguousarray(inputs[n], dtype=dtypes[n]) for n in names}
        if rows_per_run is None:
            return [np.asarray(o) for o in session.run(None, feeds)]
        total = len(feeds[names[0]])
        parts = [session.run(None, {n: v[s:s + rows_per_run] for n, v in feeds.items()})
                 for s in range(0, total, rows_per_run)]
        return [np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(parts[0]))]

    return predict


# onnxruntime's type names of graph inputs -> numpy dtypes (token ids are int64, images float32, ...)
INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
                "tensor(int8)": np.int8, "tensor(bool)": np.bool_}


def input_dtype(ort_type: str) -> Any:
    """The numpy dtype a graph input of onnxruntime type ``ort_type`` must be fed as."""
    if ort_type not in INPUT_DTYPES:
        raise ValueError(f"the model takes an input of type {ort_type}, which the demo cannot feed; export it with float or integer inputs.")
    return INPUT_DTYPES[ort_type]


class BatchingPredict:
    """Runs ``predict`` for many threads at once: requests that arrive while the model is busy are stacked
    along the batch axis (up to ``max_rows`` rows) and run as one call, then split back per request.

    Used instead of Gradio's ``batch=True``: there, one request whose input fails makes the whole batch fail,
    so one user's corrupt upload would answer other users' requests with an error. Here each request is
    checked on its own thread first and only valid arrays are batched. A lone request waits for nothing.
    """

    def __init__(self, predict: Predict, max_rows: int = 64) -> None:
        self._predict = predict
        self.max_rows = max_rows
        self._requests: queue.Queue[_Request] = queue.Queue()
        self.calls = 0  # model calls made, for tests and benchmarks (rows / calls = mean batch)
        self.rows = 0
        threading.Thread(target=self._serve, name="zoo-demo-batcher", daemon=True).start()

    def __call__(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = _Request(inputs)
        self._requests.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.outputs is not None
        return request.outputs

    def _serve(self) -> None:
        while True:
            batch = [self._requests.get()]
            rows = batch[0].rows
            while rows < self.max_rows:
                try:
                    nxt = self._requests.get_nowait()
                except queue.Empty:
                    break
                batch.append(nxt)
                rows += nxt.rows
            self._run(batch)

    def _run(self, batch: list[_Request]) -> None:
        try:
            names = list(batch[0].inputs)
            stacked = {n: np.concatenate([r.inputs[n] for r in batch]) for n in names} if len(batch) > 1 else batch[0].inputs
            outputs = self._predict(stacked)
            self.calls += 1
            self.rows += sum(r.rows for r in batch)
            start = 0
            for request in batch:
                request.outputs = [o[start:start + request.rows] for o in outputs]
                start += request.rows
                request.done.set()
        except Exception as exc:  # noqa: BLE001 - isolate the failing request, answer the others
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done.set()
                return
            for request in batch:
                self._run([request])


class _Request:
    def __init__(self, inputs: dict[str, np.ndarray]) -> None:
        self.inputs = inputs
        self.rows = len(next(iter(inputs.values())))
        self.outputs: list[np.ndarray] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


# -- reading outputs ------------------------------------------------------------------------------------

def class_probabilities(values: np.ndarray, meaning: str | None) -> np.ndarray:
    """(n, k) scores -> (n, k) probabilities: softmax for logits, as is for probabilities; a single
    probability or logit column becomes the two classes (1 - p, p)."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    if values.shape[1] == 1:
        p = _sigmoid(values[:, 0]) if meaning == "logits" else values[:, 0]
        return np.stack([1 - p, p], axis=1)
    if meaning == "logits":
        shifted = values - values.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)
    return values


def match_probability(values: np.ndarray, meaning: str | None) -> np.ndarray:
    """(n, 1) outputs of a pair model -> (n,) probability that the pair matches."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)[:, 0]
    return _sigmoid(values) if meaning == "logits" else values


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def class_names(document: dict[str, Any], count: int) -> list[str]:
    labels = document.get("labels") or []
    return [str(x) for x in labels] if len(labels) == count else [f"class {i}" for i in range(count)]
