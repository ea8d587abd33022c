"""The ONNX backend node suite through the ONNX -> Keras converter.

The suite is generated from the case definitions the ``onnx`` wheel ships (``onnx.backend.test.case``)
into pytest's cache once per onnx version; every single-node case of every op the converter claims is
converted and run. A wrong result (value, shape or dtype) fails; a refusal must be a one-line error
naming the op and the node.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

os.environ.setdefault("KERAS_BACKEND", "torch")

from exporters.keras_conformance import (  # noqa: E402
    CRASHED,
    PASSED,
    REFUSED,
    WRONG,
    CaseResult,
    check_refusal,
    ensure_node_suite,
    node_cases,
    run_case,
    run_suite,
)
from exporters.keras_ops import OP_CONVERTERS  # noqa: E402

FLOAT32_PASS_RATE = 0.90


@pytest.fixture(scope="module")
def suite(request: pytest.FixtureRequest) -> Path:
    cache = request.config.cache
    root = cache.mkdir(f"onnx-node-tests-{onnx.__version__}") if cache else Path.home() / ".cache" / "zoo"
    return ensure_node_suite(root / "suite")


@pytest.fixture(scope="module")
def results(suite: Path) -> dict[str, list[CaseResult]]:
    by_op: dict[str, list[CaseResult]] = collections.defaultdict(list)
    for result in run_suite(suite, set(OP_CONVERTERS)):
        by_op[result.case.op_type].append(result)
    return by_op


def test_suite_has_the_standard_layout(suite: Path) -> None:
    case = suite / "test_relu"
    assert (case / "model.onnx").is_file()
    assert (case / "test_data_set_0" / "input_0.pb").is_file()
    assert (case / "test_data_set_0" / "output_0.pb").is_file()
    assert len([p for p in suite.iterdir() if p.is_dir()]) > 1000


@pytest.mark.parametrize("op_type", sorted(OP_CONVERTERS))
def test_op_gives_no_wrong_result_and_refuses_cleanly(results: dict[str, list[CaseResult]], op_type: str) -> None:
    cases = results.get(op_type, [])
    wrong = [f"{r.case.name}: {r.detail}" for r in cases if r.status in (WRONG, CRASHED)]
    assert not wrong, "\n".join(wrong)
    unclean = [f"{r.case.name}: {problem}: {r.detail}" for r in cases if r.status == REFUSED
               for problem in [check_refusal(r)] if problem]
    assert not unclean, "\n".join(unclean)


def test_float32_cases_mostly_pass(results: dict[str, list[CaseResult]]) -> None:
    float32 = [r for rs in results.values() for r in rs if r.case.is_float32]
    passed = sum(r.status == PASSED for r in float32)
    assert len(float32) > 300
    refused = sorted(f"{r.case.name}: {r.detail}" for r in float32 if r.status != PASSED)
    assert passed / len(float32) >= FLOAT32_PASS_RATE, (
        f"{passed}/{len(float32)} float32 cases pass; refused:\n" + "\n".join(refused)
    )


def test_most_claimed_ops_are_exercised(results: dict[str, list[CaseResult]]) -> None:
    exercised = {op for op, rs in results.items() if any(r.status == PASSED for r in rs)}
    missing = set(OP_CONVERTERS) - exercised
    # the suite's sequence cases have sequence-typed graph I/O (no Keras equivalent); its only Constant
    # case has no inputs, and Range/ConstantOfShape cases take scalars/shape vectors as the graph input,
    # which a Keras model cannot (tests/test_keras_converter_regressions.py covers them in real graphs)
    assert missing <= {"SplitToSequence", "SequenceAt", "Constant", "Range", "ConstantOfShape"}, sorted(missing)


def test_a_wrong_converter_is_caught(suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness compares values: a Neg converter that returns its input must be reported wrong."""
    monkeypatch.setitem(OP_CONVERTERS, "Neg", lambda ctx: ctx.tensor(0))
    (case,) = [c for c in node_cases(suite, {"Neg"}) if c.name == "test_neg"]
    assert run_case(case).status == WRONG


def test_a_wrong_dtype_is_caught(suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keras import ops

    from exporters.keras_ops import Tensor

    monkeypatch.setitem(OP_CONVERTERS, "Abs", lambda ctx: Tensor(ops.cast(ops.abs(ctx.tensor(0).value), "float64"),
                                                               ctx.tensor(0).perm))
    monkeypatch.setattr("exporters.keras.keep_dtype", lambda ctx, value, expected: value)
    (case,) = [c for c in node_cases(suite, {"Abs"}) if c.name == "test_abs"]
    result = run_case(case)
    assert result.status == WRONG and "dtype" in result.detail


def test_weights_passed_as_inputs_are_promoted_to_constants(suite: Path) -> None:
    (case,) = [c for c in node_cases(suite, {"Conv"}) if c.name == "test_basic_conv_with_padding"]
    result = run_case(case)
    assert result.status == PASSED and result.promoted


def test_unsupported_attribute_is_a_one_line_refusal_naming_it() -> None:
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], storage_order=1)],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, 3, 3])],
        ),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    from exporters.keras import onnx_to_keras
    from zoo.errors import ZooError

    with pytest.raises(ZooError) as info:
        onnx_to_keras(model)
    message = str(info.value)
    assert "\n" not in message and "'MaxPool'" in message and "'pool'" in message and "storage_order" in message
