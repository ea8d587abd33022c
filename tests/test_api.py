"""The Python API: light `import zoo`, list/create/load/predict, torch.hub, and the README example run as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from zoo.errors import ZooError

ROOT = Path(__file__).resolve().parents[1]


def test_import_zoo_does_not_import_torch() -> None:
    code = "import sys, zoo; zoo.list_models(); assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_create_model_and_torch_hub() -> None:
    import torch

    assert "siamese" in zoo.list_models()
    net = zoo.create_model("siamese", embedding_dim=16, image_size=24, channels=[4, 8])
    assert isinstance(net, torch.nn.Module)
    hub_net = torch.hub.load(str(ROOT), "siamese", source="local", embedding_dim=16, image_size=24, channels=[4, 8])
    assert sum(p.numel() for p in hub_net.parameters()) == sum(p.numel() for p in net.parameters())


def test_load_predict_matches_the_predictor(siamese_run: Path) -> None:
    import numpy as np

    model = zoo.load(str(siamese_run))
    inputs = model.spec.example_inputs(3)
    outputs = model.predict(inputs)
    expected = model.predictor()({k: np.asarray(v) for k, v in inputs.items()})
    assert len(outputs) == len(expected) and all(np.allclose(a, b) for a, b in zip(outputs, expected))
    assert outputs[0].shape[0] == 3
    with pytest.raises(ZooError, match="needs input"):
        model.predict({})


def test_readme_python_example_runs(siamese_run: Path, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shutil.copytree(siamese_run, tmp_path / "runs" / "siamese" / "run")
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "siamese" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("prediction:"))
    assert re.search(r"\[-?\d", line), line
