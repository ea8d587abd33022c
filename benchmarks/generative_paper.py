"""Generative models on digits: the VAE's held-out ELBO and reconstruction skill against the per-pixel mean
image, and the DCGAN's Fréchet distance / confidence / class coverage against real held-out images and an
untrained generator. Prints a Markdown table; --pictures DIR copies each run's pictures there (docs/).

    python benchmarks/generative_paper.py --threads 1 --vae-epochs 30 --dcgan-epochs 12 --pictures docs
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from zoo import registry
from zoo.engine import train

PICTURES = {"vae": ("latent_grid.png", "reconstructions.png", "samples.png"), "dcgan": ("samples.png", "real_images.png")}


def run(model: str, run_dir: Path, **config: object) -> dict[str, float]:
    spec = registry.create(model, config)
    train(spec, run_dir, command=f"benchmarks/generative_paper.py {model}", progress=False)
    return json.loads((run_dir / "metrics.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--vae-epochs", type=int, default=30)
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--dcgan-epochs", type=int, default=12)
    p.add_argument("--models", default="vae,dcgan")
    p.add_argument("--pictures", default="", help="Copy each run's pictures into this folder as <model>-<picture>.png.")
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            d = Path(tmp) / model
            extra = {"beta": a.beta, "epochs": a.vae_epochs} if model == "vae" else {"epochs": a.dcgan_epochs}
            doc = run(model, d, data=a.data, seed=a.seed, checkpoint_every=0, **extra)
            m = doc["metrics"]
            if model == "vae":
                rows.append(f"| vae (beta {a.beta:g}, {a.vae_epochs} ep.) | recon skill {m['test/recon_skill']:.3f} | "
                            f"ELBO {m['test/elbo']:.1f} nats (KL {m['test/kl']:.1f}); MSE {m['test/recon_mse']:.4f} | "
                            f"per-pixel mean image: NLL {m['test/nll_baseline']:.1f} nats, MSE {m['test/recon_mse_baseline']:.4f} | "
                            f"{doc['train_seconds']:.0f} s |")
            else:
                rows.append(f"| dcgan ({a.dcgan_epochs} ep.) | FD skill {m['test/fd_skill']:.3f} | FD {m['test/fd']:.2f}, "
                            f"confidence {m['test/confidence']:.2f}, coverage {m['test/coverage']:.2f} | real held-out: FD "
                            f"{m['test/fd_real']:.2f}, {m['test/confidence_real']:.2f}, {m['test/coverage_real']:.2f}; untrained: "
                            f"FD {m['test/fd_untrained']:.2f}, {m['test/confidence_untrained']:.2f}, "
                            f"{m['test/coverage_untrained']:.2f} (scorer acc {m['test/scorer_acc']:.2f}) | {doc['train_seconds']:.0f} s |")
            if a.pictures:
                for name in PICTURES[model]:
                    shutil.copyfile(d / name, Path(a.pictures) / f"{model}-{name}")
    print("| model | primary | scores | baselines | train time |\n| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
