"""Rezaei & Liu's target-agnostic attack (Tables 2-1/2-2) on offline data: `zoo audit` over victims with
5 and 10 target classes and 1, 2 or 3 retrained layers.

The "public" backbone: `transfer` with --backbone (default squeezenet1_1: ReLU features as in the source,
cheap on a CPU) trained from random init on all of omniglot-minimal (242 characters). The victims: `transfer`
runs fine-tuned from it (--init-from) on scikit-learn's digits, classes 0-4 (5 classes) or 0-9 (10),
written as an image folder; retrained layers 1 = the new head only (--freeze all), 2 = head + the last
backbone stage, 3 = head + the last two stages (--freeze first-k). Each victim is exported to ONNX and
attacked with `zoo.audit` knowing only the omniglot backbone. Prints a Markdown table.

    python benchmarks/audit_paper.py --threads 1 --source-epochs 2 --victim-epochs 3 --neurons 64 --steps 50

``--attacks`` lists the crafting variants run on every victim, START:BOOST each (START = random test
images, or top = per neuron the test image that activates it most; BOOST = the target neuron's goal
in units of its clean maximum), e.g. ``--attacks random:10,top:10,top:100``. Besides the table, per
class hits at >= 95% and the crafted features' ratios (target / largest other neuron, target / its
clean maximum, on the attacker's backbone) are printed, which show why the attack works or fails.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from zoo import registry
from zoo.engine import train

PAPER = {5: {"95": 91.68}, 10: {}}  # the source's headline: 91.68% effectiveness at 95% confidence with 5 classes


def digits_folder(root: Path, classes: int) -> str:
    """scikit-learn's digits of classes 0..classes-1 as PNG files in one sub-folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for i, (image, target) in enumerate(zip(d.images, d.target)):
        if target < classes:
            folder = root / f"digit{target}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((image * 255 / 16).astype(np.uint8), "L").save(folder / f"{i}.png")
    return f"imagefolder:{root}"


def run(model: str, run_dir: Path, **config: object) -> Path:
    spec = registry.create(model, config)
    train(spec, run_dir, command=f"benchmarks/audit_paper.py {model}", progress=False)
    return run_dir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="squeezenet1_1")
    p.add_argument("--source-epochs", type=int, default=4)
    p.add_argument("--victim-epochs", type=int, default=5)
    p.add_argument("--classes", default="5,10")
    p.add_argument("--retrained", default="1,2,3")
    p.add_argument("--neurons", type=int, default=128, help="Crafted inputs (attempts) per victim.")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--attacks", default="random:10", help="Crafting variants START:BOOST, comma-separated (START: random or top).")
    p.add_argument("--lr", type=float, default=0.05, help="Victims' learning rate.")
    p.add_argument("--out", default="", help="Also write the raw reports as JSON here.")
    a = p.parse_args()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    from zoo.audit import AuditSettings, audit

    common = {"backbone": a.backbone, "image_size": 32, "color": "L", "checkpoint_every": 0, "seed": a.seed, "augment_flip": False}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = run("transfer", root / "public", data="omniglot-minimal", epochs=a.source_epochs, batch_size=64, **common)
        source_acc = json.loads((source / "metrics.json").read_text())["metrics"]["test/acc"]
        stages = len(registry.create("transfer", {"backbone": a.backbone}).build_network(2, 1).stages)
        for k in (int(c) for c in a.classes.split(",")):
            data = digits_folder(root / f"digits{k}", k)
            for retrained in (int(r) for r in a.retrained.split(",")):
                freeze = {"freeze": "all"} if retrained == 1 else {"freeze": "first-k", "freeze_stages": stages - (retrained - 1)}
                victim = run("transfer", root / f"victim-{k}-{retrained}", data=data, epochs=a.victim_epochs, batch_size=32,
                             init_from=str(source), lr=a.lr, **freeze, **common)
                acc = json.loads((victim / "metrics.json").read_text())["metrics"]["test/acc"]
                for attack in a.attacks.split(","):
                    start, _, boost = attack.partition(":")
                    report = audit(victim, AuditSettings(steps=a.steps, neurons=a.neurons, seed=a.seed, start=start,
                                                         boost=float(boost or 10)), log=lambda *_: None)
                    rows.append({**report.to_dict(), "target_classes": k, "retrained_layers": retrained, "victim_test_acc": acc,
                                 "attack": attack})
                    print(f"classes {k}, retrained {retrained}, {attack}: eff95 {report.effectiveness['95']:.3f} "
                          f"nabac {report.nabac} features {report.features}", flush=True)
    print(f"\npublic backbone: {a.backbone} on omniglot-minimal, test acc {source_acc:.3f}\n")
    print("| target classes | retrained layers | attack (start:boost) | victim test acc | effectiveness 95% | effectiveness 99% | "
          "clean images >= 95% | start images >= 95% | NABAC | classes broken | target/rest | target/clean max |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        nabac = "-" if r["nabac"] is None else str(r["nabac"])
        f = r["features"]
        print(f"| {r['target_classes']} | {r['retrained_layers']} | {r['attack']} | {100 * r['victim_test_acc']:.1f} | "
              f"{100 * r['effectiveness']['95']:.1f}% | {100 * r['effectiveness']['99']:.1f}% | {100 * r['clean_confident']['95']:.1f}% | "
              f"{100 * r['start_confident']['95']:.1f}% | {nabac} | {r['classes_broken']}/{r['target_classes']} | {f['target_over_rest_median']:.2f} | "
              f"{f['target_over_clean_median']:.2f} |")
    print("\nper class, crafted inputs answered at >= 95% (of all attempts) / first attempt at 95%:\n")
    for r in rows:
        cells = ", ".join(f"{c['class']} {c['at_95']}/{r['attempts']} ({c['first_attempt_95'] or '-'})" for c in r["per_class"])
        print(f"- {r['target_classes']} classes, {r['retrained_layers']} retrained, {r['attack']}: {cells}")
    if a.out:
        Path(a.out).write_text(json.dumps({"args": vars(a), "source_test_acc": source_acc, "rows": rows}, indent=1, default=str))


if __name__ == "__main__":
    main()
