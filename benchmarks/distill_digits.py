"""Knowledge distillation on digits: a LeNet-5 student trained on few labels, with and without a teacher.

    PYTHONPATH=. python benchmarks/distill_digits.py --epochs 5 --labels-per-class 10

The teacher is a `transfer` LeNet-5 (scratch) trained on the full training split; the students see only
``--labels-per-class`` labelled images per class (the same ones), once with plain cross-entropy and
once with ``--teacher`` (T = 4, alpha = 0.7). Prints test accuracy of all three.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--labels-per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from zoo import registry
    from zoo.engine import train

    cls = registry.get("transfer")
    base = {"backbone": "lenet5", "pretrained": "none", "image_size": 32, "augment_flip": False, "checkpoint_every": 0,
            "seed": args.seed, "batch_size": 32}
    with tempfile.TemporaryDirectory() as tmp:
        teacher_dir = Path(tmp) / "teacher"
        teacher = train(cls(cls.Config(**base, epochs=args.epochs)), teacher_dir, progress=False)["metrics"]
        few = {**base, "labels_per_class": args.labels_per_class, "epochs": args.epochs * 4}
        plain = train(cls(cls.Config(**few)), Path(tmp) / "plain", progress=False)["metrics"]
        taught = train(cls(cls.Config(**few, teacher=str(teacher_dir), distill_alpha=0.7, distill_temperature=4.0)),
                       Path(tmp) / "taught", progress=False)["metrics"]
    print(f"teacher (all labels, {args.epochs} epochs): test acc {teacher['test/acc']:.4f}")
    print(f"student, {args.labels_per_class} labels/class, no teacher: test acc {plain['test/acc']:.4f}")
    print(f"student, {args.labels_per_class} labels/class, --teacher: test acc {taught['test/acc']:.4f}")


if __name__ == "__main__":
    main()
