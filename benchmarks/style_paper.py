"""Neural style transfer: `zoo stylize` (Gatys et al. 2016) and the feed-forward `style-transfer` model (Johnson
et al. 2016) checked against the two papers' claims, offline (no ImageNet weights here: random-init loss networks).

1. Gatys: scikit-learn's china.jpg in the style of the generated marbled pattern, L-BFGS over vgg16 (the
   picture in docs/), then the same at fewer steps over other backbones and a sweep of the style weight
   (style match against content kept: a too-high style weight loses the content).
2. Johnson: train `style-transfer` with its defaults (or take --run), report test/style_match and
   test/content_kept, then on the same held-out images compare the perceptual loss of the one-pass output
   with Gatys' optimisation of the same loss after 0, 10, 25, 50, 100 L-BFGS iterations (the paper: the
   network's loss is about that of 50-100 iterations), and the time per image (onnxruntime vs optimisation).

    python benchmarks/style_paper.py --threads 1 --pictures docs
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def gatys(tmp: Path, pictures: str, steps: int, sweep_steps: int) -> list[str]:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from zoo import style

    content = tmp / "china.jpg"
    Image.fromarray(load_sample_images().images[0]).save(content)
    pattern = tmp / "marbled.png"
    style.to_picture(style.procedural_style(256)).save(pattern)
    rows = ["| loss network (weights) | optimiser, steps | style weight | style match | content kept | loss first -> last | CPU s |",
            "| --- | --- | --- | --- | --- | --- | --- |"]

    def one(name: str, backbone: str, n: int, style_weight: float = 5.0) -> None:
        settings = style.StylizeSettings(backbone=backbone, steps=n, style_weight=style_weight, size=128)
        r = style.run_stylize(content, pattern, tmp / name, settings, log=lambda *_: None)
        s = r["scores"]
        rows.append(f"| {backbone} (random init) | L-BFGS, {n} | {style_weight:g} | {s['style_match']:.3f} | {s['content_kept']:.3f} | "
                    f"{r['initial']['total']:.3f} -> {r['final']['total']:.3f} | {r['cpu_seconds']:.0f} |")
        print(rows[-1], flush=True)
        if pictures and name == "main":
            for f in ("stylized.png", "contact_sheet.png", "loss_curve.png"):
                shutil.copyfile(tmp / name / f, Path(pictures) / f"stylize-{f}")

    one("main", "vgg16", steps)
    for backbone in ("resnet18", "lenet5"):
        one(backbone, backbone, sweep_steps)
    for w in (1.0, 5.0, 50.0, 500.0):
        one(f"sweep{w:g}", "vgg16", sweep_steps, w)
    return rows


def johnson(run: Path | None, tmp: Path, pictures: str, images: int, iterations: list[int]) -> list[str]:
    import onnxruntime as ort
    import torch

    from exporters.export import export
    from zoo import artifacts, registry, style
    from zoo.engine import train

    if run is None or not (run / "metrics.json").is_file():
        run = run or tmp / "style-transfer"
        start = time.process_time()
        train(registry.create("style-transfer", {"checkpoint_every": 0}), run, command="benchmarks/style_paper.py", progress=False)
        print(f"trained style-transfer in {time.process_time() - start:.0f} s CPU", flush=True)
    doc = json.loads((run / "metrics.json").read_text())
    m = doc["metrics"]
    art = artifacts.load(run)
    spec = art.spec
    onnx_path = export(run, "onnx", tmp / "onnx").path
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = spec.data.splits["test"][:images]
    session.run(None, {"image": x[:1]})
    start = time.perf_counter()
    for _ in range(5):
        y = np.concatenate([session.run(None, {"image": x[i:i + 1]})[0] for i in range(len(x))])
    per_image_ms = 1000 * (time.perf_counter() - start) / (5 * len(x))
    loss_fn = spec.loss_fn
    s = spec.style_image()
    with torch.no_grad():
        net_loss = loss_fn(torch.from_numpy(y), torch.from_numpy(x))["total"].numpy()
    by_iteration = {k: [] for k in iterations}
    seconds = []
    for img in torch.from_numpy(x):
        start = time.process_time()
        r = style.stylize(img, s, loss_fn.net, steps=max(iterations), weights=loss_fn.weights,
                          content_layer=loss_fn.content_layer, style_layers=loss_fn.style_layers)
        seconds.append((time.process_time() - start) / max(iterations))
        for k in iterations:
            by_iteration[k].append(r.history[k]["total"])
    rows = [f"style-transfer ({doc['train_seconds']:.0f} s training): test/style_match {m['test/style_match']:.3f}, "
            f"test/content_kept {m['test/content_kept']:.3f} (style loss {m['test/style_loss']:.3f} vs {m['test/style_loss_input']:.3f} "
            f"for the input; content loss {m['test/content_loss']:.3f} vs {m['test/content_loss_style_image']:.3f} for the style image), "
            f"{int(m['test/images'])} held-out images", "",
            "| stylizer | perceptual loss (mean of " + str(len(x)) + " held-out images) | time per image (network: wall; Gatys: CPU) |", "| --- | --- | --- |",
            f"| feed-forward network (onnxruntime, 1 thread) | {net_loss.mean():.3f} | {per_image_ms:.1f} ms |"]
    for k in iterations:
        rows.append(f"| Gatys, {k} L-BFGS iterations | {np.mean(by_iteration[k]):.3f} | "
                    f"{1000 * k * np.mean(seconds):.0f} ms |")
    for row in rows:
        print(row, flush=True)
    if pictures:
        shutil.copyfile(run / "stylized.png", Path(pictures) / "style-transfer-stylized.png")
        shutil.copyfile(run / "style.png", Path(pictures) / "style-transfer-style.png")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=100, help="L-BFGS iterations of the pictured `zoo stylize` result.")
    p.add_argument("--sweep-steps", type=int, default=30, help="Iterations of the backbone and style-weight comparisons.")
    p.add_argument("--run", type=Path, default=None, help="A trained style-transfer run (absent: train one there with the defaults; default: a temporary one).")
    p.add_argument("--images", type=int, default=8, help="Held-out images of the Johnson vs Gatys comparison.")
    p.add_argument("--parts", default="gatys,johnson")
    p.add_argument("--pictures", default="", help="Copy the pictures into this folder (docs/).")
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/style_paper.json"))
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    out: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "gatys" in a.parts:
            out["gatys"] = gatys(Path(tmp), a.pictures, a.steps, a.sweep_steps)
        if "johnson" in a.parts:
            out["johnson"] = johnson(a.run, Path(tmp), a.pictures, a.images, [0, 10, 25, 50, 100])
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=2) + "\n")
    print("\n".join(line for rows in out.values() for line in [*rows, ""]))


if __name__ == "__main__":
    main()
