"""Label noise for studying noisy-label learning, and the rules of negative learning (Kim et al., 2019).

Noise injection is exact and seeded: a symmetric rate ``r`` corrupts exactly ``round(r * n)`` labels,
each to a uniformly drawn *other* class (the paper's "symm-exc"); an asymmetric rate flips exactly
``round(r * n_c)`` labels of every source class ``c`` to its look-alike class (MNIST: 2->7, 3->8,
5<->6, 7->1; CIFAR-10: truck->automobile, bird->airplane, deer->horse, cat<->dog; other data sets:
the next class). Which labels were corrupted is known, so noisy-label detection can be scored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from zoo import io as zio
from zoo.errors import ZooError

if TYPE_CHECKING:
    import torch

NoiseType = Literal["symmetric", "asymmetric"]

DIGIT_FLIPS = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}  # Kim et al. (and Patrini et al.) MNIST asymmetric noise
CIFAR10_FLIPS = {"truck": "automobile", "bird": "airplane", "deer": "horse", "cat": "dog", "dog": "cat"}


def check_noise_rate(rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ZooError(f"noise rate {rate} is outside [0, 1); pass the fraction of labels to corrupt, e.g. --noise-rate 0.4.")


def asymmetric_flips(classes: Sequence[str]) -> dict[int, int]:
    """Source class -> the class its labels are flipped to, for class-dependent noise."""
    if list(classes) == [str(d) for d in range(10)]:
        return dict(DIGIT_FLIPS)
    index = {name: i for i, name in enumerate(classes)}
    if set(CIFAR10_FLIPS) | set(CIFAR10_FLIPS.values()) <= set(index):
        return {index[src]: index[dst] for src, dst in CIFAR10_FLIPS.items()}
    return {c: (c + 1) % len(classes) for c in range(len(classes))}


def inject_noise(labels: np.ndarray, num_classes: int, rate: float, kind: NoiseType, seed: int | Sequence[int],
                 flips: dict[int, int] | None = None) -> np.ndarray:
    """The given (noisy) labels: a corrupted copy of ``labels``; a pure function of its arguments."""
    check_noise_rate(rate)
    if num_classes < 2:
        raise ZooError("label noise needs at least 2 classes; use a data set with more classes.")
    rng = np.random.default_rng(seed)
    given = np.array(labels, dtype=np.int64, copy=True)
    if kind == "symmetric":
        chosen = rng.choice(len(given), size=round(rate * len(given)), replace=False)
        given[chosen] = (given[chosen] + rng.integers(1, num_classes, size=len(chosen))) % num_classes
        return given
    if kind != "asymmetric":
        raise ZooError(f"unknown noise type '{kind}'; use symmetric or asymmetric.")
    for source, target in sorted((flips or {c: (c + 1) % num_classes for c in range(num_classes)}).items()):
        members = np.flatnonzero(labels == source)  # by the true label, so swaps (5<->6) stay exact
        chosen = rng.choice(members, size=round(rate * len(members)), replace=False)
        given[chosen] = target
    return given


def complementary_labels(given: np.ndarray, num_classes: int, rng: np.random.Generator, per_sample: int = 1) -> np.ndarray:
    """(N, per_sample) labels drawn uniformly among the K-1 classes other than each given label."""
    offsets = rng.integers(1, num_classes, size=(len(given), per_sample))
    return (given[:, None] + offsets) % num_classes


def log_one_minus_softmax(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """log(1 - p_c) for the classes ``classes`` (B, L): exact as p_c -> 1, where log1p(-p) is not."""
    import torch

    expanded = logits.unsqueeze(1).expand(-1, classes.shape[1], -1)  # (B, L, K)
    masked = expanded.scatter(2, classes.unsqueeze(2), float("-inf"))
    return torch.logsumexp(masked, dim=2) - torch.logsumexp(logits, dim=1, keepdim=True)


def negative_learning_loss(logits: torch.Tensor, complementary: torch.Tensor, selected: torch.Tensor | None = None) -> torch.Tensor:
    """Kim et al.'s NL loss: -sum_l log(1 - p_{complementary_l}) per sample, averaged over the selected samples."""
    per_sample = -log_one_minus_softmax(logits.float(), complementary).sum(dim=1)
    return masked_mean(per_sample, selected)


def masked_mean(values: torch.Tensor, selected: torch.Tensor | None) -> torch.Tensor:
    if selected is None:
        return values.mean()
    weight = selected.to(values.dtype)
    # with nothing selected this is 0 with a graph attached, so the optimiser step stays valid
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def given_label_confidence(logits: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
    """p(given label | x) under the network: the score that separates clean from corrupted labels."""
    return logits.float().softmax(dim=1).gather(1, given.unsqueeze(1)).squeeze(1)


def selective_nl_mask(confidence: torch.Tensor | np.ndarray, num_classes: int) -> torch.Tensor | np.ndarray:
    """SelNL trains only on samples whose given-label confidence exceeds chance, 1/K."""
    return confidence > 1.0 / num_classes


def selective_pl_mask(confidence: torch.Tensor | np.ndarray, gamma: float) -> torch.Tensor | np.ndarray:
    """SelPL trains with the given label only where the network already trusts it (> gamma)."""
    return confidence > gamma


def detection_scores(flagged: np.ndarray, corrupted: np.ndarray) -> dict[str, float]:
    """Precision and recall of flagging corrupted labels. With nothing flagged (or nothing corrupted)
    precision (recall) is 1.0: no false alarm (nothing missed), sklearn's zero_division=1."""
    hits = float(np.sum(flagged & corrupted))
    precision = hits / flagged.sum() if flagged.any() else 1.0
    recall = hits / corrupted.sum() if corrupted.any() else 1.0
    return {"precision": float(precision), "recall": float(recall)}


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """A CSV file written atomically (no half-written table if the run is killed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return zio.write_text(path, buffer.getvalue())


def read_csv(path: Path) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
