"""Parity of a converted model with its source, measured on real held-out inputs.

Criteria (stated in every report under ``tolerance``):

- fp32 conversions (ONNX, Keras, TorchScript, ONNX->PyTorch): max absolute error <= ``atol``
  (default 1e-4) on every output;
- fp16: max absolute error <= ``atol`` (default 1e-2), plus the task-metric change for information;
- int8: the task metric decides: the primary metric may drop by at most ``metric_tolerance``
  (default 0.01, i.e. one point of accuracy) on the held-out split; tensor errors are reported.

Besides errors, classifier outputs (meaning ``logits``/``probabilities``) report top-1 agreement,
single-probability outputs (``probability``, one column) agreement of the ``> 0.5`` decision.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from zoo.errors import ParityError, ZooError, first_line

if TYPE_CHECKING:
    from zoo.registry import Predict, TensorSpec, ZooModel

Precision = Literal["fp32", "fp16", "int8"]
DEFAULT_ATOL: dict[str, float] = {"fp32": 1e-4, "fp16": 1e-2}
DEFAULT_METRIC_TOLERANCE = 0.01
DEFAULT_ROWS = 64
# Relative error divides by |reference|, floored so near-zero references do not dominate.
REL_FLOOR = 1e-3
# Metric names for which lower is better; every other metric is taken as higher-is-better.
LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "perplexity")


def compare_outputs(spec: ZooModel, reference: list[np.ndarray], candidate: list[np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per-output error statistics (and decision agreement where the output has a meaning)."""
    outputs = spec.outputs()
    if len(candidate) != len(outputs) or len(reference) != len(outputs):
        raise ParityError(f"{spec.name} has {len(outputs)} output(s); the source gave {len(reference)} "
                          f"and the converted model {len(candidate)}; the conversion dropped or added outputs.")
    stats: dict[str, dict[str, Any]] = {}
    for tensor, ref, out in zip(outputs, reference, candidate):
        ref, out = np.asarray(ref, dtype=np.float64), np.asarray(out, dtype=np.float64)
        if ref.shape != out.shape:
            raise ParityError(f"output '{tensor.name}' has shape {out.shape} after conversion, {ref.shape} in the source; "
                              "the conversion is wrong.")
        diff = np.abs(out - ref)
        entry: dict[str, Any] = {
            "meaning": tensor.meaning,
            "shape": list(ref.shape),
            "max_abs_error": float(diff.max()) if diff.size else 0.0,
            "mean_abs_error": float(diff.mean()) if diff.size else 0.0,
            "max_rel_error": float((diff / np.maximum(np.abs(ref), REL_FLOOR)).max()) if diff.size else 0.0,
            "finite": bool(np.isfinite(out).all()),
        }
        entry.update(decision_agreement(tensor, ref, out))
        stats[tensor.name] = entry
    return stats


def decision_agreement(tensor: TensorSpec, reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Top-1 agreement for class scores, ``> threshold`` agreement for a single probability/logit."""
    if tensor.meaning not in ("logits", "probabilities", "probability") or reference.ndim == 0 or not reference.size:
        return {}
    if reference.ndim >= 2 and reference.shape[-1] > 1:
        return {"top1_agreement": float(np.mean(reference.argmax(-1) == candidate.argmax(-1)))}
    threshold = 0.0 if tensor.meaning == "logits" else 0.5
    return {"decision_agreement": float(np.mean((reference > threshold) == (candidate > threshold))),
            "decision_threshold": threshold}


def primary_drop(metric: str, reference: float, candidate: float) -> float:
    """How much worse ``candidate`` is than ``reference`` on ``metric`` (positive = worse): a fall for
    accuracy-like metrics, a rise for errors, losses and perplexity (:data:`LOWER_IS_BETTER`)."""
    sign = -1.0 if any(word in metric.lower() for word in LOWER_IS_BETTER) else 1.0
    return sign * (float(reference) - float(candidate))


def metric_change(spec: ZooModel, reference: dict[str, float], candidate: dict[str, float]) -> dict[str, Any]:
    """Both metric sets, their differences, and the drop of the primary metric (positive = worse)."""
    keys = [k for k in reference if k in candidate and isinstance(reference[k], (int, float))]
    primary = spec.primary_metric
    drop = None
    if primary in reference and primary in candidate:
        drop = primary_drop(primary, reference[primary], candidate[primary])
    return {"primary": primary, "reference": reference, "candidate": candidate,
            "change": {k: candidate[k] - reference[k] for k in keys}, "primary_drop": drop}


def check_parity(spec: ZooModel, reference: Predict, candidate: Predict, *, precision: Precision = "fp32",
                 atol: float | None = None, metric_tolerance: float | None = None, rows: int = DEFAULT_ROWS,
                 evaluate: bool | None = None, source: dict[str, Any] | None = None,
                 target: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``reference`` and ``candidate`` on ``rows`` real held-out inputs and build the parity report.

    ``evaluate`` (default: for fp16 and int8) also scores both with ``spec.evaluate`` on the whole
    held-out split. Returns the report; ``report["passed"]`` says whether it is within tolerance
    (use :func:`require_parity` to raise).
    """
    dynamic = (target or {}).get("dynamic_batch", True)
    export_spec = spec.export_spec()
    batches = tuple(export_spec.parity_batches) if dynamic else ()
    # only the axes this graph's inputs have (a model's other graph, e.g. an encoder of one input, may lack some)
    own_axes = {axis for t in spec.inputs() for axis in t.shape if isinstance(axis, str)}
    axis_sizes = {axis: tuple(sizes) for axis, sizes in export_spec.axis_sizes.items() if axis in own_axes} if dynamic else {}
    inputs = spec.example_inputs(max([rows, *batches]), split="test")
    outputs = compare_outputs(spec, reference(_first(inputs, rows)), _run_candidate(candidate, _first(inputs, rows),
                                                                                    "the held-out rows", target))
    per_batch: dict[str, float] = {}
    per_axis: dict[str, dict[str, float]] = {axis: {} for axis in axis_sizes}
    for batch in batches:  # the export spec's shapes: catches errors that only show at other batch sizes
        part = _first(inputs, batch)
        # ... and at every size of every other dynamic axis (a time axis frozen at the export example's length)
        variants = [(None, None, part)] + [(axis, size, spec.resize_axis(part, axis, size))
                                           for axis, sizes in axis_sizes.items() for size in sizes]
        for axis, size, feeds in variants:
            where = f"batch {batch}" + (f", {axis} {size}" if axis else "")
            stats = compare_outputs(spec, reference(feeds), _run_candidate(candidate, feeds, where, target))
            worst = max(o["max_abs_error"] for o in stats.values())
            per_batch[str(batch)] = max(per_batch.get(str(batch), 0.0), worst)
            if axis is not None:
                per_axis[axis][str(size)] = max(per_axis[axis].get(str(size), 0.0), worst)
            for name, o in stats.items():
                outputs[name]["max_abs_error"] = max(outputs[name]["max_abs_error"], o["max_abs_error"])
                outputs[name]["finite"] = outputs[name]["finite"] and o["finite"]
    report: dict[str, Any] = {
        "model": spec.name,
        **({"graph": spec.graph_name} if getattr(spec, "graph_name", None) else {}),
        "config": spec.config.to_dict(),
        "source": source or {},
        "target": {**(target or {}), "precision": precision},
        "inputs": {"split": "test", "rows": int(len(next(iter(inputs.values()))))},
        "outputs": outputs,
        "batches": per_batch,
        "axes": per_axis,
    }
    if evaluate if evaluate is not None else precision != "fp32":
        report["metric"] = metric_change(spec, spec.evaluate(reference), spec.evaluate(candidate))
    report["tolerance"], report["passed"], report["verdict"] = _judge(report, precision, atol, metric_tolerance)
    from zoo import __version__

    report["checked_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    report["zoo_version"] = __version__
    return report


def _run_candidate(candidate: Predict, inputs: dict[str, np.ndarray], where: str,
                   target: dict[str, Any] | None) -> list[np.ndarray]:
    """The converted model's outputs; a converted model that cannot run at one of the export spec's
    shapes (e.g. a Reshape frozen to the export example's sequence length) fails parity."""
    try:
        return candidate(inputs)
    except ZooError:
        raise
    except Exception as exc:  # runtimes raise their own error classes
        what = (target or {}).get("file") or (target or {}).get("format", "the converted model")
        raise ParityError(f"{what} fails at {where} ({first_line(exc)}); the exported graph does not hold the "
                          "export spec's dynamic shapes (an axis frozen at export?), nothing was written.") from None


def _first(inputs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The first ``n`` rows of every input (rows repeat cyclically when fewer are available)."""
    return {k: v[np.arange(n) % len(v)] for k, v in inputs.items()}


def require_parity(report: dict[str, Any]) -> None:
    """Raise ParityError with the report's verdict unless it passed."""
    if not report.get("passed"):
        target = report.get("target", {})
        what = target.get("file") or target.get("format", "the converted model")
        raise ParityError(f"{what} is not within tolerance of its source: {report.get('verdict')}; "
                          "nothing was written (loosen --atol/--metric-tolerance only if the difference is acceptable).")


def _judge(report: dict[str, Any], precision: Precision, atol: float | None,
           metric_tolerance: float | None) -> tuple[dict[str, Any], bool, str]:
    outputs = report["outputs"]
    if not all(o["finite"] for o in outputs.values()):
        bad = [name for name, o in outputs.items() if not o["finite"]]
        return {"criterion": "finite outputs"}, False, f"output(s) {bad} contain NaN or infinity"
    if precision == "int8":
        metric = report.get("metric") or {}
        tol = DEFAULT_METRIC_TOLERANCE if metric_tolerance is None else metric_tolerance
        tolerance = {"criterion": "primary metric drop <= max_drop", "metric": metric.get("primary"), "max_drop": tol}
        drop = metric.get("primary_drop")
        if drop is None:
            return tolerance, False, "the primary metric could not be computed for both models"
        ok = drop <= tol + 1e-12
        primary = metric["primary"]
        return tolerance, ok, (f"{primary} {metric['reference'][primary]:.4f} -> {metric['candidate'][primary]:.4f} "
                               f"(drop {drop:+.4f}, max drop {tol:g})")
    tol = DEFAULT_ATOL[precision] if atol is None else atol
    tolerance = {"criterion": "max_abs_error <= atol on every output", "atol": tol}
    worst_name, worst = max(((n, o["max_abs_error"]) for n, o in outputs.items()), key=lambda x: x[1])
    ok = worst <= tol
    return tolerance, ok, f"max abs error {worst:.3g} on '{worst_name}' ({'<=' if ok else '>'} atol {tol:g})"


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_rows(rows: int) -> int:
    if rows < 1:
        raise ZooError(f"--rows must be at least 1, got {rows}.")
    return rows
