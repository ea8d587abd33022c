"""`zoo explain` / `zoo dream` on a real short LeNet-5 run (digits): the pictures in docs/ and two checks that
Grad-CAM points at evidence the model uses, over the whole test split:

* ink: the share of the Grad-CAM mass on ink pixels (brighter than mid-grey) vs the share of ink pixels;
* deletion: blanking the 20% of pixels Grad-CAM ranks highest vs 20% random pixels (to the background
  value), and the mean drop of the predicted class's probability each causes.

    python benchmarks/visualize_paper.py --threads 1 --pictures docs      # trains 5 epochs (about a minute)
    python benchmarks/visualize_paper.py --run runs/transfer/RUN --pictures docs
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="", help="A finished transfer (or other image-classifier) run; default: train one.")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--example", type=int, default=4, help="Which test image (index into example_inputs) to picture.")
    p.add_argument("--cam-layers", default="stages.1,stages.0", help="Layers whose Grad-CAM is checked (comma-separated).")
    p.add_argument("--pictures", default="", help="Copy the pictures here as visualize-<name>.png.")
    a = p.parse_args()
    import torch

    from cli import main as zoo
    from demos.inputs import array_to_image
    from zoo.artifacts import load
    from zoo.visualize.probe import ImageProbe

    torch.set_num_threads(a.threads)
    work = Path(tempfile.mkdtemp(prefix="zoo-visualize-"))
    run = Path(a.run) if a.run else work / "lenet5"
    if not a.run:
        _zoo(zoo, ["train", "transfer", "--preset", "lenet5-scratch", "--epochs", str(a.epochs), "--seed", str(a.seed),
                   "--run-dir", str(run), "--no-progress"])
    artifact = load(run)
    spec = artifact.spec
    pre = asdict(spec.preprocessing())
    test_rows = len(spec.data.splits["test"])
    inputs = spec.example_inputs(test_rows)[spec.inputs()[0].name]  # the whole test split, in order
    image = work / "digit.png"
    array_to_image(inputs[a.example], pre).save(image)
    out = work / "pictures"
    explain = ["explain", str(run), str(image), "--out", str(out), "--layer", "stages.0.0", "--layer", "stages.1.0",
               "--layer", "stages.2.0", "--layer", "stages.1"]
    dream = ["dream", str(run), str(image), "--out", str(out), "--size", "96", "--step-size", "0.003", "--layers", "stages.0.1"]
    _zoo(zoo, explain)
    _zoo(zoo, dream)
    print("commands:\n  zoo " + " ".join(explain) + "\n  zoo " + " ".join(dream))

    probe = ImageProbe.from_artifact(artifact)
    checks = {layer: gradcam_checks(probe, inputs, layer, a.seed) for layer in (a.cam_layers.split(",") if a.cam_layers
                                                                                 else [probe.default_layer().name])}
    summary = {"run": str(run), "test_acc": artifact.metrics.get("metrics", {}).get("test/acc"), "gradcam_checks": checks,
               "explain": json.loads((out / "explain.json").read_text())["gradcam"],
               "dream": {k: v for k, v in json.loads((out / "dream.json").read_text()).items() if k != "image"}}
    print(json.dumps(summary, indent=1))
    if a.pictures:
        for name in ("activations.png", "filters.png", "gradcam.png", "dream.png", "dream_octaves.png"):
            shutil.copy(out / name, Path(a.pictures) / f"visualize-{name}")


def gradcam_checks(probe: Any, inputs: np.ndarray, layer: str, seed: int) -> dict[str, float]:
    """Grad-CAM of ``layer`` for the predicted class of every input: its mass on ink, and the probability drop
    when its top 20% pixels vs 20% random pixels are set to the background value."""
    import torch

    from zoo.visualize.explain import grad_cam

    rng = np.random.default_rng(seed)
    background = float(probe.value_range[0].min())
    ink_mass, ink_share, drop_cam, drop_random = [], [], [], []
    for x in inputs:
        cam = grad_cam(probe, torch.from_numpy(x)[None], layer)
        if cam.heat.sum() == 0:
            continue
        ink = x[0] > (background + float(probe.value_range[1].max())) / 2
        ink_mass.append(float(cam.heat[ink].sum() / cam.heat.sum()))
        ink_share.append(float(ink.mean()))
        k = int(0.2 * cam.heat.size)
        for order, drops in ((np.argsort(-cam.heat, axis=None)[:k], drop_cam), (rng.permutation(cam.heat.size)[:k], drop_random)):
            blanked = x.copy().reshape(x.shape[0], -1)
            blanked[:, order] = background
            with torch.no_grad():
                logits = probe.model(torch.from_numpy(blanked.reshape(x.shape))[None])
            drops.append(cam.probability - float(torch.softmax(logits, 1)[0, cam.class_index]))
    return {"images": len(ink_mass), "gradcam_mass_on_ink": float(np.mean(ink_mass)), "ink_pixel_share": float(np.mean(ink_share)),
            "prob_drop_blank_top20_gradcam": float(np.mean(drop_cam)), "prob_drop_blank_random20": float(np.mean(drop_random))}


def _zoo(zoo, argv: list[str]) -> None:
    try:
        zoo(argv)
    except SystemExit as exc:
        if exc.code:
            raise


if __name__ == "__main__":
    main()
