"""Reproduce NLNL's noisy-label claim (Kim et al., ICCV 2019) on scikit-learn's digits.

Trains ``nlnl`` through the real engine (``zoo.engine.train``: the same code path as ``zoo train``) at
0%, 20%, 40% and 60% symmetric label noise. Every run also trains the cross-entropy baseline on the same
noisy labels, backbone and epoch budget; the 0% run's CE baseline is the clean-label reference. Writes
``nlnl_paper.json`` + ``nlnl_paper.md`` to ``--out`` (the run directories go under ``--out`` too) and
exits non-zero when a claim is missed:

- NLNL beats the CE baseline at every noise rate;
- at 40% noise NLNL loses at most 3 points against clean-label training;
- at 40% noise noisy-label detection has precision and recall of at least 0.9.

    python benchmarks/nlnl_paper.py --out runs/nlnl-paper --threads 1
    python benchmarks/nlnl_paper.py --rates 0.4 --set nl_epochs=10   # quicker look

The model's defaults are the benchmark's settings (chosen to finish each rate in about five minutes on
two busy CPU cores). The paper's figures are for MNIST (60k images, 28x28); ours are for the 1797
8x8 digits, so the comparison is of the trend, not of the last decimal.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from paper_common import apply_threads, paper_parser, parse_overrides

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAPER_MNIST_NLNL = {0.2: 0.9935, 0.4: 0.9927, 0.6: 0.9891}  # NLNL test accuracy on MNIST, symmetric noise (as quoted in issue #7)
MAX_DROP_AT_40 = 0.03
MIN_DETECTION_AT_40 = 0.9


def run_one(rate: float, out: Path, seed: int, overrides: dict[str, Any], progress: bool) -> dict[str, Any]:
    from zoo import registry
    from zoo.engine import train

    fields = {"data": "digits", "noise_rate": rate, "noise_type": "symmetric", "seed": seed, **overrides}
    spec = registry.create("nlnl", fields)
    run_dir = out / f"noise-{round(rate * 100):02d}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    started = time.perf_counter()
    doc = train(spec, run_dir, command=f"benchmarks/nlnl_paper.py (noise {rate})", progress=progress)
    m = doc["metrics"]
    return {
        "noise_rate": rate,
        "run_dir": str(run_dir),
        "config": {k: v for k, v in spec.config.to_dict().items() if k != "class_names"},
        "rows": {split: len(rows) for split, rows in spec.data.splits.items()},
        "nlnl_acc": m["test/acc"],
        "ce_baseline_acc": m["test/ce_baseline_acc"],
        "stage_acc": {stage: m[f"test/{stage}_acc"] for stage in ("nl", "selnl", "selpl", "clean")},
        "detection": {"precision": m["detect/precision"], "recall": m["detect/recall"]},
        "train_labels_correct": {"before": m["labels/acc_before_cleaning"], "after": m["labels/acc_after_cleaning"]},
        "paper_mnist_nlnl": PAPER_MNIST_NLNL.get(rate),
        "train_seconds": doc["train_seconds"],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def claim_checks(results: list[dict[str, Any]]) -> dict[str, bool]:
    by_rate = {r["noise_rate"]: r for r in results}
    checks = {f"NLNL beats CE at {rate:.0%}": r["nlnl_acc"] > r["ce_baseline_acc"] for rate, r in by_rate.items() if rate > 0}
    if 0.4 in by_rate:
        at40 = by_rate[0.4]
        if 0.0 in by_rate:
            drop = by_rate[0.0]["ce_baseline_acc"] - at40["nlnl_acc"]
            checks[f"NLNL at 40% within {MAX_DROP_AT_40:.0%} of clean-label training"] = drop <= MAX_DROP_AT_40
        checks[f"detection precision and recall >= {MIN_DETECTION_AT_40} at 40%"] = (
            min(at40["detection"].values()) >= MIN_DETECTION_AT_40)
    return checks


def markdown(results: list[dict[str, Any]], checks: dict[str, bool], command: str) -> str:
    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    lines = ["# NLNL vs. cross-entropy on noisy labels (Kim et al. 2019), scikit-learn digits", "",
             f"Command: `{command}`", "",
             "| symmetric noise | CE baseline | NLNL (ours) | NLNL paper (MNIST) | after NL / SelNL / SelPL | "
             "detection precision | detection recall | train labels correct: given -> cleaned | train s |",
             "| ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |"]
    for r in results:
        paper = pct(r["paper_mnist_nlnl"]) if r["paper_mnist_nlnl"] else ""
        stages = " / ".join(pct(r["stage_acc"][s]) for s in ("nl", "selnl", "selpl"))
        labels = f"{pct(r['train_labels_correct']['before'])} -> {pct(r['train_labels_correct']['after'])}"
        lines.append(f"| {r['noise_rate']:.0%} | {pct(r['ce_baseline_acc'])} | {pct(r['nlnl_acc'])} | {paper} | {stages} | "
                     f"{r['detection']['precision']:.3f} | {r['detection']['recall']:.3f} | {labels} | {r['train_seconds']:.0f} |")
    clean = next((r for r in results if r["noise_rate"] == 0.0), None)
    rows = results[0]["rows"]
    lines += ["", "Test accuracy (%) on the clean, held-out test split "
              f"({rows['test']} images; train {rows['train']}, val {rows['val']}, both corrupted at the given rate).",
              "The CE baseline trains on the same noisy labels with the same backbone and total epochs as NLNL's five stages; "
              "checkpoints of every stage are chosen on the noisy validation split (no clean labels are used)."]
    if clean:
        lines.append(f"Clean-label training (the CE baseline at 0% noise): {pct(clean['ce_baseline_acc'])}.")
    lines += ["", "## Claims", ""] + [f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items()] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = paper_parser(__doc__.splitlines()[0], model="nlnl", default_out="runs/nlnl-paper",
                          seed_help="Seed of the split, the noise, the weights and the batches.", example="nl_epochs=10")
    parser.add_argument("--rates", default="0,0.2,0.4,0.6", help="Comma-separated symmetric noise rates (0: clean-label reference).")
    args = parser.parse_args(argv)
    apply_threads(args.threads)

    from zoo import io as zio

    command = ("python benchmarks/nlnl_paper.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    rates = sorted(float(r) for r in args.rates.split(",") if r.strip())
    results = [run_one(rate, args.out, args.seed, parse_overrides(args.overrides), args.progress) for rate in rates]
    checks = claim_checks(results)
    report = markdown(results, checks, command)
    zio.write_json(args.out / "nlnl_paper.json", {"command": command, "results": results, "claims": checks})
    zio.write_text(args.out / "nlnl_paper.md", report)
    print(report)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
