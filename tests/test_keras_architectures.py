"""Small torchvision architectures (random weights, 64x64 inputs) through torch -> ONNX -> Keras with a
dynamic batch, reloaded in a fresh process that imports only keras, compared with onnxruntime.

The full table (17 architectures at their native sizes, plus a TransformerEncoder) is produced by
benchmarks/converter_tables.py and published in docs/CONVERTER.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from exporters.keras_conformance import FRESH_PROCESS_SCRIPT as FRESH  # noqa: E402
from exporters.keras import onnx_to_keras, save_keras  # noqa: E402

# mobilenet_v3_small, resnet, efficientnet, squeezenet and googlenet go the same way (plus a fresh-process
# reload) in tests/test_backbones.py as zoo backbones; shufflenet is not one.
MODELS = ["shufflenet_v2_x0_5"]


@pytest.mark.parametrize("name", MODELS)
def test_architecture_converts_reloads_alone_and_matches_onnxruntime(name: str, tmp_path: Path) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    onnx_path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 3, 64, 64),), str(onnx_path), dynamo=True, input_names=["x"],
                          output_names=["y"], dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
                          verbose=False)
    keras_path = save_keras(onnx_to_keras(onnx.load(str(onnx_path))), tmp_path / f"{name}.keras")
    rng = np.random.default_rng(0)
    feeds = {f"b{b}": rng.standard_normal((b, 3, 64, 64)).astype(np.float32) for b in (1, 5)}
    np.savez(tmp_path / "inputs.npz", **feeds)
    done = subprocess.run([sys.executable, "-c", FRESH, str(keras_path), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(tmp_path / "out.npz")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for key, x in feeds.items():
        (expected,) = session.run(None, {"x": x})
        assert got[key].shape == expected.shape == (x.shape[0], 1000)
        assert np.abs(got[key] - expected).max() <= 1e-4
