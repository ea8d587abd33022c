"""The cats-vs-dogs progression recipe (benchmarks/catsdogs_progression.py) on a generated two-class photo folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.catsdogs_progression import STAGES, main, make_photo_folder
from zoo.errors import ZooError


def test_generated_folder_is_two_classes_of_rgb_photos(tmp_path: Path) -> None:
    root = make_photo_folder(tmp_path / "pets", per_class=3, size=48, seed=1)
    assert sorted(p.name for p in root.iterdir()) == ["cats", "dogs"]
    files = sorted(root.rglob("*.jpg"))
    assert len(files) == 6
    pixels = [np.asarray(Image.open(f)) for f in files]
    assert all(p.shape == (48, 48, 3) for p in pixels)
    assert min(float(p.std()) for p in pixels) > 5  # textured, not flat
    again = make_photo_folder(tmp_path / "again", per_class=3, size=48, seed=1)
    assert np.array_equal(np.asarray(Image.open(again / "cats" / "cat.0.jpg")), pixels[0])  # seeded


def test_progression_trains_three_stages_and_writes_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "pets"
    out = tmp_path / "report"
    rows = main([str(folder), "--synthetic", "20", "--image-size", "32", "--epochs", "1", "--batch-size", "16",
                 "--backbone", "lenet5", "--hidden", "32", "--source", "rotnet", "--out", str(out)])
    assert [r["stage"] for r in rows] == list(STAGES)
    basic, augmented, transfer = rows
    assert (basic["augment"], basic["dropout"]) == (False, 0.0) and (augmented["augment"], augmented["dropout"]) == (True, 0.5)
    assert transfer["init_from"] == str(out / "runs" / "rotnet") and all(0 <= r["test_acc"] <= 1 for r in rows)
    config = json.loads((out / "runs" / "stage3" / "config.json").read_text())
    assert config["config"]["class_names"] == ["cats", "dogs"] and config["config"]["augment_flip"] is True
    table = (out / "catsdogs_progression.md").read_text()
    assert all(stage in table for stage in STAGES) and "rotnet on the folder" in table
    assert json.loads((out / "catsdogs_progression.json").read_text())["rows"][2]["stage"] == "transfer"


def test_a_folder_that_is_not_there_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="does not exist") as err:
        main([str(tmp_path / "missing"), "--image-size", "32", "--epochs", "1", "--backbone", "lenet5", "--source", "rotnet",
              "--out", str(tmp_path / "out")])
    assert "\n" not in str(err.value)
