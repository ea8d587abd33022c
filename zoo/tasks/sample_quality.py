"""Offline sample-quality scores for image generators: the Fréchet distance in the feature space of a small
classifier trained on the same data (an offline stand-in for FID's Inception network, which cannot be
downloaded here), and that classifier's confidence and class coverage on the samples.

The classifier is trained at evaluation time, seeded and single-threaded so that every evaluation of a
run (PyTorch, onnxruntime, int8) scores with bit-identical features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

COVERAGE_SHARE = 0.01  # a class is covered when at least this share of the samples falls in it


class Scorer(nn.Module):
    """A small convnet classifier; ``features`` is its 64-d penultimate layer."""

    def __init__(self, channels: int, size: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (size // 4) ** 2, 64), nn.ReLU())
        self.head = nn.Linear(64, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class Scored:
    """Features, class probabilities and the derived statistics of one set of images."""

    features: np.ndarray
    probabilities: np.ndarray

    def confidence(self) -> float:
        return float(self.probabilities.max(1).mean())

    def coverage(self) -> float:
        """Share of the classes that are the top class of at least COVERAGE_SHARE of the images."""
        counts = np.bincount(self.probabilities.argmax(1), minlength=self.probabilities.shape[1])
        return float(np.mean(counts >= COVERAGE_SHARE * len(self.probabilities)))


def train_scorer(images: torch.Tensor, targets: np.ndarray, classes: int, *, epochs: int, seed: int,
                 batch_size: int = 64) -> Scorer:
    """Train the scoring classifier on ``images`` (N, C, H, W in [0, 1]) with Adam, seeded, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same features in every process, whatever its thread count
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
            torch.manual_seed(seed)
            model = Scorer(images.shape[1], images.shape[-1], classes)
            opt = torch.optim.Adam(model.parameters(), lr=2e-3)
            y = torch.from_numpy(np.asarray(targets, dtype=np.int64))
            model.train()
            for epoch in range(epochs):
                order = np.random.default_rng([seed, epoch]).permutation(len(images))
                for start in range(0, len(order), batch_size):
                    rows = torch.from_numpy(order[start:start + batch_size])
                    loss = F.cross_entropy(model(images[rows]), y[rows])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        return model.eval()
    finally:
        torch.set_num_threads(threads)


def score(scorer: Scorer, images: np.ndarray | torch.Tensor) -> Scored:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        with torch.no_grad():
            features = scorer.features(x)
            probabilities = torch.softmax(scorer.head(features), 1)
        return Scored(features.double().numpy(), probabilities.double().numpy())
    finally:
        torch.set_num_threads(threads)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature rows ``a`` and ``b``:
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), with symmetric eigendecompositions."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)
