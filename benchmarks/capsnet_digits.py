"""CapsNet vs a CNN of about the same parameter count on scikit-learn's digits (8x8, upscaled).

    PYTHONPATH=. python benchmarks/capsnet_digits.py --threads 1 --seeds 0 1 2 --epochs 10

CapsNet: the `capsnet` model (3 routing iterations, margin loss, reconstruction loss x 0.0005) at
``--image-size`` with ``--conv-channels`` 9x9 channels and ``--primary-types`` 8-D primary capsule types.
CNN: the `transfer` model with a LeNet-5 backbone trained from scratch and an MLP head whose two hidden
widths are chosen so that its parameter count matches CapsNet's (decoder included). Same data split,
image size, augmentation (10% shifts), optimiser, schedule, epochs and batch size for both. Prints a
Markdown table (test accuracy mean +- std over seeds, parameters, training seconds) and writes it,
with every run's numbers, to ``--out``/capsnet_digits.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


SHAPE = {"class_names": [str(d) for d in range(10)], "in_channels": 1}  # digits: counting needs no data


def lenet_head_width(target: int, image_size: int, num_classes: int = 10) -> int:
    """The hidden width h of an [h, h] MLP head that brings LeNet-5 closest to ``target`` parameters."""
    from zoo import registry

    def count(h: int) -> int:
        spec = registry.create("transfer", cnn_config(image_size, h, epochs=1, seed=0, **SHAPE))
        return sum(p.numel() for p in spec.build_model().parameters())

    lo, hi = 1, 4096
    while lo < hi:  # parameters grow with h
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid + 1
        else:
            hi = mid
    return min((lo - 1, lo), key=lambda h: abs(count(max(h, 1)) - target)) or 1


def cnn_config(image_size: int, width: int, epochs: int, seed: int, **extra: Any) -> dict[str, Any]:
    return {"backbone": "lenet5", "pretrained": "none", "image_size": image_size, "head": "mlp", "head_hidden": [width, width],
            "dropout": 0.2, "augment_flip": False, "epochs": epochs, "seed": seed, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--conv-channels", type=int, default=32)
    parser.add_argument("--primary-types", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from zoo import registry
    from zoo.engine import train

    common = {"lr": args.lr, "batch_size": args.batch_size, "checkpoint_every": 0}
    caps = {"image_size": args.image_size, "conv_channels": args.conv_channels, "primary_types": args.primary_types,
            "primary_dim": 8, "class_dim": 16, "decoder_hidden": [256, 512], "epochs": args.epochs, **common}
    caps_params = sum(p.numel() for p in registry.create("capsnet", {**caps, **SHAPE}).build_model().parameters())
    width = lenet_head_width(caps_params, args.image_size)
    results: dict[str, list[dict[str, float]]] = {"capsnet": [], "cnn": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name, model, config in (("capsnet", "capsnet", {**caps, "seed": seed}),
                                        ("cnn", "transfer", cnn_config(args.image_size, width, args.epochs, seed, **common))):
                cls = registry.get(model)
                started = time.perf_counter()
                doc = train(cls(cls.Config(**config)), Path(tmp) / f"{name}-{seed}", progress=False)
                results[name].append({"seed": seed, "test_acc": doc["metrics"]["test/acc"], "parameters": doc["parameters"],
                                      "seconds": time.perf_counter() - started})
                print(f"{name} seed {seed}: test acc {doc['metrics']['test/acc']:.4f}", flush=True)
    rows = ["| model | parameters | test acc (mean ± std over seeds) | seeds | train s / run |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, label in (("capsnet", f"CapsNet ({args.conv_channels} ch, {args.primary_types}x8-D primary, 3 routing iters, decoder 256-512)"),
                        ("cnn", f"CNN: LeNet-5 + MLP head {width}-{width}")):
        accs = [r["test_acc"] for r in results[name]]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        rows.append(f"| {label} | {results[name][0]['parameters']:,} | {statistics.mean(accs):.4f} ± {std:.4f} | {len(accs)} | "
                    f"{statistics.mean(r['seconds'] for r in results[name]):.0f} |")
    table = "\n".join(rows)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "capsnet_digits.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                              "table": table, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
