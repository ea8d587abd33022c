"""Run the ONNX backend node suite through the ONNX -> Keras converter.

The ``onnx`` wheel ships the node-test case definitions (``onnx.backend.test.case``) but not the
generated data folder. :func:`ensure_node_suite` writes the standard layout (``<case>/model.onnx``
and ``<case>/test_data_set_0/{input,output}_<i>.pb``) once per onnx version into a cache folder;
:func:`run_case` converts one single-node case and compares the Keras outputs (values, shape and
dtype) with the expected ones.

Inputs after the first are often weights or attributes-as-inputs (Conv's W, Reshape's shape, Clip's
bounds); when the converter refuses them as runtime tensors the case is retried with those inputs
promoted to constants (initializers), as a model exported from a framework would carry them.
"""

from __future__ import annotations

import os
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from zoo.errors import ZooError
from zoo.io import atomic_path

PASSED, WRONG, REFUSED, CRASHED = "passed", "wrong", "refused", "crashed"
_T = onnx.TensorProto
_FLOAT32_CASE_TYPES = {_T.FLOAT, _T.BOOL, _T.INT8, _T.INT16, _T.INT32, _T.INT64, _T.UINT8}


# Loads a .keras file with only keras and numpy imported and runs it on every array of an .npz file:
# python -c FRESH_PROCESS_SCRIPT model.keras inputs.npz outputs.npz
FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    model = keras.saving.load_model(sys.argv[1])
    data = np.load(sys.argv[2])
    out = {}
    for key in data.files:
        y = model(data[key], training=False)
        y = y[0] if isinstance(y, (list, tuple)) else y
        out[key] = keras.ops.convert_to_numpy(y)
    np.savez(sys.argv[3], **out)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "exporters", "onnx", "onnxruntime"))
    assert not leaked, leaked
    """
)


def default_cache_dir() -> Path:
    root = os.environ.get("ZOO_CACHE_DIR") or Path.home() / ".cache" / "zoo"
    return Path(root).expanduser() / f"onnx-node-tests-{onnx.__version__}"


def ensure_node_suite(cache_dir: Path | None = None) -> Path:
    """Generate the ONNX node-test data folder (once; atomic) and return it."""
    target = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if (target / "COMPLETE").exists():
        return target
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases(None)
    with atomic_path(target) as tmp:
        for case in cases:
            if case.model is None or not case.data_sets:
                continue
            folder = tmp / case.name
            folder.mkdir(parents=True)
            (folder / "model.onnx").write_bytes(case.model.SerializeToString())
            inputs, outputs = case.data_sets[0]
            data = folder / "test_data_set_0"
            data.mkdir()
            graph = case.model.graph
            if not _all_tensors(graph):
                continue  # sequence/optional/map cases: no tensor converter applies
            for prefix, values, infos in (("input", inputs, graph.input), ("output", outputs, graph.output)):
                for j, (value, info) in enumerate(zip(values, infos)):
                    proto = value if isinstance(value, onnx.TensorProto) else numpy_helper.from_array(
                        np.asarray(value), info.name
                    )
                    (data / f"{prefix}_{j}.pb").write_bytes(proto.SerializeToString())
            (folder / "tolerance.txt").write_text(f"{case.rtol} {case.atol}\n")
        (tmp / "COMPLETE").write_text(onnx.__version__ + "\n")
    return target


def _all_tensors(graph: onnx.GraphProto) -> bool:
    return all(v.type.HasField("tensor_type") for v in (*graph.input, *graph.output))


@dataclass(frozen=True)
class NodeCase:
    name: str
    folder: Path
    op_type: str

    def load(self) -> tuple[onnx.ModelProto, list[np.ndarray], list[np.ndarray], float, float]:
        model = onnx.load(str(self.folder / "model.onnx"))
        data = self.folder / "test_data_set_0"

        def read(prefix: str, n: int) -> list[np.ndarray]:
            arrays = []
            for j in range(n):
                proto = onnx.TensorProto()
                proto.ParseFromString((data / f"{prefix}_{j}.pb").read_bytes())
                arrays.append(numpy_helper.to_array(proto))
            return arrays

        rtol, atol = (float(v) for v in (self.folder / "tolerance.txt").read_text().split())
        return model, read("input", len(model.graph.input)), read("output", len(model.graph.output)), rtol, atol

    @property
    def is_float32(self) -> bool:
        """At least one output is float32 and every input/output is float32 or a standard int/bool type."""
        graph = onnx.load(str(self.folder / "model.onnx")).graph
        types = {v.type.tensor_type.elem_type for v in (*graph.input, *graph.output)}
        outputs = {v.type.tensor_type.elem_type for v in graph.output}
        return onnx.TensorProto.FLOAT in outputs and types <= _FLOAT32_CASE_TYPES


def node_cases(suite: Path, op_types: set[str] | None = None) -> Iterator[NodeCase]:
    """Single-node cases (not the ``_expanded`` function bodies) of the given ops, sorted by name."""
    for folder in sorted(p for p in suite.iterdir() if p.is_dir()):
        if not (folder / "tolerance.txt").exists():
            continue
        graph = onnx.load(str(folder / "model.onnx")).graph
        if len(graph.node) != 1 or graph.node[0].domain not in ("", "ai.onnx"):
            continue
        op_type = graph.node[0].op_type
        if op_types is None or op_type in op_types:
            yield NodeCase(folder.name, folder, op_type)


@dataclass(frozen=True)
class CaseResult:
    case: NodeCase
    status: str
    detail: str = ""
    promoted: bool = False


def _promote_inputs(model: onnx.ModelProto, inputs: list[np.ndarray]) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """Copy of ``model`` whose graph inputs after the first are initializers holding the case's values."""
    promoted = onnx.ModelProto()
    promoted.CopyFrom(model)
    graph = promoted.graph
    keep = [graph.input[0]]
    for info, value in zip(list(graph.input)[1:], inputs[1:]):
        graph.initializer.append(numpy_helper.from_array(value, info.name))
    del graph.input[:]
    graph.input.extend(keep)
    return promoted, inputs[:1]


def _compare(actual: list[np.ndarray], expected: list[np.ndarray], rtol: float, atol: float) -> str:
    """'' if equal within tolerance (and same dtype and shape), else what differs."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a.dtype != e.dtype:
            return f"output {i} has dtype {a.dtype}, expected {e.dtype}"
        if a.shape != e.shape:
            return f"output {i} has shape {a.shape}, expected {e.shape}"
        if e.dtype.kind in "fc":
            a64, e64 = a.astype(np.float64), e.astype(np.float64)
            same_nan = np.isnan(a64) == np.isnan(e64)
            close = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
            if not (same_nan.all() and close.all()):
                worst = float(np.nanmax(np.abs(a64 - e64))) if a.size else 0.0
                return f"output {i} differs (max abs diff {worst:.3g}, {int((~close).sum())} of {a.size} values)"
        elif not np.array_equal(a, e):
            return f"output {i} differs ({int((a != e).sum())} of {a.size} values)"
    return ""


def keras_outputs(keras_model: object, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from keras import ops

    result = keras_model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)  # type: ignore[operator]
    outputs = result if isinstance(result, (list, tuple)) else [result]
    return [np.asarray(ops.convert_to_numpy(o)) for o in outputs]


def run_case(case: NodeCase) -> CaseResult:
    """Convert one node case to Keras and compare; a refusal is a :class:`ZooError`."""
    from exporters.keras import onnx_to_keras

    model, inputs, expected, rtol, atol = case.load()
    attempts = [(model, inputs, False)]
    if len(inputs) > 1:
        attempts.append((*_promote_inputs(model, inputs), True))
    refusal = ""
    for candidate, feeds, promoted in attempts:
        try:
            keras_model = onnx_to_keras(candidate)
        except ZooError as error:
            refusal = str(error)
            continue
        except Exception as error:  # a converter bug: not a clean refusal
            return CaseResult(case, CRASHED, f"conversion raised {type(error).__name__}: {error}", promoted)
        try:
            actual = keras_outputs(keras_model, feeds)
        except Exception as error:
            return CaseResult(case, CRASHED, f"running the Keras model raised {type(error).__name__}: {error}", promoted)
        difference = _compare(actual, expected, rtol, atol)
        return CaseResult(case, WRONG if difference else PASSED, difference, promoted)
    return CaseResult(case, REFUSED, refusal, len(attempts) > 1)


def run_suite(suite: Path, op_types: set[str]) -> list[CaseResult]:
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [run_case(case) for case in node_cases(suite, op_types)]


def check_refusal(result: CaseResult) -> str:
    """'' if a refusal is a clean one-line error naming the op and its node, else what is wrong."""
    message = result.detail
    if "\n" in message.strip():
        return "the error spans several lines"
    if f"'{result.case.op_type}'" not in message:
        return "the error does not name the op"
    if "node '" not in message:
        return "the error does not name the node"
    return ""


__all__ = [
    "CRASHED",
    "FRESH_PROCESS_SCRIPT",
    "PASSED",
    "REFUSED",
    "WRONG",
    "CaseResult",
    "NodeCase",
    "ZooError",
    "check_refusal",
    "default_cache_dir",
    "ensure_node_suite",
    "node_cases",
    "run_case",
    "run_suite",
]
