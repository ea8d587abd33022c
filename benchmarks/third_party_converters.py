"""The third-party comparison of docs/CONVERTER.md: onnx2keras, onnx2tf and nobuco on resnet18 and a
2-layer TransformerEncoder (random weights), judged by whether they write a file Keras 3 loads.

They need TensorFlow, which zoo does not depend on, so they run in a THROWAWAY virtual environment
outside the repository (never a project dependency); nobuco also needs torch, which that venv takes
from the project's venv through a .pth file appended after its own site-packages:

    python -m venv /tmp/tpvenv
    /tmp/tpvenv/bin/pip install tensorflow-cpu onnx onnxruntime sty tqdm rich
    /tmp/tpvenv/bin/pip install --no-deps onnx2keras onnx2tf nobuco "tf-keras~=2.21.0"
    /tmp/tpvenv/bin/pip install onnx-graphsurgeon sne4onnx sng4onnx psutil ai-edge-litert opencv-python-headless
    echo /work/main/.venv/lib/python3.11/site-packages > /tmp/tpvenv/lib/python3.11/site-packages/zoo_torch.pth
    KERAS_BACKEND=torch python benchmarks/third_party_converters.py --tf-python /tmp/tpvenv/bin/python

This process (the project's venv) exports the models to ONNX and computes onnxruntime's outputs; each
converter runs in the TensorFlow venv (one subprocess per converter and model, its error kept as
one line); each file it writes is loaded in a fresh project-venv process with keras on the torch
backend and compared with onnxruntime. Results go to benchmarks/results/third_party_converters.json,
which benchmarks/converter_tables.py renders into docs/CONVERTER.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "results" / "third_party_converters.json"
MODELS = ("resnet18", "transformer_encoder")
CONVERTERS = ("onnx2keras", "onnx2tf", "nobuco")

NOTE = """onnx2keras, onnx2tf and nobuco need TensorFlow, which zoo does not depend on; they were installed from
PyPI into a throwaway venv outside the repository and run by `benchmarks/third_party_converters.py`
(commands in its docstring) on the ONNX files (torch.onnx dynamo, opset 20, dynamic batch; nobuco on
the torch modules) of resnet18 and the 2-layer TransformerEncoder of the table above, random weights,
one thread. A written file is loaded with `keras.saving.load_model` in a fresh process on the torch
backend and run at batch 2 against onnxruntime. Each failure is its first error line. None of them
gave a file Keras 3 loads: nobuco 0.17 imports Keras 2 internals (`keras.src.engine`), absent from
the Keras 3 that TensorFlow 2.16+ ships; onnx2tf saves through tf_keras (Keras 2)."""

# Runs in the TensorFlow venv: argv = converter, model name, work dir; prints one JSON line.
CONVERT_SCRIPT = r'''
import json, os, sys, traceback, warnings
warnings.simplefilter("ignore")
converter, name, work = sys.argv[1], sys.argv[2], sys.argv[3]
onnx_path, target = os.path.join(work, name + ".onnx"), os.path.join(work, f"{name}.{converter}.keras")
result = {}
try:
    import tensorflow as tf
    result["tensorflow"] = tf.__version__
    result["tf_keras"] = tf.keras.__version__ if hasattr(tf.keras, "__version__") else "?"
    if converter == "onnx2keras":
        import onnx
        from onnx2keras import onnx_to_keras
        model = onnx_to_keras(onnx.load(onnx_path), ["x"])
        model.save(target)
    elif converter == "onnx2tf":
        import onnx2tf
        folder = os.path.join(work, f"{name}.onnx2tf")
        onnx2tf.convert(input_onnx_file_path=onnx_path, output_folder_path=folder, output_keras_v3=True,
                        non_verbose=True)
        made = [f for f in os.listdir(folder) if f.endswith(".keras")]
        if not made:
            raise RuntimeError(f"no .keras file written (folder holds {sorted(os.listdir(folder))})")
        os.replace(os.path.join(folder, made[0]), target)
    elif converter == "nobuco":
        import nobuco, torch
        from nobuco import ChannelOrder
        module = torch.load(os.path.join(work, name + ".pt"), weights_only=False)  # our own file, just written
        sample = torch.zeros(json.load(open(os.path.join(work, name + ".json")))["sample_shape"])
        model = nobuco.pytorch_to_keras(module, args=[sample], inputs_channel_order=ChannelOrder.PYTORCH,
                                        outputs_channel_order=ChannelOrder.PYTORCH)
        model.save(target)
    result["file"] = target
except BaseException as exc:
    lines = [l for l in (str(exc) or type(exc).__name__).splitlines() if l.strip()]
    result["error"] = f"{type(exc).__name__}: {lines[0][:220] if lines else ''}"
print("RESULT " + json.dumps(result))
'''

# Runs in a fresh project-venv process: argv = .keras file, inputs .npz, reference .npz; prints JSON.
LOAD_SCRIPT = r'''
import json, sys
import numpy as np
import keras
result = {}
try:
    model = keras.saving.load_model(sys.argv[1])
    inputs, reference = np.load(sys.argv[2]), np.load(sys.argv[3])
    worst = 0.0
    for key in inputs.files:
        got = np.asarray(keras.ops.convert_to_numpy(model(inputs[key])))
        worst = max(worst, float(np.abs(got.reshape(reference[key].shape) - reference[key]).max()))
    result["max_abs_diff"] = worst
except BaseException as exc:
    lines = [l for l in (str(exc) or type(exc).__name__).splitlines() if l.strip()]
    result["load_error"] = f"{type(exc).__name__}: {lines[0][:220] if lines else ''}"
print("RESULT " + json.dumps(result))
'''


def _export(name: str, work: Path) -> None:
    """ONNX file (dynamic batch), the torch module (for nobuco), inputs and onnxruntime's outputs."""
    import warnings

    import numpy as np
    import onnxruntime as ort
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from converter_tables import _torch_model

    model, shape = _torch_model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, *shape),), str(work / f"{name}.onnx"), dynamo=True, input_names=["x"],
                          output_names=["y"], dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
                          external_data=False, verbose=False)
    torch.save(model, work / f"{name}.pt")
    (work / f"{name}.json").write_text(json.dumps({"sample_shape": [2, *shape]}))
    rng = np.random.default_rng(0)
    inputs = {"b2": rng.standard_normal((2, *shape)).astype(np.float32)}
    session = ort.InferenceSession(str(work / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    np.savez(work / f"{name}.inputs.npz", **inputs)
    np.savez(work / f"{name}.reference.npz", **{k: session.run(None, {"x": v})[0] for k, v in inputs.items()})


def _result_line(stdout: str, stderr: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = [line for line in stderr.splitlines() if line.strip()]
    return {"error": "crashed: " + (tail[-1][:220] if tail else "no output")}


def measure(tf_python: str, name: str, converter: str, work: Path) -> dict:
    threads = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
               "CUDA_VISIBLE_DEVICES": ""}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")} | threads
    start = time.perf_counter()
    done = subprocess.run([tf_python, "-c", CONVERT_SCRIPT, converter, name, str(work)], capture_output=True,
                          text=True, env=env, timeout=900)
    row = {"model": name, "converter": converter, **_result_line(done.stdout, done.stderr),
           "seconds": round(time.perf_counter() - start, 1)}
    if "file" in row:
        loaded = subprocess.run(
            [sys.executable, "-c", LOAD_SCRIPT, row["file"], str(work / f"{name}.inputs.npz"),
             str(work / f"{name}.reference.npz")],
            capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "torch", **threads}, timeout=900,
        )
        row |= _result_line(loaded.stdout, loaded.stderr)
        row["file"] = Path(row["file"]).name
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tf-python", required=True, help="python of the throwaway venv that has TensorFlow")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--converters", nargs="*", default=list(CONVERTERS))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    cached = json.loads(CACHE.read_text()) if CACHE.exists() else {"rows": {}}
    cached["note"] = NOTE
    with tempfile.TemporaryDirectory(prefix="zoo-third-party-") as tmp:
        from zoo.io import write_json

        for name in args.models:
            _export(name, Path(tmp))
            for converter in args.converters:
                print(f"{converter} on {name} ...", flush=True)
                row = measure(args.tf_python, name, converter, Path(tmp))
                print(json.dumps(row), flush=True)
                cached["rows"][f"{converter}/{name}"] = row
                write_json(CACHE, cached)


if __name__ == "__main__":
    main()
