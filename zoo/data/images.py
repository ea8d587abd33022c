"""Image data sets as in-memory uint8 arrays with class names and class groups (e.g. alphabets)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.errors import OfflineError, ZooError, first_line

EMBEDDED_OMNIGLOT = Path(__file__).parent / "omniglot"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class ImageDataset:
    """Images of one size. ``groups[c]`` is the super-class of class ``c`` (an alphabet for Omniglot),
    so splits can hold out whole groups; ``split_hint[c]`` is a source-given split ("train"/"test")."""

    name: str
    images: np.ndarray  # uint8, (N, H, W) grayscale or (N, H, W, 3) RGB
    targets: np.ndarray  # int64, (N,)
    classes: list[str]
    groups: list[str] | None = None
    split_hint: list[str] | None = None
    license: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.images) == 0:
            raise ZooError(f"data set {self.name} has no images; point it at a folder with images in class sub-folders.")
        if len(self.images) != len(self.targets):
            raise ValueError("images and targets differ in length")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def indices_of(self, class_ids: Iterable[int]) -> np.ndarray:
        wanted = np.zeros(self.num_classes, dtype=bool)
        wanted[list(class_ids)] = True
        return np.flatnonzero(wanted[self.targets])


def decode_image(data: bytes | Path, *, size: tuple[int, int] | None, color: str, origin: str) -> np.ndarray:
    """Decode one image file to a uint8 array of ``size`` (H, W) in mode ``color`` ("L" or "RGB").

    Decoding is the demo's (:func:`demos.inputs.load_image`: 16-bit and float images rescaled, transparency
    on white, decompression bombs and truncated files refused), then the same convert and bilinear resize
    as the demo's ``image_to_array``, so training and serving see the same pixels."""
    from demos.inputs import InputError, load_image

    try:
        img = load_image(data, "image")
    except InputError as exc:
        reason = str(exc).split(": ", 1)[-1].rstrip(".")
        raise ZooError(f"corrupt or unreadable image {origin} ({reason}); remove or replace that file.") from None
    with img:
        img = img.convert(color)
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def _from_class_folders(name: str, entries: dict[tuple[str, str], list[tuple[str, bytes | Path]]], *,
                        size: tuple[int, int] | None, color: str, license: str = "",
                        split_hint: dict[tuple[str, str], str] | None = None) -> ImageDataset:
    """Build a data set from {(group, class): [(origin, data), ...]} in sorted, reproducible order."""
    images, targets, classes, groups, hints = [], [], [], [], []
    for class_id, key in enumerate(sorted(entries)):
        group, cls = key
        classes.append(f"{group}/{cls}" if group else cls)
        groups.append(group)
        hints.append((split_hint or {}).get(key, ""))
        for origin, data in sorted(entries[key], key=lambda e: e[0]):
            images.append(decode_image(data, size=size, color=color, origin=origin))
            targets.append(class_id)
    if not images:
        raise ZooError(f"data set {name} has no images; point it at a folder with images in class sub-folders.")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ZooError(f"images in {name} differ in size ({sorted(shapes)[:3]}...); give the model an input size so they are resized.")
    return ImageDataset(name, np.stack(images), np.asarray(targets, dtype=np.int64), classes,
                        groups if any(groups) else None, hints if any(hints) else None, license)


def load_omniglot_minimal(data_dir: str | Path | None = None, *, size: tuple[int, int] | None = None,
                          color: str = "L") -> ImageDataset:
    """The embedded Omniglot minimal background splits. Greek and Latin appear in both zips; kept once."""
    entries: dict[tuple[str, str], dict[str, tuple[str, bytes]]] = {}
    for zpath in sorted(EMBEDDED_OMNIGLOT.glob("images_background_small*.zip")):
        with zipfile.ZipFile(zpath) as zf:
            for member in zf.namelist():
                if not member.endswith(".png"):
                    continue
                _, alphabet, character, filename = member.split("/")
                # the same drawing appears in both zips: key by file name to keep it once
                entries.setdefault((alphabet, character), {})[filename] = (f"{zpath.name}:{member}", zf.read(member))
    if not entries:
        raise ZooError(f"the embedded Omniglot zips are missing from {EMBEDDED_OMNIGLOT}; reinstall zoo.")
    return _from_class_folders("omniglot-minimal", {k: list(v.values()) for k, v in entries.items()},
                               size=size, color=color, license="MIT (Brenden Lake, github.com/brendenlake/omniglot)")


def _download_hint(name: str, data_dir: Path, layout: str, exc: Exception) -> OfflineError:
    reason = first_line(exc, limit=160)
    return OfflineError(f"could not download {name} into {data_dir} ({reason}); without network, place the files "
                        f"there yourself ({layout}) and pass --data-dir {data_dir}.")


def _default_data_dir(data_dir: str | Path | None) -> Path:
    import os

    return Path(data_dir or os.environ.get("ZOO_DATA_DIR") or Path.home() / ".cache" / "zoo" / "data").expanduser()


def load_omniglot_full(data_dir: str | Path | None = None, *, size: tuple[int, int] | None = None,
                       color: str = "L") -> ImageDataset:
    """Full Omniglot: background alphabets (train hint) and evaluation alphabets (test hint).

    Reads ``DATA_DIR/omniglot-py/images_{background,evaluation}`` when present; otherwise downloads them
    with torchvision's downloader (which verifies the zips' checksums)."""
    root = _default_data_dir(data_dir)
    entries: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    hints: dict[tuple[str, str], str] = {}
    for background in (True, False):
        folder = root / "omniglot-py" / ("images_background" if background else "images_evaluation")
        if not (folder.is_dir() and any(folder.glob("*/*/*.png"))):
            from torchvision.datasets import Omniglot

            try:
                Omniglot(str(root), background=background, download=True)
            except Exception as exc:  # torchvision raises URLError, RuntimeError, ... when offline
                raise _download_hint("omniglot", root, "omniglot-py/images_background/<alphabet>/<character>/*.png "
                                     "and omniglot-py/images_evaluation/...", exc) from None
        for png in folder.glob("*/*/*.png"):
            key = (png.parent.parent.name, png.parent.name)
            entries.setdefault(key, []).append((str(png), png))
            hints[key] = "train" if background else "test"
    return _from_class_folders("omniglot", entries, size=size, color=color, license="MIT (Brenden Lake)", split_hint=hints)


def load_mnist(data_dir: str | Path | None = None, *, size: tuple[int, int] | None = None, color: str = "L") -> ImageDataset:
    """MNIST via torchvision (train split -> "train" hint rows kept in ``extra['train_mask']``)."""
    from torchvision.datasets import MNIST

    root = _default_data_dir(data_dir)
    parts = []
    for train in (True, False):
        try:
            parts.append(MNIST(str(root), train=train, download=True))
        except Exception as exc:
            raise _download_hint("mnist", root, "MNIST/raw/train-images-idx3-ubyte and the other three idx files", exc) from None
    images = np.concatenate([p.data.numpy() for p in parts]).astype(np.uint8)
    targets = np.concatenate([p.targets.numpy() for p in parts]).astype(np.int64)
    if size is not None and images.shape[1:] != tuple(size):
        images = np.stack([np.asarray(Image.fromarray(im).resize((size[1], size[0]), Image.Resampling.BILINEAR)) for im in images])
    if color == "RGB":
        images = np.repeat(images[..., None], 3, axis=-1)
    train_mask = np.zeros(len(images), dtype=bool)
    train_mask[: len(parts[0].data)] = True
    return ImageDataset("mnist", images, targets, [str(i) for i in range(10)], license="CC BY-SA 3.0",
                        extra={"train_mask": train_mask})


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def load_cifar10(data_dir: str | Path | None = None, *, size: tuple[int, int] | None = None, color: str = "RGB") -> ImageDataset:
    """CIFAR-10 from its *binary* distribution (raw label + pixel bytes), never the pickled one:
    ``DATA_DIR/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin``, downloaded (md5-checked) when absent."""
    root = _default_data_dir(data_dir)
    folder = root / "cifar-10-batches-bin"
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    if not all((folder / n).is_file() for n in names):
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive(CIFAR10_URL, str(root), md5=CIFAR10_MD5)
        except Exception as exc:
            raise _download_hint("cifar10", root, "cifar-10-batches-bin/data_batch_1.bin ... test_batch.bin "
                                 "(the binary version)", exc) from None
    records = []
    for n in names:
        raw = np.fromfile(folder / n, dtype=np.uint8)
        if raw.size % 3073:
            raise ZooError(f"{folder / n} is not a CIFAR-10 binary batch (size {raw.size} is not a multiple of 3073); re-download it.")
        records.append(raw.reshape(-1, 3073))
    table = np.concatenate(records)
    images = table[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if color == "L" or (size is not None and images.shape[1:3] != tuple(size)):
        images = np.stack([np.asarray(Image.fromarray(im).convert(color).resize((size or (32, 32))[::-1], Image.Resampling.BILINEAR))
                           for im in images])
    train_mask = np.zeros(len(images), dtype=bool)
    train_mask[: sum(len(r) for r in records[:5])] = True
    return ImageDataset("cifar10", np.ascontiguousarray(images), table[:, 0].astype(np.int64), CIFAR10_CLASSES,
                        license="MIT-style (Krizhevsky 2009)", extra={"train_mask": train_mask})


def load_digits(data_dir: str | Path | None = None, *, size: tuple[int, int] | None = None, color: str = "L") -> ImageDataset:
    """scikit-learn's bundled 8x8 digits, rescaled from 0..16 to 0..255."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = np.clip(bunch.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    if size is not None and images.shape[1:] != tuple(size):
        images = np.stack([np.asarray(Image.fromarray(im).resize((size[1], size[0]), Image.Resampling.BILINEAR)) for im in images])
    if color == "RGB":
        images = np.repeat(images[..., None], 3, axis=-1)
    return ImageDataset("digits", images, bunch.target.astype(np.int64), [str(i) for i in range(10)], license="CC BY 4.0 (UCI ML repository)")


def load_imagefolder(data_dir: str | Path | None = None, *, path: str | None = None,
                     size: tuple[int, int] | None = None, color: str = "L") -> ImageDataset:
    """A user's images: ``ROOT/<class>/<image>`` or ``ROOT/<group>/<class>/<image>`` (two levels: groups)."""
    root = Path(path or data_dir or "")
    if not str(root) or not root.is_dir():
        raise ZooError(f"image folder '{root}' does not exist; use --data imagefolder:PATH with one sub-folder per class.")
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ZooError(f"no images (.png, .jpg, ...) found under {root}; put them in one sub-folder per class.")
    entries: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    for f in files:
        rel = f.relative_to(root).parts
        if len(rel) < 2:
            raise ZooError(f"image {f} sits directly in {root}; move it into a sub-folder named after its class.")
        key = (rel[-3], rel[-2]) if len(rel) >= 3 else ("", rel[-2])
        entries.setdefault(key, []).append((str(f), f))
    return _from_class_folders(f"imagefolder:{root}", entries, size=size, color=color)
