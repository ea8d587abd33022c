"""End-To-End Memory Networks (Sukhbaatar et al. 2015) on generated bAbI tasks 1 and 2 vs. the baselines.

    PYTHONPATH=. python benchmarks/memn2n_paper.py --threads 1 --seed 0
    PYTHONPATH=. python benchmarks/memn2n_paper.py --threads 1 --seed 0 --tasks 2 --data babi --data-dir DIR

Each task is trained with the default recipe (position encoding, temporal encoding, 3 hops, adjacent tying,
linear start, random noise; 1000 training questions, 10% of them for validation) and with layer-wise tying,
and scored on 1000 held-out test questions against the majority answer, the last location mentioned in the
story and bag-of-words logistic regression over story and question words. The paper's 1k-question figures
(PE LS RN, adjacent, real bAbI) are about 99.9% (task 1) and 88% (task 2) accuracy. Prints one Markdown table row per run with the
CPU time of training (process time; wall time on shared cores is longer); the table is in docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

PAPER_ACC = {1: 0.999, 2: 0.88}  # about, Sukhbaatar et al. 2015, Table 1, 1k training, PE LS RN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--tasks", default="1,2", help="comma-separated bAbI tasks")
    parser.add_argument("--data", default="babi-generated", help="babi-generated (offline), babi or babi-10k (downloaded)")
    parser.add_argument("--data-dir", default=None, help="where babi's tasks_1-20_v1-2.tar.gz lives")
    parser.add_argument("--variants", default="adjacent,layer-wise", help="comma-separated tying variants")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from zoo import registry
    from zoo.engine import train

    cls = registry.get("memn2n")
    print("| task | data | tying | memn2n acc | paper acc | majority | last location | BoW logreg | train CPU s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for task in (int(t) for t in args.tasks.split(",")):
            for tying in args.variants.split(","):
                spec = cls(cls.Config(seed=args.seed, task=task, tying=tying, data=args.data, data_dir=args.data_dir,
                                      checkpoint_every=0))
                start = time.process_time()
                metrics = train(spec, Path(tmp) / f"{task}-{tying}", progress=False)["metrics"]
                cpu = time.process_time() - start
                print(f"| {task} | {args.data} | {tying} | {metrics['test/acc']:.3f} | {PAPER_ACC.get(task, float('nan')):.3f} | "
                      f"{metrics['test/majority_acc']:.3f} | {metrics['test/last_location_acc']:.3f} | "
                      f"{metrics['test/bow_logreg_acc']:.3f} | {cpu:.0f} |", flush=True)


if __name__ == "__main__":
    main()
