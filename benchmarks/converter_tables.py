"""Regenerate docs/CONVERTER.md: the ONNX -> Keras converter's op table (ONNX node-suite counts per op)
and its architecture table (torchvision models with random weights and a TransformerEncoder).

    KERAS_BACKEND=torch python benchmarks/converter_tables.py            # both tables (architectures: slow)
    KERAS_BACKEND=torch python benchmarks/converter_tables.py --ops-only # op table only (seconds)

Per architecture: export with torch.onnx (dynamo, dynamic batch), convert, save the .keras file, reload
it in a fresh process that imports only keras and numpy, run batches 1 and 3, compare with onnxruntime
(max abs diff, and max diff relative to |reference| on outputs above 1e2), then Keras -> ONNX again
(exporters.keras_onnx) and compare that with onnxruntime too. Measured figures are cached in
benchmarks/results/converter_architectures.json so the doc can be re-rendered without re-measuring.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "CONVERTER.md"
CACHE = ROOT / "benchmarks" / "results" / "converter_architectures.json"

ARCHITECTURES = [
    "resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_0",
    "googlenet", "inception_v3", "vgg11", "alexnet", "densenet121", "shufflenet_v2_x1_0", "mnasnet1_0",
    "regnet_y_400mf", "convnext_tiny", "swin_t", "vit_b_16", "transformer_encoder",
]

def _torch_model(name: str):  # noqa: ANN202
    import torch
    import torchvision
    from torch import nn

    torch.manual_seed(0)
    if name == "transformer_encoder":
        layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True, dropout=0.0)
        return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval(), (16, 64)
    kwargs = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():  # random BN statistics; heads torchvision zero-initialises get noise
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
        for p in model.parameters():
            if p.numel() > 1 and float(p.std()) == 0.0:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
    size = 299 if name == "inception_v3" else 224
    return model, (3, size, size)


# Keras -> ONNX takes 20-70 s per model on 2 cores: by default only for the architectures it was broken on
ROUND_TRIP = {"convnext_tiny", "swin_t", "vit_b_16", "transformer_encoder", "resnet18"}


def measure(name: str, work: Path, round_trip: bool) -> dict:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    from exporters.keras import onnx_to_keras, save_keras
    from exporters.keras_conformance import FRESH_PROCESS_SCRIPT as FRESH
    from exporters.keras_onnx import keras_to_onnx

    model, shape = _torch_model(name)
    row: dict = {"model": name, "params": sum(p.numel() for p in model.parameters()), "input": list(shape)}
    onnx_path = work / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, *shape),), str(onnx_path), dynamo=True, input_names=["x"],
                          output_names=["y"], dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
                          verbose=False)
    row["onnx_mb"] = sum(p.stat().st_size for p in work.glob(f"{name}.onnx*")) / 2**20  # + external .data
    try:
        start = time.perf_counter()
        keras_model = onnx_to_keras(onnx.load(str(onnx_path)))
        row["convert_s"] = time.perf_counter() - start
        keras_path = save_keras(keras_model, work / f"{name}.keras")
        row["keras_mb"] = keras_path.stat().st_size / 2**20
    except Exception as error:  # recorded in the table, not hidden
        row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        return row
    rng = np.random.default_rng(0)
    feeds = {f"b{b}": rng.standard_normal((b, *shape)).astype(np.float32) for b in (1, 3)}
    np.savez(work / "inputs.npz", **feeds)
    done = subprocess.run([sys.executable, "-c", FRESH, str(keras_path), str(work / "inputs.npz"), str(work / "out.npz")],
                          capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "torch"})
    if done.returncode:
        row["error"] = "fresh-process reload failed: " + done.stderr.strip().splitlines()[-1][:200]
        return row
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = np.load(work / "out.npz")
    reference = {k: session.run(None, {"x": v})[0] for k, v in feeds.items()}
    row["max_abs_diff"], row["max_rel_diff_above_1e2"] = _diffs(got, reference)
    if not round_trip:
        return row
    try:
        start = time.perf_counter()
        proto = keras_to_onnx(keras_model)
        onnx.checker.check_model(proto, full_check=True)
        row["to_onnx_s"] = time.perf_counter() - start
        again = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        name_in = proto.graph.input[0].name
        row["round_trip_max_abs_diff"] = _diffs({k: again.run(None, {name_in: v})[0] for k, v in feeds.items()},
                                                reference)[0]
    except Exception as error:
        row["round_trip_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
    return row


def _diffs(got, reference) -> tuple[float, float]:  # noqa: ANN001
    import numpy as np

    worst_abs, worst_rel = 0.0, 0.0
    for key, ref in reference.items():
        diff = np.abs(np.asarray(got[key], dtype=np.float64) - ref)
        worst_abs = max(worst_abs, float(diff.max()))
        big = np.abs(ref) > 1e2
        if big.any():
            worst_rel = max(worst_rel, float((diff[big] / np.abs(ref[big])).max()))
    return worst_abs, worst_rel


def op_table() -> tuple[list[str], dict]:
    from exporters.keras_conformance import PASSED, REFUSED, WRONG, ensure_node_suite, run_suite
    from exporters.keras_ops import OP_CONVERTERS

    results = run_suite(ensure_node_suite(), set(OP_CONVERTERS))
    by_op: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        by_op[r.case.op_type][r.status] += 1
        if r.case.is_float32:
            by_op[r.case.op_type]["f32_" + r.status] += 1
    lines = ["| op | cases | passed | refused | wrong | float32 passed |", "|---|---:|---:|---:|---:|---:|"]
    for op in sorted(OP_CONVERTERS):
        c = by_op.get(op, collections.Counter())
        total = sum(c[s] for s in (PASSED, REFUSED, WRONG, "crashed"))
        f32 = sum(c["f32_" + s] for s in (PASSED, REFUSED, WRONG, "crashed"))
        lines.append(f"| {op} | {total} | {c[PASSED]} | {c[REFUSED]} | {c[WRONG] + c['crashed']} | "
                     f"{c['f32_' + PASSED]}/{f32} |")
    totals = collections.Counter(r.status for r in results)
    f32 = [r for r in results if r.case.is_float32]
    summary = {"ops": len(OP_CONVERTERS), "cases": len(results), **totals,
               "float32": len(f32), "float32_passed": sum(r.status == PASSED for r in f32),
               "refusals": sorted({r.detail for r in results if r.status == REFUSED})}
    return lines, summary


def arch_table(rows: list[dict]) -> list[str]:
    lines = ["| model | params (M) | input | convert (s) | ONNX MB | .keras MB | max abs diff | max rel diff on outputs above 1e2 | "
             "Keras->ONNX (s) | round-trip max abs diff |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['params'] / 1e6:.1f} | {tuple(r['input'])} | refused: {r['error']} "
                         "| | | | | | |")
            continue
        rt = (f"{r['round_trip_max_abs_diff']:.1e}" if "round_trip_max_abs_diff" in r
              else f"fails: {r['round_trip_error']}" if "round_trip_error" in r else "not run")
        to_onnx = f"{r['to_onnx_s']:.1f}" if "to_onnx_s" in r else ""
        lines.append(
            f"| {r['model']} | {r['params'] / 1e6:.1f} | {tuple(r['input'])} | {r['convert_s']:.1f} | "
            f"{r['onnx_mb']:.1f} | {r['keras_mb']:.1f} | {r['max_abs_diff']:.1e} | {r['max_rel_diff_above_1e2']:.1e} | "
            f"{to_onnx} | {rt} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops-only", action="store_true", help="re-measure the op table only; reuse cached rows")
    parser.add_argument("--models", nargs="*", default=None, help="architectures to (re)measure")
    parser.add_argument("--skip-measured", action="store_true", help="measure only models not in the cache")
    parser.add_argument("--round-trip-all", action="store_true", help="Keras -> ONNX for every model")
    args = parser.parse_args()
    cached = json.loads(CACHE.read_text()) if CACHE.exists() else {"rows": {}}
    if not args.ops_only:
        with tempfile.TemporaryDirectory(prefix="zoo-converter-bench-") as tmp:
            from zoo.io import write_json

            cached["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
            for name in args.models or ARCHITECTURES:
                if args.skip_measured and name in cached["rows"]:
                    continue
                work = Path(tmp) / name
                work.mkdir()
                print(f"measuring {name} ...", flush=True)
                cached["rows"][name] = measure(name, work, args.round_trip_all or name in ROUND_TRIP)
                print(json.dumps(cached["rows"][name]), flush=True)
                write_json(CACHE, cached)  # after each model: an interrupted run keeps what it measured
    ops_lines, summary = op_table()
    rows = [cached["rows"][n] for n in ARCHITECTURES if n in cached["rows"]]
    render(ops_lines, summary, rows, cached.get("machine", "?"))


def render(ops_lines: list[str], summary: dict, rows: list[dict], machine: str) -> None:
    import keras
    import onnx
    import torch

    from zoo.io import write_text

    refusals = "\n".join(f"- {line}" for line in summary["refusals"])
    text = f"""# ONNX -> Keras 3 converter

`exporters/keras.py` converts an ONNX graph to a Keras 3 functional model of built-in layers and
`keras.ops` calls (torch backend), which loads with `keras.saving.load_model` alone. Op converters live
in `exporters/keras_ops/`, one module per op family (activations, elementwise, conv, norm, linear,
recurrent, shape, reduce, resize, symbolic, constants), each registering its ops with `register_all({{...}})`.

Recurrent ops (`exporters/keras_ops/recurrent.py`) become real Keras `LSTM`/`GRU`/`SimpleRNN` layers with
their weights (ONNX LSTM gates `iofc` reordered to Keras `ifco`; GRU `linear_before_reset=1`, what
PyTorch exports, is `reset_after=True`, and 0 is `reset_after=False`); `reverse` is a `go_backwards`
layer flipped back, `bidirectional` a `keras.layers.Bidirectional`; `layout`, initial states and
`sequence_lens` (a Keras mask) are handled, and batch and time stay dynamic. Refused, naming the
attribute: `clip`, `input_forget`, peepholes (`P`), parametrised or Keras-less activations. Token models
(embedding + stacked/bidirectional `nn.LSTM`/`nn.GRU`) are checked end to end, reloaded in a fresh
process, at sequence lengths 1, 7, 64 and batches 1, 7 in `tests/test_recurrent_export.py`. Export
recurrent models batch-first: in our tests torch 2.14's dynamo exporter wrote time-major
(`batch_first=False`) stacks, and a 2-layer LSTM feeding a bidirectional GRU, with a `Reshape` frozen to
the example's length (onnxruntime then fails at any other length); a model's
`ExportSpec(axis_sizes={"time": (1, 7, 64)})` makes `zoo export`'s parity check run every such length
and refuse such a file (`tests/test_parity_recurrent.py`).

Generated by `benchmarks/converter_tables.py` (onnx {onnx.__version__}, keras {keras.__version__},
torch {torch.__version__}); architecture figures measured on {machine}, no GPU.

## ONNX node suite

The standard node suite is generated from the case definitions in the `onnx` wheel
(`exporters/keras_conformance.py`; `tests/test_keras_node_suite.py` runs it). Every single-node case
of every op the converter claims is converted and compared with the expected outputs (value, shape,
dtype); later inputs are promoted to constants when a case passes weights/attributes as inputs.

**{summary['ops']} ops, {summary['cases']} cases: {summary.get('passed', 0)} pass, {summary.get('refused', 0)}
are refused with a one-line error, {summary.get('wrong', 0) + summary.get('crashed', 0)} give a wrong result.
Float32 cases: {summary['float32_passed']} of {summary['float32']} pass
({100 * summary['float32_passed'] / max(1, summary['float32']):.1f}%).** A case counts as float32 when an output
is float32 and every input and output is float32, bool or a standard integer type. The refusals are
types Keras on torch cannot hold (uint16/32/64, float8, 4-bit and 2-bit types, bfloat16, strings),
training-mode Dropout/BatchNormalization, MaxPool's Indices output, graphs whose only input is a scalar
or shape vector, and the attributes listed below.

{chr(10).join(ops_lines)}

### Every refusal message

{refusals}

## Architectures (random weights, dynamic batch)

Exported with `torch.onnx.export(dynamo=True)` and a dynamic batch, converted, saved, reloaded in a
fresh process that imports only keras and numpy, run at batch 1 and 3, compared with onnxruntime on
the original ONNX file. "Keras->ONNX" is `exporters.keras_onnx.keras_to_onnx` of the converted model
(checked with `onnx.checker`, full check) compared with onnxruntime the same way; it takes 20-70 s
per model here, so it is run for the models it was broken on (and resnet18) unless `--round-trip-all`.
With random weights the logits are small (no output reaches 1e2, hence a relative diff of 0), so the
absolute diffs are far below the 1e-4 bound. convnext_tiny and swin_t gather with runtime indices
(`Gather` over `Range(batch)`): the Keras model is right, but torch's ONNX export of that gather
(`index_select` + `squeeze`) writes a `Squeeze` of a dynamic axis that fails, and the alternative
(`take_along_axis`) makes torch.export fix the batch, so their round trip is refused.

{chr(10).join(arch_table(rows))}

## Third-party converters

Not re-measured here: onnx2keras, onnx2tf and nobuco need TensorFlow, which this project does not
install. The issue that asked for this work reports that none of them produced a file Keras 3 can load.
"""
    write_text(DOC, text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
