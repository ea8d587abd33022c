"""Named data sets: the embedded Omniglot, scikit-learn digits, user image folders, and the real
torchvision downloaders exercised on local files (no test downloads anything)."""

from __future__ import annotations

import struct
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo import data
from zoo.data.images import EMBEDDED_OMNIGLOT
from zoo.errors import OfflineError, ZooError


def test_embedded_omniglot_keeps_each_drawing_once() -> None:
    ds = data.load("omniglot-minimal", size=(20, 20))
    # Greek (24) and Latin (26) appear in both zips: 292 characters listed, 242 distinct, 20 drawers each
    assert ds.num_classes == 242
    assert ds.images.shape == (242 * 20, 20, 20) and ds.images.dtype == np.uint8
    assert np.bincount(ds.targets).tolist() == [20] * 242
    assert sorted(set(ds.groups)) == ["Balinese", "Early_Aramaic", "Greek", "Japanese_(katakana)", "Korean",
                                      "Latin", "Sanskrit", "Tagalog"]
    assert "MIT License" in (EMBEDDED_OMNIGLOT / "LICENSE").read_text()


def test_digits_are_rescaled_to_bytes() -> None:
    ds = data.load("digits")
    assert ds.images.shape == (1797, 8, 8) and ds.images.max() == 255 and ds.num_classes == 10


def _write_png(path: Path, value: int, size: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)


def test_imagefolder_with_groups_and_resize(tmp_path: Path) -> None:
    for group in ("a", "b"):
        for cls in ("x", "y"):
            for i in range(3):
                _write_png(tmp_path / group / cls / f"{i}.png", 10 * i)
    ds = data.load(f"imagefolder:{tmp_path}", size=(8, 8))
    assert ds.classes == ["a/x", "a/y", "b/x", "b/y"] and ds.groups == ["a", "a", "b", "b"]
    assert ds.images.shape == (12, 8, 8)


def test_imagefolder_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="no images"):
        data.load(f"imagefolder:{tmp_path}")
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ZooError, match="corrupt or unreadable image .*broken.png"):
        data.load(f"imagefolder:{tmp_path}")
    with pytest.raises(ZooError, match="unknown data set"):
        data.load("no-such-data")


def _write_idx(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype_code = {np.uint8: 0x08}[array.dtype.type]
    header = struct.pack(">HBB", 0, dtype_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def test_mnist_downloader_reads_local_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _write_idx(tmp_path / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        _write_idx(tmp_path / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    ds = data.load("mnist", data_dir=tmp_path)
    assert ds.images.shape == (40, 28, 28) and ds.extra["train_mask"].sum() == 30


def test_cifar10_reads_the_binary_batches(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, (4, 1), dtype=np.uint8)
        (folder / name).write_bytes(np.hstack([labels, rng.integers(0, 255, (4, 3072), dtype=np.uint8)]).tobytes())
    ds = data.load("cifar10", data_dir=tmp_path)
    assert ds.images.shape == (24, 32, 32, 3) and ds.extra["train_mask"].sum() == 20
    first = np.fromfile(folder / "data_batch_1.bin", dtype=np.uint8)[:3073]
    assert ds.targets[0] == first[0] and np.array_equal(ds.images[0][..., 0].ravel(), first[1:1025])  # red plane
    gray = data.load("cifar10", data_dir=tmp_path, size=(16, 16), color="L")
    assert gray.images.shape == (24, 16, 16)


def test_full_omniglot_reads_extracted_folders(tmp_path: Path) -> None:
    with zipfile.ZipFile(EMBEDDED_OMNIGLOT / "images_background_small1.zip") as zf:
        members = [m for m in zf.namelist() if m.endswith(".png") and ("/Greek/character0" in m)]
        for m in members:
            _, alphabet, char, name = m.split("/")
            for split in ("images_background", "images_evaluation"):
                target = tmp_path / "omniglot-py" / split / (alphabet if split == "images_background" else "Greek2") / char / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(m))
    ds = data.load("omniglot", data_dir=tmp_path, size=(16, 16))
    assert ds.num_classes == 18 and set(ds.split_hint) == {"train", "test"}


def test_downloaders_fail_offline_with_a_data_dir_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    for name in ("mnist", "omniglot", "cifar10"):
        with pytest.raises(OfflineError, match=f"could not download {name}.*--data-dir"):
            data.load(name, data_dir=tmp_path / name)
