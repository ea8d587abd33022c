"""Convolutional variational autoencoder (Kingma & Welling 2014), with the beta weight of Higgins et al. (2017).

The encoder maps an image to the mean and log-variance of a diagonal Gaussian q(z|x); a latent point
z = mean + exp(log_var / 2) * noise (the reparameterisation) is decoded to Bernoulli pixel
probabilities. Training minimises reconstruction cross-entropy + beta * KL(q(z|x) || N(0, I)).

The exported main graph is the whole VAE, ``(image, noise, latent) -> (reconstruction, mean, log_var,
generated)``: the reconstruction of ``image`` through the latent sample that ``noise`` picks
(noise 0: the mean code), and the decoding of an arbitrary ``latent`` point. The randomness is an input,
so the graph is deterministic and every runtime (PyTorch, onnxruntime fp32/int8, Keras) is scored
with the same held-out ELBO; one file serves the demo's sliders (decode) and "encode my drawing".
The halves are exported as their own graphs too: ``encoder`` (image -> mean, log_var) and
``decoder`` (latent -> image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.engine import step_generator
from zoo.models.vae import CARD
from zoo.models.vae.config import VAEConfig
from zoo.registry import DemoHook, ExportSpec, GraphSpec, Predict, TensorSpec, register
from zoo.tasks.base import StepModule
from zoo.tasks.generative import EVAL_SEED, GenerativeImageTask, demo_extra, save_grid
from zoo.tasks.image_classification import augment_batch

PROB_FLOOR = 1e-6  # pixel probabilities are clamped to [floor, 1 - floor] in the held-out cross-entropy


class Encoder(nn.Module):
    """forward(image) -> (mean, log_var) of q(z | image): two stride-2 convolutions, then two linear heads."""

    def __init__(self, channels: int, size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Flatten())
        flat = 2 * width * (size // 4) ** 2
        self.mean = nn.Linear(flat, latent_dim)
        self.log_var = nn.Linear(flat, latent_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(image)
        return self.mean(h), self.log_var(h)


class Decoder(nn.Module):
    """forward(latent) -> pixel probabilities: a linear layer to a (2 width, size/4, size/4) map, then two
    stride-2 transposed convolutions (the encoder mirrored) and a sigmoid."""

    def __init__(self, channels: int, size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        self.start = (2 * width, size // 4, size // 4)
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * width * (size // 4) ** 2), nn.ReLU())
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1))

    def logits(self, latent: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(latent).view(-1, *self.start))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(latent))


class VAENet(nn.Module):
    """forward(image, noise, latent) -> (reconstruction, mean, log_var, generated); see the module docstring."""

    def __init__(self, channels: int, size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        self.encoder = Encoder(channels, size, width, latent_dim)
        self.decoder = Decoder(channels, size, width, latent_dim)

    def forward(self, image: torch.Tensor, noise: torch.Tensor,
                latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(image)
        z = mean + torch.exp(0.5 * log_var) * noise
        return self.decoder(z), mean, log_var, self.decoder(latent)


def kl_to_prior(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per row, in nats."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1)


def negative_elbo_terms(model: VAENet, x: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction cross-entropy, KL) per row, in nats, for one latent sample per image."""
    mean, log_var = model.encoder(x)
    z = mean + torch.exp(0.5 * log_var) * noise
    recon = F.binary_cross_entropy_with_logits(model.decoder.logits(z), x, reduction="none").flatten(1).sum(1)
    return recon, kl_to_prior(mean, log_var)


class VAEStage(StepModule):
    """Minimises (reconstruction + beta * KL) per pixel on epoch-shuffled batches with step-seeded noise;
    selects on the validation ELBO (beta = 1, fixed noise)."""

    monitor = "val/elbo"
    monitor_mode = "max"

    def __init__(self, model: VAENet, task: VAE) -> None:
        super().__init__(model, task.config)
        self.task = task
        self.train_rows = task.data.splits["train"]
        self.val_x = task.split_images("val")
        self.val_noise = torch.from_numpy(task.latent_draw(len(self.val_x), EVAL_SEED + 1))

    def steps_per_epoch(self) -> int:
        return self.rows_steps(len(self.train_rows))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        cfg = self.config
        rank, _ = self.world()
        picked = self.train_rows[self.batch_positions(len(self.train_rows))[1]]
        gen = step_generator(cfg.seed, self.global_step, rank)
        x = self.task.data.images[picked]
        if cfg.augment:
            x = augment_batch(x, gen, cfg.augment_flip, 0.1).clamp(0, 1)
        noise = torch.randn(len(x), cfg.latent_dim, generator=gen)
        recon, kl = negative_elbo_terms(self.model, x.to(self.device), noise.to(self.device))
        pixels = x[0].numel()
        loss = (recon + cfg.beta * kl).mean() / pixels  # per pixel: the optimum is the same, the scale AdamW-friendly
        self.log("train/loss", loss, prog_bar=True, batch_size=len(x))
        self.log("train/recon", recon.mean(), batch_size=len(x))
        self.log("train/kl", kl.mean(), batch_size=len(x))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        with torch.no_grad():
            recon, kl = negative_elbo_terms(self.model, self.val_x.to(self.device), self.val_noise.to(self.device))
        self.log("val/elbo", -(recon + kl).mean(), prog_bar=True, batch_size=len(self.val_x))
        self.log("val/kl", kl.mean(), batch_size=len(self.val_x))


@register
class VAE(GenerativeImageTask):
    card = CARD
    Config = VAEConfig
    config: VAEConfig

    def build_model(self) -> VAENet:
        self.data  # noqa: B018  (loading fills in_channels)
        torch.manual_seed(self.config.seed)
        cfg = self.config
        return VAENet(self.in_channels(), cfg.image_size, cfg.width, cfg.latent_dim)

    def noise_spec(self) -> TensorSpec:
        return TensorSpec("noise", ("batch", self.config.latent_dim),
                          description="N(0, I) draw of the reparameterisation (0: decode the mean code)")

    def inputs(self) -> list[TensorSpec]:
        return [self.image_spec("image", "image to encode, pixel/255 with ink = 1 (see preprocessing)"),
                self.noise_spec(), self.latent_spec()]

    def code_specs(self) -> tuple[TensorSpec, TensorSpec]:
        k = self.config.latent_dim
        return (TensorSpec("mean", ("batch", k), meaning="embedding", description="mean of q(z | image): the image's latent code"),
                TensorSpec("log_var", ("batch", k), meaning="value", description="log-variance of q(z | image)"))

    def outputs(self) -> list[TensorSpec]:
        return [self.image_spec("reconstruction", "pixel probabilities decoded from mean + exp(log_var / 2) * noise"),
                *self.code_specs(),
                self.image_spec("generated", "pixel probabilities decoded from the latent input")]

    def export_spec(self) -> ExportSpec:
        """The whole VAE (main graph), plus ``encoder`` and ``decoder`` as graphs of their own."""
        encoder = GraphSpec("encoder", module="encoder", inputs=(self.inputs()[0],), outputs=self.code_specs())
        decoder = GraphSpec("decoder", module="decoder", inputs=(self.latent_spec(),),
                            outputs=(self.image_spec("generated", "pixel probabilities decoded from the latent input"),))
        return ExportSpec(graphs=(GraphSpec("model"), encoder, decoder), atol=1e-4)

    def training_module(self, model: nn.Module) -> VAEStage:
        return VAEStage(model, self)  # type: ignore[arg-type]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        seed = {"train": 1, "val": 2, "test": 3}.get(split, 4)
        return {"image": self.data.images[self.pick_rows(n, split)].numpy(),
                "noise": self.latent_draw(n, EVAL_SEED + 10 * seed), "latent": self.latent_draw(n, EVAL_SEED + 10 * seed + 5)}

    def evaluate(self, predict: Predict) -> dict[str, float]:
        """Held-out reconstruction error (noise 0) against the per-pixel mean image, and the ELBO
        (``elbo_samples`` seeded latent samples per image) against the per-pixel Bernoulli baseline."""
        x = self.split_images("test").numpy()
        n, k = len(x), self.config.latent_dim
        zeros = np.zeros((n, k), dtype=np.float32)

        def run(noise: np.ndarray) -> list[np.ndarray]:
            parts = [predict({"image": x[i:i + 256], "noise": noise[i:i + 256], "latent": zeros[i:i + 256]})
                     for i in range(0, n, 256)]
            return [np.concatenate([p[j] for p in parts]) for j in range(4)]

        reconstruction, mean, log_var, _ = run(zeros)
        baseline = self.mean_image()
        mse = float(np.mean((reconstruction - x) ** 2))
        mse_base = float(np.mean((baseline[None] - x) ** 2))
        kl = 0.5 * (mean.astype(np.float64) ** 2 + np.exp(log_var.astype(np.float64)) - 1 - log_var).sum(1)
        recon_nll = np.zeros(n)
        for s in range(self.config.elbo_samples):
            recon_nll += cross_entropy(run(self.latent_draw(n, EVAL_SEED + 100 + s))[0], x)
        recon_nll /= self.config.elbo_samples
        self._last_test = reconstruction
        return {"test/recon_skill": 1.0 - mse / mse_base, "test/recon_mse": mse, "test/recon_mse_baseline": mse_base,
                "test/elbo": float(-(recon_nll + kl).mean()), "test/recon_nll": float(recon_nll.mean()),
                "test/kl": float(kl.mean()), "test/nll_baseline": float(cross_entropy(baseline[None], x).mean()),
                "test/images": float(n)}

    def eval_report(self, metrics: dict[str, float]) -> list[str]:
        if "test/elbo" not in metrics:
            return []
        return [f"ELBO {metrics['test/elbo']:.1f} nats/image vs {-metrics['test/nll_baseline']:.1f} for the per-pixel mean "
                f"image (a Bernoulli model that ignores the latent); reconstruction MSE {metrics['test/recon_mse']:.4f} vs "
                f"{metrics['test/recon_mse_baseline']:.4f} (skill {metrics['test/recon_skill']:.3f})."]

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        """latent_grid.png (decoded grid over the first two latent dimensions), reconstructions.png (test
        images above their reconstructions) and samples.png (decoded prior draws)."""
        self.write_splits(run_dir)
        g = self.config.grid
        model = model.cpu().eval()
        with torch.no_grad():
            grid = model.decoder(torch.from_numpy(self.latent_grid_points())).numpy()
            samples = model.decoder(torch.from_numpy(self.latent_draw(g * g, EVAL_SEED + 7))).numpy()
            x = self.split_images("test")[:g]
            recon = model.decoder(model.encoder(x)[0]).numpy()
        save_grid(grid, run_dir / "latent_grid.png", g)
        save_grid(samples, run_dir / "samples.png", g)
        save_grid(np.concatenate([x.numpy(), recon]), run_dir / "reconstructions.png", len(x))

    def demo(self) -> DemoHook | None:
        return DemoHook(kind="image-generator", title=f"{self.name}: variational autoencoder",
                        description="Move the sliders over the latent dimensions to decode a point of the latent space, "
                                    "or draw a character and encode it: its latent code and reconstruction.",
                        extra=demo_extra(self.config.latent_dim, generated_output="generated",
                                         encode={"image_input": "image", "code_output": "mean",
                                                 "reconstruction_output": "reconstruction"}))


def cross_entropy(probabilities: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bernoulli cross-entropy of ``x`` under pixel ``probabilities``, summed per image (nats)."""
    p = np.clip(probabilities.astype(np.float64), PROB_FLOOR, 1 - PROB_FLOOR)
    x = x.astype(np.float64)
    return -(x * np.log(p) + (1 - x) * np.log1p(-p)).reshape(len(x), -1).sum(1)
