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
    shutil.copytree(ROOT / "demos" / "assets", tmp_path / "demos" / "assets")  # as in a clone's root
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "siamese" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("prediction:"))
    assert re.search(r"\[-?\d", line), line
    raw = next(line for line in result.stdout.splitlines() if line.startswith("same character:"))
    assert re.fullmatch(r"same character: \[-?[\d.e-]+\]", raw), raw


def test_predict_on_raw_images_applies_the_demo_preprocessing(siamese_run: Path, tmp_path: Path) -> None:
    """Held-out tensors -> PNG files (as the demo's examples are written) -> predict(paths / PIL / uint8 arrays)
    gives the same outputs as predict(tensors): the raw path inverts exactly what the data pipeline did."""
    import numpy as np
    from PIL import Image

    from demos.inputs import array_to_image

    model = zoo.load(str(siamese_run))
    tensors = model.spec.example_inputs(3)
    pre = model.spec.preprocessing().to_dict()
    paths = {name: [] for name in tensors}
    for name, batch in tensors.items():
        for i, x in enumerate(batch):
            path = tmp_path / f"{name}-{i}.png"
            array_to_image(x, pre).save(path)
            paths[name].append(str(path))
    expected = model.predict(tensors)[0]
    assert np.allclose(model.predict(paths)[0], expected, atol=1e-5)
    pil = {name: [Image.open(p) for p in files] for name, files in paths.items()}
    assert np.allclose(model.predict(pil)[0], expected, atol=1e-5)
    pixels = {name: [np.asarray(Image.open(p)) for p in files] for name, files in paths.items()}
    assert np.allclose(model.predict(pixels)[0], expected, atol=1e-5)
    big = Image.open(ROOT / "demos" / "assets" / "omniglot-greek-alpha-1.png")  # 105x105: resized like the demo
    one = model.predict({"left": big, "right": str(ROOT / "demos" / "assets" / "omniglot-greek-alpha-2.png")})[0]
    assert one.shape[0] == 1 and np.isfinite(one).all()
    with pytest.raises(ZooError, match="input 'left'.*not an image") as info:
        model.predict({"left": 3.5, "right": big})
    assert "\n" not in str(info.value)


def test_predict_on_raw_rows_of_a_tabular_model(tiny_run, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from zoo.preprocess import feature_names

    model = zoo.load(str(tiny_run("mlp-heads")))
    rows = model.spec.example_inputs(4)
    (name, batch), = rows.items()
    names = feature_names(model.spec, tuple(model.spec.inputs()[0].shape[1:]))
    expected = model.predict(batch)[0]
    table = batch.tolist()
    assert np.allclose(model.predict(table)[0], expected, atol=1e-6)
    assert np.allclose(model.predict([dict(zip(names, r)) for r in table])[0], expected, atol=1e-6)
    frame = pd.DataFrame(table, columns=names)[list(reversed(names))]  # columns found by name, not position
    assert np.allclose(model.predict(frame)[0], expected, atol=1e-6)
    csv = tmp_path / "rows.csv"
    frame.assign(label="x").to_csv(csv, index=False)
    assert np.allclose(model.predict(str(csv))[0], expected, atol=1e-6)
    assert np.allclose(model.predict(table[0])[0], expected[:1], atol=1e-6)  # one row
    with pytest.raises(ZooError, match=re.escape(f"column '{names[1]}' is 'abc', not a number")):
        model.predict([[table[0][0], "abc", *table[0][2:]]])
