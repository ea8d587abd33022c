"""DCGAN (Radford et al. 2016): a transposed-convolution generator against a strided-convolution discriminator.

Generator: latent -> linear projection to a (2 width, size/4, size/4) map, BatchNorm, ReLU, two stride-2
``ConvTranspose2d`` (BatchNorm + ReLU between), sigmoid (pixels in [0, 1], ink = 1). Discriminator:
two stride-2 convolutions with LeakyReLU(0.2) (BatchNorm on the second, none on the input layer, as in
the paper), a linear real/fake logit. Trained with Lightning's manual optimisation: per batch one
discriminator step on real and generated images, then one generator step with the non-saturating loss,
each with its own Adam(lr, beta1). The exported main graph is the generator (``latent -> image``);
the discriminator is exported as a graph of its own.

Evaluation scores samples offline (see :mod:`zoo.tasks.sample_quality`): the Fréchet distance to the
training images in the feature space of a small classifier trained on the same data, the classifier's
confidence and class coverage, for the generator, for real held-out images and for an untrained
generator. The primary metric ``test/fd_skill`` = 1 - (FD - FD_real) / (FD_untrained - FD_real): 1 is as
close as real held-out images, 0 as far as the untrained generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.engine import step_generator
from zoo.models.dcgan import CARD
from zoo.models.dcgan.config import DCGANConfig
from zoo.registry import DemoHook, ExportSpec, GraphSpec, Predict, TensorSpec, register
from zoo.tasks.base import StepModule
from zoo.tasks.generative import EVAL_SEED, GenerativeImageTask, demo_extra, save_grid
from zoo.tasks.sample_quality import Scored, frechet_distance, score, train_scorer

VAL_SAMPLES = 256


class Generator(nn.Module):
    def __init__(self, channels: int, size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        self.start = (2 * width, size // 4, size // 4)
        self.project = nn.Linear(latent_dim, 2 * width * (size // 4) ** 2, bias=False)
        self.upsample = nn.Sequential(
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Sigmoid())

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(latent).view(-1, *self.start))


class Discriminator(nn.Module):
    def __init__(self, channels: int, size: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * (size // 4) ** 2, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image)


class DCGANNet(nn.Module):
    """forward(latent) -> generated image; ``discriminator`` is trained alongside and saved with it."""

    def __init__(self, channels: int, size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        self.generator = Generator(channels, size, width, latent_dim)
        self.discriminator = Discriminator(channels, size, width)
        for module in self.modules():  # the paper's initialisation: N(0, 0.02) weights, BatchNorm scale N(1, 0.02)
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.generator(latent)


class GANStage(StepModule):
    """Manual optimisation: a discriminator step, then a generator step, per batch of real images. Batches,
    latent draws and the step count are functions of (seed, batch index), so a resumed run is exact.
    Model selection: the Fréchet distance in pixel space between generated and validation images."""

    monitor = "val/pixel_fd"
    monitor_mode = "min"

    def __init__(self, model: DCGANNet, task: DCGAN) -> None:
        super().__init__(model, task.config)
        self.automatic_optimization = False
        self.task = task
        self.train_rows = task.data.splits["train"]
        self.val_x = task.split_images("val")
        self.val_latent = torch.from_numpy(task.latent_draw(VAL_SAMPLES, EVAL_SEED + 1))

    def steps_per_epoch(self) -> int:
        return self.rows_steps(len(self.train_rows))

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        cfg = self.config
        betas = (cfg.beta1, 0.999)
        return [torch.optim.Adam(self.model.discriminator.parameters(), lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay),
                torch.optim.Adam(self.model.generator.parameters(), lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)]

    def _step(self, optimizer: Any, loss: torch.Tensor, module: nn.Module) -> None:
        optimizer.zero_grad()
        self.manual_backward(loss)
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.grad_clip)
        optimizer.step()

    def training_step(self, batch: Any, batch_idx: int) -> None:
        cfg = self.config
        opt_d, opt_g = self.optimizers()
        rank, _ = self.world()
        step = self.global_step // 2  # both optimisers step once per batch; Lightning counts each
        picked = self.train_rows[self.batch_positions(len(self.train_rows), step)[1]]
        gen = step_generator(cfg.seed, step, rank)
        real = self.task.data.images[picked].to(self.device)
        latent = torch.randn(len(real), cfg.latent_dim, generator=gen).to(self.device)
        net = self.model
        fake = net.generator(latent)
        real_logits, fake_logits = net.discriminator(real), net.discriminator(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, 1 - cfg.label_smoothing))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        self._step(opt_d, loss_d, net.discriminator)
        fooled = net.discriminator(fake)
        loss_g = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))  # non-saturating generator loss
        self._step(opt_g, loss_g, net.generator)
        self.log("train/loss_d", loss_d, prog_bar=True, batch_size=len(real))
        self.log("train/loss_g", loss_g, prog_bar=True, batch_size=len(real))
        self.log("train/d_real", torch.sigmoid(real_logits).mean(), batch_size=len(real))
        self.log("train/d_fake", torch.sigmoid(fake_logits).mean(), batch_size=len(real))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        with torch.no_grad():
            samples = self.model.generator(self.val_latent.to(self.device)).cpu()
        fd = frechet_distance(samples.flatten(1).double().numpy(), self.val_x.flatten(1).double().numpy())
        self.log("val/pixel_fd", fd, prog_bar=True, batch_size=len(self.val_x))


@register
class DCGAN(GenerativeImageTask):
    card = CARD
    Config = DCGANConfig
    config: DCGANConfig

    def build_model(self) -> DCGANNet:
        self.data  # noqa: B018  (loading fills in_channels)
        torch.manual_seed(self.config.seed)
        cfg = self.config
        return DCGANNet(self.in_channels(), cfg.image_size, cfg.width, cfg.latent_dim)

    def inputs(self) -> list[TensorSpec]:
        return [self.latent_spec()]

    def outputs(self) -> list[TensorSpec]:
        return [self.image_spec("image", "generated pixel intensities in [0, 1], ink = 1 (see preprocessing to display)")]

    def export_spec(self) -> ExportSpec:
        """The generator (main graph), plus the discriminator (image -> real/fake logit) as a graph of its own."""
        image = self.image_spec("image", "image to judge, pixel/255 with ink = 1")
        logit = TensorSpec("real_logit", ("batch", 1), meaning="logits", description="logit that the image is a real one")
        return ExportSpec(graphs=(GraphSpec("model"), GraphSpec("discriminator", module="discriminator",
                                                                inputs=(image,), outputs=(logit,))), atol=1e-4)

    def training_module(self, model: nn.Module) -> GANStage:
        return GANStage(model, self)  # type: ignore[arg-type]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        seed = {"train": 1, "val": 2, "test": 3}.get(split, 4)
        return {"latent": self.latent_draw(n, EVAL_SEED + 10 * seed)}

    def graph_example_inputs(self, graph: GraphSpec, n: int, split: str = "test") -> dict[str, np.ndarray]:
        """The discriminator judges real images of the split; the generator takes latent draws."""
        if graph.name == "discriminator":
            return {"image": self.data.images[self.pick_rows(n, split)].numpy()}
        return super().graph_example_inputs(graph, n, split)

    # -- evaluation ------------------------------------------------------------------------------------
    def scorer_and_references(self) -> tuple[Any, Scored, dict[str, float]]:
        """The scoring classifier (trained once per instance), the training images' scores and the
        reference figures: real held-out images and an untrained generator, against the training images."""
        if getattr(self, "_scoring", None) is None:
            cfg = self.config
            train_x, targets = self.split_images("train"), self.data.targets[self.data.splits["train"]]
            scorer = train_scorer(train_x, targets, len(self.data.classes), epochs=cfg.scorer_epochs, seed=cfg.seed)
            reference = score(scorer, train_x)
            test_rows = self.data.splits["test"]
            real = score(scorer, self.data.images[test_rows])
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                untrained = self.build_model().generator.eval()(torch.from_numpy(self.latent_draw(len(test_rows), EVAL_SEED + 3)))
            blank = score(scorer, untrained)
            figures = {
                "test/scorer_acc": float(np.mean(real.probabilities.argmax(1) == self.data.targets[test_rows])),
                "test/fd_real": frechet_distance(real.features, reference.features),
                "test/fd_untrained": frechet_distance(blank.features, reference.features),
                "test/confidence_real": real.confidence(), "test/coverage_real": real.coverage(),
                "test/confidence_untrained": blank.confidence(), "test/coverage_untrained": blank.coverage(),
            }
            self._scoring = (scorer, reference, figures)
        return self._scoring

    def evaluate(self, predict: Predict) -> dict[str, float]:
        """As many generated images as the test split has, scored against the training images."""
        scorer, reference, figures = self.scorer_and_references()
        n = len(self.data.splits["test"])
        samples = predict({"latent": self.latent_draw(n, EVAL_SEED + 3)})[0]
        scored = score(scorer, samples)
        fd = frechet_distance(scored.features, reference.features)
        skill = 1.0 - (fd - figures["test/fd_real"]) / max(figures["test/fd_untrained"] - figures["test/fd_real"], 1e-12)
        return {"test/fd_skill": skill, "test/fd": fd, "test/confidence": scored.confidence(), "test/coverage": scored.coverage(),
                **figures, "test/samples": float(n)}

    def eval_report(self, metrics: dict[str, float]) -> list[str]:
        if "test/fd" not in metrics:
            return []
        return [f"Fréchet distance to the training images (scoring-classifier features): generator {metrics['test/fd']:.2f}, "
                f"real held-out images {metrics['test/fd_real']:.2f}, untrained generator {metrics['test/fd_untrained']:.2f}; "
                f"class coverage {metrics['test/coverage']:.2f} (real {metrics['test/coverage_real']:.2f})."]

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        """samples.png: a grid of generated images from fixed latent draws (real_images.png beside it)."""
        self.write_splits(run_dir)
        g = self.config.grid
        with torch.no_grad():
            samples = model.cpu().eval()(torch.from_numpy(self.latent_draw(g * g, EVAL_SEED + 7))).numpy()
        save_grid(samples, run_dir / "samples.png", g)
        save_grid(self.split_images("test")[:g * g].numpy(), run_dir / "real_images.png", g)

    def demo(self) -> DemoHook | None:
        return DemoHook(kind="image-generator", title=f"{self.name}: generative adversarial network",
                        description="Pick a seed and press Generate: a latent point drawn from N(0, I) and the generator's "
                                    "image; the sliders move the first latent dimensions.",
                        extra=demo_extra(self.config.latent_dim, generated_output="image"))
