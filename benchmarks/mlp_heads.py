"""Every mlp-heads head on its built-in table vs. its scikit-learn baseline (same seeded split).

    PYTHONPATH=. python benchmarks/mlp_heads.py --epochs 60 --seed 0

Prints one line per data set (test metrics of the MLP | the baseline's); figures in docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

DATA = ("iris", "breast-cancer", "diabetes", "linnerud", "diabetes-grades", "multilabel-demo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from zoo import registry
    from zoo.engine import train

    cls = registry.get("mlp-heads")
    with tempfile.TemporaryDirectory() as tmp:
        for data in DATA:
            spec = cls(cls.Config(data=data, epochs=args.epochs, seed=args.seed, checkpoint_every=0))
            metrics = train(spec, Path(tmp) / data, progress=False)["metrics"]
            name, base = spec.baseline
            mine = {k[5:]: round(v, 4) for k, v in metrics.items() if k.startswith("test/") and k != "test/rows"}
            print(f"{data} [{spec.config.resolved_head}] mlp-heads {mine} | {name} {({k: round(v, 4) for k, v in base.items()})}")


if __name__ == "__main__":
    main()
