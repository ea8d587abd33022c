"""The cats-vs-dogs progression on an image folder: basic CNN -> + augmentation and dropout -> transfer.

    PYTHONPATH=. python benchmarks/catsdogs_progression.py ~/data/cats_vs_dogs --image-size 150 --epochs 30
    PYTHONPATH=. python benchmarks/catsdogs_progression.py /tmp/shapes --synthetic 150 --image-size 64 --epochs 8 \\
        --backbone zfnet --source rotnet --threads 1                                  # offline stand-in

FOLDER holds one sub-folder per class (``cats/``, ``dogs/``), read as ``imagefolder:FOLDER``. Every stage
is the `transfer` model (no model code of its own), on the same seeded split:

1. **basic CNN**: ``--backbone`` (default zfnet) trained from scratch, a dense ``--hidden`` head, no
   augmentation, no dropout (the books' first convnet overfits here);
2. **+ augmentation and dropout**: the same network with random flips and shifts and dropout 0.5;
3. **transfer**: ``--source imagenet``: ``--transfer-backbone`` (default resnet18) with ImageNet weights
   from the local torch cache, frozen (feature extraction), a new head, augmentation;
   ``--source rotnet``: offline, no downloaded weights: a `rotnet` (self-supervised rotation prediction)
   encoder pretrained on the folder's own images, then fine-tuned through ``--init-from``.

``--synthetic N`` first writes N generated photo-like images per class into FOLDER (two classes of
animal-like shapes, pointed vs floppy ears, on textured backgrounds): there are no cat or dog photos
offline, so the offline numbers are about these pictures, not about cats and dogs. The comparison table
is printed and written to ``--out``/catsdogs_progression.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

STAGES = ("basic CNN", "+ augmentation, dropout 0.5", "transfer")


def make_photo_folder(root: Path, per_class: int, size: int = 96, seed: int = 0) -> Path:
    """Two classes of photo-like pictures, ``root/cats`` (pointed ears) and ``root/dogs`` (floppy ears): an animal-ish
    head of random fur colour, position and scale on a textured, lit background, with noise and blur."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    for label in ("cats", "dogs"):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            yy, xx = np.mgrid[0:size, 0:size] / size
            base = rng.uniform(40, 200, 3)
            light = rng.uniform(-60, 60, 3)[:, None, None] * (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
            background = np.clip(base[:, None, None] + light + rng.normal(0, 12, (3, size, size)), 0, 255)
            image = Image.fromarray(background.transpose(1, 2, 0).astype(np.uint8), "RGB")
            draw = ImageDraw.Draw(image)
            fur = tuple(int(c) for c in rng.uniform(30, 230, 3))
            cx, cy, r = (rng.uniform(0.35, 0.65) * size, rng.uniform(0.4, 0.65) * size, rng.uniform(0.16, 0.26) * size)
            if label == "cats":  # pointed ears above the head
                for side in (-1, 1):
                    ear = [(cx + side * 1.0 * r, cy - 0.2 * r), (cx + side * 0.15 * r, cy - 0.8 * r),
                           (cx + side * rng.uniform(0.7, 1.1) * r, cy - rng.uniform(1.7, 2.1) * r)]
                    draw.polygon(ear, fill=fur)
            else:  # floppy ears hanging beside the head
                for side in (-1, 1):
                    ex = cx + side * rng.uniform(0.85, 1.05) * r
                    draw.ellipse([ex - 0.45 * r, cy - 0.5 * r, ex + 0.45 * r, cy + rng.uniform(1.0, 1.4) * r], fill=fur)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fur)
            eye = tuple(int(c) for c in rng.uniform(0, 60, 3))
            for side in (-1, 1):
                draw.ellipse([cx + side * 0.4 * r - 0.1 * r, cy - 0.25 * r, cx + side * 0.4 * r + 0.1 * r, cy - 0.05 * r], fill=eye)
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
            noisy = np.clip(np.asarray(image, dtype=np.float64) + rng.normal(0, 6, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(noisy, "RGB").save(folder / f"{label[:-1]}.{i}.jpg", quality=90)
    return root


def stage_configs(args: argparse.Namespace, rotnet_run: Path | None) -> list[tuple[str, dict[str, Any]]]:
    common = {"data": f"imagefolder:{args.folder}", "image_size": args.image_size, "color": "RGB", "epochs": args.epochs,
              "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "checkpoint_every": 0}
    basic = {**common, "backbone": args.backbone, "pretrained": "none", "head": "mlp", "head_hidden": [args.hidden],
             "dropout": 0.0, "augment": False}
    augmented = {**basic, "augment": True, "augment_flip": True, "dropout": 0.5}
    if args.source == "imagenet":
        transfer = {**common, "backbone": args.transfer_backbone, "pretrained": "imagenet", "freeze": "all",
                    "head": "mlp", "head_hidden": [args.hidden], "dropout": 0.5, "augment": True, "augment_flip": True}
    else:
        transfer = {**augmented, "init_from": str(rotnet_run), "lr_decay": 0.3}
    return list(zip(STAGES, (basic, augmented, transfer)))


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train the three stages (and the rotnet encoder for ``--source rotnet``) into ``args.out``; return the rows."""
    from zoo import registry
    from zoo.engine import train

    runs = args.out / "runs"
    rotnet_run = None
    if args.source == "rotnet":
        rotnet = registry.get("rotnet")
        rotnet_run = runs / "rotnet"
        train(rotnet(rotnet.Config(data=f"imagefolder:{args.folder}", backbone=args.backbone, image_size=args.image_size,
                                   color="RGB", epochs=args.rotnet_epochs or args.epochs, batch_size=args.batch_size,
                                   lr=args.lr, seed=args.seed, checkpoint_every=0)), rotnet_run, progress=False)
    cls = registry.get("transfer")
    rows = []
    for i, (stage, config) in enumerate(stage_configs(args, rotnet_run)):
        started = time.perf_counter()
        doc = train(cls(cls.Config(**config)), runs / f"stage{i + 1}", progress=False)
        summary = doc.get("parameter_summary") or {}
        trainable = sum(s.get("trainable", 0) for s in summary.values()) if summary else doc["parameters"]
        rows.append({"stage": stage, "backbone": config["backbone"], "pretrained": config.get("pretrained", "none"),
                     "init_from": config.get("init_from"), "augment": config["augment"], "dropout": config["dropout"],
                     "parameters": doc["parameters"], "trainable": trainable, "test_acc": doc["metrics"]["test/acc"],
                     "seconds": time.perf_counter() - started, "run": str(runs / f"stage{i + 1}")})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| stage | backbone (weights) | augmentation | dropout | parameters (trainable) | test acc | train s |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        weights = "rotnet on the folder" if r["init_from"] else r["pretrained"] if r["pretrained"] != "none" else "scratch"
        lines.append(f"| {r['stage']} | {r['backbone']} ({weights}) | {'flips, shifts' if r['augment'] else 'none'} | "
                     f"{r['dropout']} | {r['parameters']:,} ({r['trainable']:,}) | {r['test_acc']:.4f} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="Image folder with one sub-folder per class.")
    p.add_argument("--synthetic", type=int, default=0, help="First generate this many photo-like images per class into FOLDER.")
    p.add_argument("--image-size", type=int, default=150)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--rotnet-epochs", type=int, default=0, help="Epochs of the rotnet encoder (--source rotnet; 0: --epochs).")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=512, help="Dense layer width of every head.")
    p.add_argument("--backbone", default="zfnet", help="The basic CNN (stages 1, 2; and the rotnet encoder).")
    p.add_argument("--source", choices=("imagenet", "rotnet"), default="imagenet", help="Where stage 3's backbone comes from.")
    p.add_argument("--transfer-backbone", default="resnet18", help="Stage 3 backbone with --source imagenet.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/catsdogs"))
    return p


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parser().parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.synthetic:
        make_photo_folder(args.folder, args.synthetic, seed=args.seed)
    rows = run(args)
    text = table(rows)
    print(text)
    from zoo import io as zio

    args.out.mkdir(parents=True, exist_ok=True)
    zio.write_text(args.out / "catsdogs_progression.md", text + "\n")
    zio.write_json(args.out / "catsdogs_progression.json", {"argv": argv, "folder": str(args.folder), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
