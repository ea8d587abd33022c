"""Knowledge distillation (`--teacher RUN`) for image classifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import train_tiny
from zoo.errors import ZooError
from zoo.tasks.distill import distillation_loss


def test_loss_mixes_soft_and_hard_targets() -> None:
    torch.manual_seed(0)
    student, teacher, y = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 5, (8,))
    assert distillation_loss(student, teacher, y, 4.0, 0.0) == pytest.approx(F.cross_entropy(student, y).item())
    assert distillation_loss(teacher, teacher, y, 4.0, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    soft = F.kl_div(F.log_softmax(student / 2, 1), F.softmax(teacher / 2, 1), reduction="batchmean") * 4
    assert distillation_loss(student, teacher, y, 2.0, 1.0) == pytest.approx(soft.item(), rel=1e-5)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny("transfer", tmp_path_factory.mktemp("distill") / "teacher", epochs=2)


def test_student_trains_from_teacher(teacher_run: Path, tmp_path: Path) -> None:
    run = train_tiny("transfer", tmp_path / "student", teacher=str(teacher_run), distill_alpha=0.7)
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["test/acc"] > 0.2  # 10 digit classes: well above chance after one epoch
    from safetensors.torch import load_file

    assert not any(k.startswith("teacher") for k in load_file(run / "model.safetensors"))  # the teacher is not saved


def test_teacher_with_other_input_size_is_a_one_line_error(teacher_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="image size") as err:
        train_tiny("transfer", tmp_path / "student", teacher=str(teacher_run), image_size=36)
    assert "\n" not in str(err.value)
