"""The onnxruntime install: a CPU+GPU mix is refused with the fix; bench.json records the build."""

from __future__ import annotations

import pytest

from exporters.ort_install import build_info, check_single_install, installed_distributions
from zoo.errors import ZooError


def test_both_builds_installed_is_refused_with_the_fix() -> None:
    with pytest.raises(ZooError) as info:
        check_single_install({"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.32.0"})
    message = str(info.value)
    assert "\n" not in message and "only the CPU provider" in message
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu" in message


def test_one_build_is_accepted_and_this_environment_has_one() -> None:
    check_single_install({"onnxruntime-gpu": "1.32.0"})
    check_single_install({"onnxruntime": "1.32.0"})
    assert len(installed_distributions()) == 1, installed_distributions()
    check_single_install()


def test_build_info_names_version_and_providers() -> None:
    import onnxruntime as ort

    info = build_info()
    assert info["version"] == ort.__version__
    assert info["providers"] == ort.get_available_providers() and "CPUExecutionProvider" in info["providers"]
    assert set(info["distributions"]) <= {"onnxruntime", "onnxruntime-gpu"}
    assert {"cuda_version", "cudnn_version", "build"} <= set(info)
