"""Every listed backbone, built for transfer (new head, 1- or 3-channel input), exports to ONNX and
converts to Keras 3 with parity, and the .keras files reload in a fresh process that imports only keras.
BatchNorm statistics are first estimated on real images (random-init networks otherwise collapse to
near-constant outputs, which would make parity meaningless)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo import registry
from zoo.backbones import BACKBONES

# Tolerance relative to the largest output. float32 noise of these deep nets with calibrated BatchNorm
# is ~1e-4 of the output scale in every runtime: onnxruntime itself is 8.8e-5 (resnet50) and 7.7e-5
# (inception_v3) away from PyTorch, Keras 7.2e-5 and 8.3e-5 away from onnxruntime.
RELATIVE = 2e-4

KERAS_RELOAD = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, keras
assert "zoo" not in sys.modules and "exporters" not in sys.modules
folder = sys.argv[1]
for name in sorted(f for f in os.listdir(folder) if f.endswith(".keras")):
    data = np.load(os.path.join(folder, name[:-6] + ".npz"))
    model = keras.saving.load_model(os.path.join(folder, name))
    out = keras.ops.convert_to_numpy(model(data["x"]))
    scale = max(1.0, float(np.abs(data["ref"]).max()))
    err = float(np.abs(out - data["ref"]).max())
    assert err <= 2e-4 * scale, (name, err, scale)
    print(name, err)
"""


def calibrated(name: str, index: int):
    info = BACKBONES[name]
    size = 64 if info.family == "timm" else max(32, info.min_size)  # timm resnet18 collapses to 1x1 maps at 32 px
    spec = registry.create("transfer", {"backbone": name, "image_size": size, "color": "RGB" if index % 2 else "L"})
    model = spec.build_model()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(spec.example_inputs(64, split="train")["image"]))
    return spec, model.eval()


@pytest.fixture(scope="module")
def keras_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backbone-keras")


@pytest.mark.parametrize("index, name", list(enumerate(BACKBONES)))
def test_backbone_exports_to_onnx_and_keras_with_parity(index: int, name: str, keras_folder: Path) -> None:
    import onnxruntime as ort

    from exporters.keras import onnx_to_keras, save_keras
    from exporters.onnx import build_onnx

    spec, model = calibrated(name, index)
    x = spec.example_inputs(7)["image"]
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert ref.std(axis=0).max() > 1e-3, "outputs must depend on the input for parity to mean anything"
    proto = build_onnx(spec, model)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    scale = max(1.0, float(np.abs(ref).max()))
    for batch in (1, 7):
        out = session.run(None, {"image": x[:batch]})[0]
        assert np.abs(out - ref[:batch]).max() <= RELATIVE * scale, (name, batch)
    keras_model = onnx_to_keras(proto)
    save_keras(keras_model, keras_folder / f"{index:02d}-{name.replace(':', '_')}.keras")
    np.savez(keras_folder / f"{index:02d}-{name.replace(':', '_')}.npz", x=x, ref=ref)


def test_keras_backbones_reload_without_zoo(keras_folder: Path) -> None:
    files = list(keras_folder.glob("*.keras"))
    assert len(files) == len(BACKBONES), "run with the export tests (they write the files)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", KERAS_RELOAD, str(keras_folder)], capture_output=True, text=True,
                         env=env, cwd=keras_folder, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(out.stdout.strip().splitlines()) == len(BACKBONES)
