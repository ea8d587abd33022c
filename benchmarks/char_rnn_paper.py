"""char-rnn on the embedded Shakespeare tragedies: held-out perplexity against character unigram and bigram
baselines, the same metric after int8 quantisation (dynamic: LSTM + MatMul; static: MatMul), and samples
at several softmax temperatures (Chollet 8.1: 0.2, 0.5, 1.0, 1.2).

    PYTHONPATH=. KERAS_BACKEND=torch python benchmarks/char_rnn_paper.py --threads 2            # defaults (minutes)
    PYTHONPATH=. KERAS_BACKEND=torch python benchmarks/char_rnn_paper.py --threads 2 --quick    # reduced: 3 epochs
    PYTHONPATH=. python benchmarks/char_rnn_paper.py --set hidden=256 --set epochs=20           # any config field

The test text is the last 5% of the corpus (the end of Romeo and Juliet), never read in training. Perplexity
is exp(mean negative log-likelihood per character), the text read as 16 contiguous streams with the LSTM
state carried across calls; the n-gram baselines are add-one smoothed and counted on the training text.
Prints a Markdown report (also written to OUT/report.md with OUT/results.json); CPU seconds are process
time (user + system), the honest figure on shared CPUs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from paper_common import apply_threads, paper_parser, parse_overrides

QUICK = {"epochs": 3}
TEMPERATURES = (0.2, 0.5, 1.0, 1.2)
PRIME = "ROMEO:\n"


def main() -> None:
    parser = paper_parser(__doc__.splitlines()[0], model="char-rnn", default_out="runs/char-rnn-paper",
                          seed_help="Seed of weights, batches and sampling.", example="hidden=256")
    parser.add_argument("--quick", action="store_true", help=f"Reduced recipe {QUICK} (a few CPU minutes).")
    parser.add_argument("--length", type=int, default=300, help="Characters per sample.")
    parser.add_argument("--run", type=Path, help="Score this finished char-rnn run instead of training one (exports go to OUT).")
    args = parser.parse_args()
    apply_threads(args.threads)
    from exporters.export import export
    from exporters.runtime import onnx_predictor
    from zoo import artifacts, registry
    from zoo.engine import train
    from zoo.generate_commands import generate

    overrides = {**(QUICK if args.quick else {}), **parse_overrides(args.overrides)}
    cls = registry.get("char-rnn")
    spec = cls(cls.Config(seed=args.seed, checkpoint_every=0, **overrides))
    run = args.run or args.out / "run"
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if args.run:
        metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    else:
        metrics = train(spec, run, progress=args.progress, overwrite=True)["metrics"]
    train_cpu, train_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    art = artifacts.load(run)
    rows = [("char-rnn (PyTorch fp32)", metrics["test/perplexity"], metrics["test/bits_per_char"], None)]
    files = {"fp32": export(run, "onnx", args.out / "onnx")}  # (each export is parity-checked at batch 1/7/64, time 1/7/64)
    for mode in ("dynamic", "static"):
        files[f"int8 {mode}"] = export(run, "onnx", args.out / f"int8-{mode}", quantize=mode, metric_tolerance=1.0)
    for name, result in files.items():
        scores = art.spec.evaluate(onnx_predictor(result.path))
        rows.append((f"char-rnn ONNX {name}", scores["test/perplexity"], scores["test/bits_per_char"], result.path.stat().st_size))
    samples = {t: generate(str(files["fp32"].path), PRIME, args.length, t, seed=args.seed) for t in TEMPERATURES}
    cfg = art.spec.config
    lines = [f"char-rnn: {cfg.layers} x {cfg.hidden} LSTM, embedding {cfg.embed_dim}, {cfg.epochs} epoch(s) of {cfg.seq_len}-character "
             f"windows, seed {args.seed}; {len(cfg.chars)} characters; test text {int(metrics['test/chars']):,} characters; "
             + (f"training {train_cpu:.0f} CPU s ({train_wall:.0f} s wall)." if not args.run else f"run {run}."), "",
             "| model | test perplexity | bits/char | file bytes |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {ppl:.3f} | {bpc:.3f} | {size if size else ''} |" for name, ppl, bpc, size in rows]
    lines += [f"| bigram, add-one (train counts) | {metrics['test/bigram_perplexity']:.3f} | | |",
              f"| unigram, add-one (train counts) | {metrics['test/unigram_perplexity']:.3f} | | |", ""]
    for t, text in samples.items():
        lines += [f"Temperature {t} (prime {PRIME!r}, seed {args.seed}, ONNX fp32):", "", "```", PRIME + text, "```", ""]
    report = "\n".join(lines)
    print(report)
    from zoo import io as zio

    zio.write_text(args.out / "report.md", report)
    zio.write_json(args.out / "results.json", {"config": cfg.portable_dict(), "metrics": metrics, "train_cpu_s": train_cpu,
                                               "rows": [list(r) for r in rows], "samples": {str(t): s for t, s in samples.items()}})


if __name__ == "__main__":
    main()
