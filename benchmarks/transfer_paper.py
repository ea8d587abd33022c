"""The transfer claim, measured offline: with little labelled data, a pretrained and partly frozen
network beats training from scratch.

ImageNet weights cannot be fetched here, so the backbone is pretrained by zoo itself on one labelled
data set (the embedded Omniglot characters: 242 classes, 4,840 drawings) and transferred to another
(scikit-learn's digits) with 5, 10 or 20 labels per class. Four strategies, 3 seeds each:
scratch (random init, all trainable), feature extraction (pretrained, all stages frozen),
first-k frozen (pretrained, the first --freeze-stages stages frozen), full fine-tuning (pretrained).
Every run goes through the real engine (`zoo train transfer ...`); the Markdown table lands in
--out/transfer_table.md.

    python benchmarks/transfer_paper.py --out runs/transfer-paper --threads 1
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from paper_common import apply_threads, paper_parser, parse_overrides  # noqa: E402

STRATEGIES = {  # name -> (pretrained?, transfer config fields)
    "scratch": (False, {"freeze": "none"}),
    "feature extraction": (True, {"freeze": "all"}),
    "first-k frozen": (True, {"freeze": "first-k"}),
    "full fine-tune": (True, {"freeze": "none"}),
}


def train(fields: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
    from zoo import registry
    from zoo.engine import train as engine_train

    if (run_dir / "metrics.json").is_file():  # finished earlier: reuse (delete the folder to re-run)
        return json.loads((run_dir / "metrics.json").read_text())
    spec = registry.create("transfer", fields)
    return engine_train(spec, run_dir, command=f"benchmarks/transfer_paper.py {run_dir.name}", progress=progress)


def main() -> None:
    parser = paper_parser(__doc__.split("\n\n")[0], model="transfer", default_out="runs/transfer-paper",
                          seed_help="First seed (seeds are SEED, SEED+1, SEED+2).", example="epochs=60")
    parser.add_argument("--backbone", default="lenet5")
    parser.add_argument("--labels", default="5,10,20", help="Labels per class of the downstream task.")
    parser.add_argument("--freeze-stages", type=int, default=2)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    apply_threads(args.threads)
    overrides = parse_overrides(args.overrides)
    common = {"backbone": args.backbone, "image_size": 32, "augment_flip": False, "checkpoint_every": 0, **overrides}
    started = time.perf_counter()
    pre_dir = args.out / "pretrain-omniglot"
    pre = train({**common, "data": "omniglot-minimal", "epochs": args.pretrain_epochs, "lr": 3e-3, "seed": args.seed,
                 "val_fraction": 0.1, "test_fraction": 0.1}, pre_dir, args.progress)
    rows: dict[tuple[str, int], list[float]] = {}
    for labels in [int(v) for v in args.labels.split(",")]:
        for name, (pretrained, fields) in STRATEGIES.items():
            for seed in range(args.seed, args.seed + 3):
                extra = {"freeze_stages": args.freeze_stages} if fields["freeze"] == "first-k" else {}
                doc = train({**common, **fields, **extra, "data": "digits", "labels_per_class": labels, "epochs": args.epochs,
                             "batch_size": 32, "lr": 3e-3, "seed": seed, "early_stopping": 0,
                             **({"init_from": str(pre_dir)} if pretrained else {})},
                            args.out / f"digits-{labels}-{name.replace(' ', '_')}-s{seed}", args.progress)
                rows.setdefault((name, labels), []).append(doc["metrics"]["test/acc"])
    labels_list = sorted({k[1] for k in rows})
    lines = [f"Backbone `{args.backbone}` pretrained on omniglot-minimal (test accuracy {pre['metrics']['test/acc']:.3f} "
             f"over 242 classes), transferred to digits (360 test images). Test accuracy, mean ± std over 3 seeds.", "",
             "| strategy | " + " | ".join(f"{n} labels/class" for n in labels_list) + " |",
             "| --- | " + " | ".join("---" for _ in labels_list) + " |"]
    for name in STRATEGIES:
        cells = []
        for n in labels_list:
            v = rows[(name, n)]
            cells.append(f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Wall time {time.perf_counter() - started:.0f} s; command: `python benchmarks/transfer_paper.py "
              f"--out {args.out} --threads {args.threads}`."]
    (args.out / "transfer_table.md").write_text("\n".join(lines) + "\n")
    (args.out / "transfer_results.json").write_text(json.dumps({f"{k[0]}|{k[1]}": v for k, v in rows.items()}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
