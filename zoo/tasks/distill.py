"""Knowledge distillation for image classifiers (Hinton, Vinyals & Dean 2015): ``--teacher RUN``.

The student's loss is ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE``;
the T^2 keeps the soft-target gradients on the scale of the hard-label ones. The teacher is any
finished zoo image-classifier run on the same classes, image size, channels and normalisation
(it sees the student's exact, augmented batch).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import ZooError


def load_teacher(student: Any) -> nn.Module:
    """The frozen teacher network of ``student`` (an ImageClassificationTask with ``config.teacher``), checked to
    take the student's inputs and predict the student's classes."""
    from zoo import artifacts

    cfg = student.config
    source = artifacts.load(cfg.teacher)
    teacher = source.spec
    if not hasattr(teacher, "mean_std") or not hasattr(teacher.config, "class_names"):
        raise ZooError(f"--teacher {cfg.teacher} holds a '{teacher.name}' model, not an image classifier; pass an image-classifier run.")
    scores = teacher.outputs()[0]
    if scores.meaning != "logits":
        raise ZooError(f"--teacher {cfg.teacher} ('{teacher.name}') outputs {scores.meaning or 'values'} ({scores.name}), "
                       "not logits to soften; pass a run of a logit classifier (transfer, ...).")
    tc = teacher.config
    for what, mine, theirs in (("classes", list(cfg.class_names), list(tc.class_names)),
                               ("image size", cfg.image_size, tc.image_size),
                               ("input channels", cfg.in_channels, tc.in_channels),
                               ("normalisation (mean, std)", student.mean_std(), teacher.mean_std())):
        if mine != theirs:
            raise ZooError(f"--teacher {cfg.teacher} was trained with {what} {theirs!r}, the student uses {mine!r}; "
                           "distil from a teacher trained on the same data and input size.")
    net = source.model.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                      temperature: float, alpha: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """Soft targets at ``temperature`` (weight ``alpha``) plus hard-label cross-entropy (weight ``1 - alpha``)."""
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
    hard = F.cross_entropy(student_logits, targets, label_smoothing=label_smoothing)
    return alpha * soft + (1 - alpha) * hard
