"""Reproduce DeepInsight's claim over tree models (Sharma et al. 2019: ringnorm and Madelon).

Trains ``deepinsight`` through the real engine (``zoo.engine.train``: the same code path as ``zoo train``)
on ``ringnorm`` and ``madelon-like`` with fixed seeds, trains a decision tree, AdaBoost and a random
forest on the same split, and writes ``deepinsight_paper.json`` + ``deepinsight_paper.md`` to ``--out``
(the run directories go under ``--out`` too).

    python benchmarks/deepinsight_paper.py --out runs/deepinsight-paper
    python benchmarks/deepinsight_paper.py --datasets ringnorm --set epochs=5   # quicker look

Paper figures are the accuracies the article reports for DeepInsight and the random forest.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from paper_common import apply_threads, paper_parser, parse_overrides

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAPER = {  # test accuracy reported in the paper
    "ringnorm": {"deepinsight": 0.98, "random forest": 0.94},
    "madelon-like": {"deepinsight": 0.88, "random forest": 0.62},
}

# Per-data-set settings (everything else: the model's defaults). They finish in a few minutes on two busy
# CPU cores. The feature extractor was chosen on the *validation* split, as the paper picks t-SNE or
# kernel PCA per data set: on madelon-like, kernel PCA reached ~0.81 validation accuracy, t-SNE ~0.75-0.78
# (at 32 and 48 pixels): kernel PCA piles the 480 noise features into a few pixels, where they average out.
SETTINGS: dict[str, dict[str, Any]] = {
    "ringnorm": {"epochs": 15, "batch_size": 128, "lr": 2e-3, "feature_extractor": "tsne", "pixels": 32},
    "madelon-like": {"epochs": 30, "batch_size": 64, "lr": 2e-3, "feature_extractor": "kpca", "pixels": 32},
}


def run_one(data: str, out: Path, seed: int, overrides: dict[str, Any], progress: bool) -> dict[str, Any]:
    from zoo import registry
    from zoo.engine import train

    fields = {"data": data, "seed": seed, **SETTINGS.get(data, {}), **overrides}
    spec = registry.create("deepinsight", fields)
    run_dir = out / data
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    started = time.perf_counter()
    doc = train(spec, run_dir, command=f"benchmarks/deepinsight_paper.py ({data})", progress=progress)
    wall = time.perf_counter() - started
    baselines = spec.baselines
    return {
        "data": data,
        "run_dir": str(run_dir),
        "config": {k: v for k, v in spec.config.to_dict().items() if k not in ("class_names", "feature_names")},
        "rows": {split: len(idx) for split, idx in spec.data.splits.items()},
        "deepinsight": {"acc": doc["metrics"]["test/acc"], "macro_f1": doc["metrics"]["test/macro_f1"]},
        "baselines": baselines,
        "paper": PAPER.get(data, {}),
        "beats_random_forest": doc["metrics"]["test/acc"] > baselines["random forest"]["acc"],
        "train_seconds": doc["train_seconds"],
        "wall_seconds": round(wall, 1),
    }


def markdown(results: list[dict[str, Any]], command: str) -> str:
    lines = ["# DeepInsight vs. tree models (Sharma et al. 2019)", "",
             f"Command: `{command}`", "",
             "| data | test rows | DeepInsight | decision tree | AdaBoost | random forest | paper DeepInsight | paper RF | beats RF | train s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in results:
        b, p = r["baselines"], r["paper"]
        paper_di = f"{p['deepinsight']:.2f}" if p else ""
        paper_rf = f"{p['random forest']:.2f}" if p else ""
        lines.append(f"| {r['data']} | {r['rows']['test']} | {r['deepinsight']['acc']:.4f} | {b['decision tree']['acc']:.4f} | "
                     f"{b['AdaBoost']['acc']:.4f} | {b['random forest']['acc']:.4f} | {paper_di} | {paper_rf} | "
                     f"{'yes' if r['beats_random_forest'] else 'no'} | {r['train_seconds']:.0f} |")
    lines += ["", "Accuracy on the held-out test split; all methods use the same seeded, stratified split "
              "(80/10/10 train/val/test; the tree models train on the train split only).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = paper_parser(__doc__.splitlines()[0], model="deepinsight", default_out="runs/deepinsight-paper",
                          seed_help="Training and split seed (the data sets themselves are fixed).", example="epochs=5")
    parser.add_argument("--datasets", default="ringnorm,madelon-like", help="Comma-separated data sets.")
    args = parser.parse_args(argv)
    apply_threads(args.threads)

    from zoo import io as zio

    command = "python benchmarks/deepinsight_paper.py " + " ".join(sys.argv[1:] if argv is None else argv)
    results = [run_one(data.strip(), args.out, args.seed, parse_overrides(args.overrides), args.progress)
               for data in args.datasets.split(",") if data.strip()]
    report = markdown(results, command.strip())
    zio.write_json(args.out / "deepinsight_paper.json", {"command": command.strip(), "results": results})
    zio.write_text(args.out / "deepinsight_paper.md", report)
    print(report)
    return 0 if all(r["beats_random_forest"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
