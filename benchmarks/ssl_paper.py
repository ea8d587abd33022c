"""Pretext-then-transfer table: rotnet and noise-level pretraining vs random init on few labels.

Pretext: each model trains on the unlabelled images of --data (labels ignored). Downstream: the
`transfer` model on the same data with --labels-per-class labelled training images per class,
linear probe (--freeze all) and full fine-tuning (--freeze none), started from the pretext run
(--init-from) or from random init; mean and spread over the seeds. Prints a Markdown table.

    python benchmarks/ssl_paper.py --seeds 0,1,2 --pretext-epochs 5 --downstream-epochs 30

Two more tables (--table):

* ``context``: `context` with its defences (gap, jitter, channel dropping) and without them, against
  random init: pretext accuracy vs downstream accuracy (the paper's argument: without the defences
  the pretext gets easier through low-level shortcuts and the features transfer worse). The pretext
  cuts 32 px patches from images at 112 px; downstream runs at 32 px (a LeNet-5 on 112 px with 10
  labels per class barely trains), so the encoder meets the digit at a smaller scale than in its patches.
* ``rotations``: the rotation-set ablation of Gidaris et al.'s Table 2-3 (0/90/180/270, 0/180,
  90/270 and the 8 multiples of 45 degrees): pretext accuracy and downstream accuracy per set.

    python benchmarks/ssl_paper.py --table context --seeds 0 --pretext-epochs 3 --downstream-epochs 30 --threads 1
    python benchmarks/ssl_paper.py --table rotations --seeds 0,1 --pretext-epochs 5 --downstream-epochs 15 --threads 1

A fourth (``--table stages``): the linear probe per backbone stage (`zoo probe`, zoo/probe.py) of each
pretext encoder of --pretext (rotnet, noise-level at 32 px; context trained at 112 px, its pretext size, and probed,
like its downstream runs above, on whole images at 32 px)
against the same architecture from random init built under the same seed (which is the
initialisation the pretext run itself started from), with --labels-per-class labels per class;
per seed one pretext run and one probe (that seed's labelled subset), then mean ± spread over seeds.

    python benchmarks/ssl_paper.py --table stages --pretext rotnet,noise-level,context --seeds 0,1,2 --pretext-epochs 10 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from zoo import registry
from zoo.engine import train


def run(model: str, run_dir: Path, **config: object) -> dict[str, float]:
    spec = registry.create(model, config)
    train(spec, run_dir, command=f"benchmarks/ssl_paper.py {model}", progress=False)
    return json.loads((run_dir / "metrics.json").read_text())["metrics"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="digits")
    p.add_argument("--backbone", default="lenet5")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--pretext", default="rotnet,noise-level")
    p.add_argument("--pretext-epochs", type=int, default=5)
    p.add_argument("--downstream-epochs", type=int, default=30)
    p.add_argument("--labels-per-class", type=int, default=10)
    p.add_argument("--out", default="", help="Also write the raw results as JSON here.")
    p.add_argument("--table", default="pretext", choices=("pretext", "context", "rotations", "stages"))
    p.add_argument("--context-epochs", type=int, default=3, help="Pretext epochs of context in --table stages (112 px: slower).")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (1 is often faster on a busy shared CPU).")
    a = p.parse_args()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    if a.table == "stages":
        return stages_table(a)
    if a.table != "pretext":
        return variants_table(a)
    seeds = [int(s) for s in a.seeds.split(",")]
    common = {"data": a.data, "backbone": a.backbone, "image_size": 32, "checkpoint_every": 0}
    results: dict[str, dict[str, list[float]]] = {}
    pretext_acc: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in seeds:
            sources = {"random init": ""}
            for name in a.pretext.split(","):
                d = root / f"{name}-{seed}"
                m = run(name, d, seed=seed, epochs=a.pretext_epochs, batch_size=64, **common)
                pretext_acc.setdefault(name, []).append(m["test/pretext_acc"])
                sources[name] = str(d)
            for source, path in sources.items():
                for freeze, mode in (("all", "linear probe"), ("none", "fine-tune")):
                    d = root / f"tr-{source.replace(' ', '_')}-{freeze}-{seed}"
                    m = run("transfer", d, seed=seed, epochs=a.downstream_epochs, batch_size=32, freeze=freeze,
                            labels_per_class=a.labels_per_class, augment_flip=False, init_from=path, **common)
                    results.setdefault(source, {}).setdefault(mode, []).append(m["test/acc"])

    def cell(values: list[float]) -> str:
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}"

    print(f"| start | pretext test acc | linear probe acc | fine-tune acc |\n|---|---|---|---|")
    for source, modes in results.items():
        pre = cell(pretext_acc[source]) if source in pretext_acc else "-"
        print(f"| {source} | {pre} | {cell(modes['linear probe'])} | {cell(modes['fine-tune'])} |")
    if a.out:
        Path(a.out).write_text(json.dumps({"args": vars(a), "pretext_acc": pretext_acc, "downstream": results}, indent=1))


# (row name, pretext model, its config) per table; "random init" rows have no pretext
VARIANTS = {
    "context": [("random init", "", {}),
                ("context, defences on (gap 4, jitter 4, channel drop)", "context", {"gap": 4, "jitter": 4, "drop_channels": True}),
                ("context, defences off (touching patches, rigid grid)", "context", {"gap": 0, "jitter": 0, "drop_channels": False})],
    "rotations": [("0/90/180/270 (4 rotations)", "rotnet", {"rotations": [0, 90, 180, 270]}),
                  ("8 multiples of 45", "rotnet", {"rotations": [0, 45, 90, 135, 180, 225, 270, 315]}),
                  ("0/180", "rotnet", {"rotations": [0, 180]}),
                  ("90/270", "rotnet", {"rotations": [90, 270]})],
}


def cell(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}"


def variants_table(a: argparse.Namespace) -> None:
    """Pretext accuracy and downstream (linear probe, fine-tune) accuracy per pretext variant."""
    common = {"data": a.data, "backbone": a.backbone, "image_size": 32, "checkpoint_every": 0}
    pretext_size = {"image_size": 112} if a.table == "context" else {}
    table: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in (int(s) for s in a.seeds.split(",")):
            for i, (row, model, config) in enumerate(VARIANTS[a.table]):
                cells = table.setdefault(row, {})
                path = ""
                if model:
                    path = str(root / f"{i}-{seed}")
                    m = run(model, Path(path), seed=seed, epochs=a.pretext_epochs, batch_size=64, **config, **{**common, **pretext_size})
                    cells.setdefault("pretext", []).append(m["test/pretext_acc"])
                for freeze, mode in (("all", "linear probe"), ("none", "fine-tune")):
                    m = run("transfer", root / f"tr-{i}-{freeze}-{seed}", seed=seed, epochs=a.downstream_epochs, batch_size=32,
                            freeze=freeze, labels_per_class=a.labels_per_class, augment_flip=False, init_from=path or None, **common)
                    cells.setdefault(mode, []).append(m["test/acc"])
                print(row, {k: v[-1] for k, v in cells.items()}, flush=True)
    print(f"\n| pretext | pretext test acc | linear probe acc | fine-tune acc |\n|---|---|---|---|")
    for row, cells in table.items():
        pre = cell(cells["pretext"]) if "pretext" in cells else "-"
        print(f"| {row} | {pre} | {cell(cells['linear probe'])} | {cell(cells['fine-tune'])} |")
    if a.out:
        Path(a.out).write_text(json.dumps({"args": vars(a), "table": table}, indent=1))


def stages_table(a: argparse.Namespace) -> None:
    """Linear probe per stage: each pretext encoder vs random init of the same architecture and seed."""
    from zoo.probe import probe

    common = {"data": a.data, "backbone": a.backbone, "checkpoint_every": 0}
    # (pretext, stage) -> {"pretext": [...], "random": [...]}; plus the pretext accuracy per model
    cells: dict[tuple[str, str], dict[str, list[float]]] = {}
    pretext_acc: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in (int(s) for s in a.seeds.split(",")):
            for name in a.pretext.split(","):
                size, epochs = (112, a.context_epochs) if name == "context" else (32, a.pretext_epochs)
                d = root / f"{name}-{seed}"
                m = run(name, d, seed=seed, epochs=epochs, batch_size=64, image_size=size, **common)
                pretext_acc.setdefault(name, []).append(m["test/pretext_acc"])
                report = probe(d, labels_per_class=a.labels_per_class, seeds=[seed], log=lambda *_: None, image_size=32)
                for s in report.stages:
                    c = cells.setdefault((name, s["stage"]), {"pretext": [], "random": []})
                    c["pretext"].append(s["pretrained"]["mean"])
                    c["random"].append(s["random"]["mean"])
                print(name, seed, {s["stage"]: (round(s["pretrained"]["mean"], 3), round(s["random"]["mean"], 3))
                                   for s in report.stages}, flush=True)
    print("\n| pretext (pretext test acc) | stage | probe on pretext encoder | probe on random init | difference |\n|---|---|---|---|---|")
    for (name, stage), c in cells.items():
        diff = [p - r for p, r in zip(c["pretext"], c["random"])]
        print(f"| {name} ({cell(pretext_acc[name])}) | {stage} | {cell(c['pretext'])} | {cell(c['random'])} | {cell(diff)} |")
    if a.out:
        Path(a.out).write_text(json.dumps({"args": vars(a), "pretext_acc": pretext_acc,
                                           "cells": {f"{n}/{s}": c for (n, s), c in cells.items()}}, indent=1))


if __name__ == "__main__":
    main()
