"""siamese-lstm on synthetic-paraphrases vs. bag-of-words and word-overlap baselines, a merge ablation, a BiLSTM,
and the int8 exports judged by the task metric (same seeded split, held-out pairs).

    PYTHONPATH=. KERAS_BACKEND=torch python benchmarks/siamese_lstm_paper.py --threads 1 --seed 0

Rows: the default ([|a-b|, a*b] + MLP), Chollet's concatenation ([a, b] + MLP), cosine similarity (scaled, no
MLP) and the default merge over a bidirectional shared LSTM. Baselines: logistic regression on bag-of-words
features of the pair ([left counts, right counts, |difference|, product]) and a word-overlap (Jaccard)
threshold fit on the training split. Then the default run's ONNX export quantised to int8 (dynamic: LSTM
through onnxruntime's DynamicQuantizeLSTM; static: MatMul QDQ calibrated on training pairs), scored by the
same metric on onnxruntime. Last, a learning curve: every variant on the first 400/800/1600/3200 pairs (--sizes).
Prints Markdown tables; CPU seconds are this process's (1 thread: comparable
on a shared machine); the tables are in docs/RESULTS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

RUNS: list[tuple[str, dict]] = [
    ("diff-product: [|a-b|, a*b] + MLP (default)", {}),
    ("concat: [a, b] + MLP (Chollet)", {"merge": "concat"}),
    ("cosine: scale * cos(a, b) + bias", {"merge": "cosine"}),
    ("diff-product, bidirectional LSTM", {"bidirectional": True}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 export rows")
    parser.add_argument("--sizes", default="400,800,1600,3200", help="learning curve: pairs used (comma-separated; '' to skip)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from zoo import registry
    from zoo.engine import train

    print("| variant | test acc | test AUC | BoW logreg acc | BoW logreg AUC | word overlap acc | word overlap AUC | train CPU s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    cls = registry.get("siamese-lstm")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (variant, overrides) in enumerate(RUNS):
            spec = cls(cls.Config(seed=args.seed, checkpoint_every=0, **overrides))
            start = time.process_time()
            m = train(spec, Path(tmp) / str(i), progress=False)["metrics"]
            seconds = time.process_time() - start
            label = variant.replace("|", "\\|")  # a pipe inside a Markdown table cell
            print(f"| {label} | {m['test/acc']:.4f} | {m['test/auc']:.4f} | {m['test/bow_logreg_acc']:.4f} | "
                  f"{m['test/bow_logreg_auc']:.4f} | {m['test/word_overlap_acc']:.4f} | {m['test/word_overlap_auc']:.4f} | "
                  f"{seconds:.0f} |", flush=True)
        if not args.no_int8:
            int8_rows(Path(tmp) / "0", args.threads)
        if args.sizes:
            learning_curve(tmp, args.seed, [int(n) for n in args.sizes.split(",")])


def learning_curve(tmp: str, seed: int, sizes: list[int]) -> None:
    """Test accuracy of every variant trained on the first N generated pairs (65% of them for training,
    15% validation, 20% test): how many examples each merge needs."""
    from zoo import registry
    from zoo.engine import train

    cls = registry.get("siamese-lstm")
    print("\n| pairs (train / test) | " + " | ".join(v.split(":")[0] for v, _ in RUNS) + " |")
    print("| --- |" + " --- |" * len(RUNS))
    for n in sizes:
        accs = []
        for i, (_, overrides) in enumerate(RUNS):
            spec = cls(cls.Config(seed=seed, checkpoint_every=0, limit=n, **overrides))
            accs.append(train(spec, Path(tmp) / f"curve-{n}-{i}", progress=False)["metrics"]["test/acc"])
        test = len(spec.data.splits["test"])
        print(f"| {n} ({len(spec.data.splits['train'])} / {test}) | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)


def int8_rows(run: Path, threads: int) -> None:
    """The default run exported to ONNX (fp32, int8 dynamic, int8 static), each scored on the test split."""
    import onnxruntime as ort

    from exporters.export import export
    from exporters.quantize import calibration_inputs, file_size, quantize_dynamic, quantize_static
    from zoo import artifacts

    spec = artifacts.load(str(run)).spec
    fp32 = export(str(run), "onnx", run).path
    files = {"fp32": fp32,
             "int8 dynamic": quantize_dynamic(fp32, run / "dynamic.onnx"),
             "int8 static": quantize_static(fp32, run / "static.onnx", calibration_inputs(spec, 128))}
    print("\n| default run on onnxruntime | test acc | test AUC | file KiB |")
    print("| --- | --- | --- | --- |")
    for name, path in files.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        m = spec.evaluate(lambda feeds: session.run(None, feeds))
        print(f"| {name} | {m['test/acc']:.4f} | {m['test/auc']:.4f} | {file_size(path) / 1024:.0f} |", flush=True)


if __name__ == "__main__":
    main()
