"""Sequence models with their default recipes vs. their stated baselines (same seeded splits, held-out data).

    PYTHONPATH=. KERAS_BACKEND=torch python benchmarks/sequence_paper.py --threads 2 --seed 0
    PYTHONPATH=. KERAS_BACKEND=torch python benchmarks/sequence_paper.py --only forecast-gru --threads 2

text-rnn on synthetic-reviews (LSTM, GRU, 2 stacked bidirectional LSTM layers) against bag-of-words logistic
regression (scikit-learn); forecast-gru on synthetic-temperature (default and with recurrent dropout)
against the naive "value in 24 hours = value now" forecast. Prints one Markdown table row per run, with
the wall time of training (shared CPUs: an upper bound); the table is in docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

RUNS: list[tuple[str, str, dict]] = [
    ("text-rnn", "LSTM (default)", {}),
    ("text-rnn", "GRU", {"cell": "gru"}),
    ("text-rnn", "2 x bidirectional LSTM", {"layers": 2, "bidirectional": True}),
    ("forecast-gru", "GRU (default)", {}),
    ("forecast-gru", "2 x GRU, dropout 0.2, recurrent dropout 0.25", {"layers": 2, "dropout": 0.2, "recurrent_dropout": 0.25}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--only", default="", help="run only this model (text-rnn or forecast-gru)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from zoo import registry
    from zoo.engine import train

    print("| model | variant | data | test metric | model | baseline | baseline value | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, variant, overrides) in enumerate(RUNS):
            if args.only and name != args.only:
                continue
            cls = registry.get(name)
            spec = cls(cls.Config(seed=args.seed, checkpoint_every=0, **overrides))
            start = time.perf_counter()
            metrics = train(spec, Path(tmp) / str(i), progress=False)["metrics"]
            seconds = time.perf_counter() - start
            if name == "text-rnn":
                row = ("test accuracy", metrics["test/acc"], "bag-of-words logistic regression", metrics["test/bow_logreg_acc"])
            else:
                row = ("test MAE (deg C)", metrics["test/mae"], "naive: value now", metrics["test/naive_mae"])
            print(f"| {name} | {variant} | {spec.config.data} | {row[0]} | {row[1]:.4f} | {row[2]} | {row[3]:.4f} | {seconds:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
