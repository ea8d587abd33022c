"""Tables for `mlp-heads` (torch-free): built-in scikit-learn data sets or a user CSV, and a seeded split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ZooError

CLASS_HEADS = ("binary", "multiclass", "ordinal")
NATURAL_HEAD = {"iris": "multiclass", "wine": "multiclass", "breast-cancer": "binary", "diabetes": "regression",
                "diabetes-grades": "ordinal", "linnerud": "multitask", "multilabel-demo": "multilabel"}


@dataclass
class HeadTable:
    """Features, targets in the head's form and a seeded train/val/test split."""

    name: str
    head: str
    features: np.ndarray  # float32 (N, F)
    targets: np.ndarray  # int64 (N,) for class heads, float32 (N, K) for multilabel/regression/multitask
    names: list[str]  # classes (class heads) or label/target names
    feature_names: list[str]
    splits: dict[str, np.ndarray]

    def rows(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        idx = self.splits[split]
        return self.features[idx], self.targets[idx]

    @property
    def n_outputs(self) -> int:
        if self.head == "binary":
            return 1
        if self.head == "multiclass":
            return len(self.names)
        if self.head == "ordinal":
            return len(self.names) - 1  # one cumulative "y > k" unit per threshold
        return self.targets.shape[1]


def _builtin(name: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str], bool]:
    """(features, raw targets, target names/classes, feature names, targets are classes)."""
    from sklearn import datasets

    if name in ("iris", "wine", "breast-cancer"):
        loader = {"iris": datasets.load_iris, "wine": datasets.load_wine, "breast-cancer": datasets.load_breast_cancer}[name]
        bunch = loader()
        return bunch.data, bunch.target, [str(c) for c in bunch.target_names], list(map(str, bunch.feature_names)), True
    if name in ("diabetes", "diabetes-grades"):
        bunch = datasets.load_diabetes()
        if name == "diabetes":
            return bunch.data, bunch.target[:, None], ["progression"], list(bunch.feature_names), False
        edges = np.quantile(bunch.target, [0.2, 0.4, 0.6, 0.8])  # 5 ordered grades of equal size
        return bunch.data, np.digitize(bunch.target, edges), [f"grade {i}" for i in range(5)], list(bunch.feature_names), True
    if name == "linnerud":
        bunch = datasets.load_linnerud()
        return bunch.data, bunch.target, list(bunch.target_names), list(bunch.feature_names), False
    if name == "multilabel-demo":
        x, y = datasets.make_multilabel_classification(n_samples=600, n_features=12, n_classes=4, n_labels=2,
                                                       random_state=20171026)
        return x, y, [f"label {i}" for i in range(4)], [f"x{i}" for i in range(12)], False
    raise ZooError(f"unknown data set '{name}' for mlp-heads; use one of {', '.join(NATURAL_HEAD)} or a CSV file with --target.")


def _csv(path: str, targets: list[str], head: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str], bool]:
    import pandas as pd

    from zoo.data.tabular import read_csv

    frame = read_csv(Path(path).expanduser())
    if not targets:
        raise ZooError(f"{path} needs --target naming its target column(s) (comma-separated); its columns are: "
                       f"{', '.join(map(str, frame.columns[:12]))}.")
    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise ZooError(f"target column '{missing[0]}' is not in {path}; its columns are: {', '.join(map(str, frame.columns[:12]))}.")
    feats = frame.drop(columns=targets)
    for column in feats.columns:
        if not pd.api.types.is_numeric_dtype(feats[column]) and not pd.api.types.is_bool_dtype(feats[column]):
            raise ZooError(f"column '{column}' of {path} is not numeric; encode it as numbers or drop the column.")
    if feats.isna().any().any():
        column = feats.columns[int(np.argmax(feats.isna().any().to_numpy()))]
        raise ZooError(f"column '{column}' of {path} has missing values; fill or drop them first.")
    y = frame[targets]
    if y.isna().any().any():
        raise ZooError(f"target column(s) {', '.join(targets)} of {path} have empty values; drop those rows or fill them.")
    x = feats.to_numpy(dtype=np.float64)
    _require_finite(x, list(map(str, feats.columns)), path)
    if head in ("multilabel", "regression", "multitask") or (head == "auto" and len(targets) > 1):
        if head == "multilabel":
            values = y.to_numpy()
            bad = ~np.isin(values, [0, 1])
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise ZooError(f"multilabel target column '{targets[c]}' of {path} is not k-hot (row {r + 2} holds "
                               f"{values[r, c]!r}); each label column must hold only 0 or 1.")
        for column in targets:
            if not pd.api.types.is_numeric_dtype(y[column]):
                raise ZooError(f"target column '{column}' of {path} is not numeric; --head {head} needs numbers.")
        values = y.to_numpy(dtype=np.float64)
        _require_finite(values, list(targets), path)
        return x, values, list(targets), list(map(str, feats.columns)), False
    if len(targets) > 1:
        raise ZooError(f"--head {head} takes one target column, got {len(targets)}; use --head multilabel, regression or multitask.")
    labels = y[targets[0]].astype(str)
    classes = sorted(set(labels), key=lambda t: (0, float(t), "") if _is_number(t) else (1, 0.0, t))
    index = {c: i for i, c in enumerate(classes)}
    return x, np.array([index[v] for v in labels]), classes, list(map(str, feats.columns)), True


def _require_finite(values: np.ndarray, columns: list[str], path: str) -> None:
    """inf, NaN or values too large for float32 training (1e308) are refused with the cell they sit in."""
    from zoo.data.tabular import MAX_ABS_VALUE

    bad = ~np.isfinite(values) | (np.abs(np.nan_to_num(values)) > MAX_ABS_VALUE)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ZooError(f"column '{columns[c]}' of {path} holds {values[r, c]!r} in row {r + 2}; values must be finite "
                       f"and at most {MAX_ABS_VALUE:g} in size: fix or drop that row.")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_table(data: str, targets: list[str], head: str, *, val_size: float, test_size: float, seed: int) -> HeadTable:
    """The configured table in the form ``head`` needs, split (stratified for class heads) with ``seed``."""
    from sklearn.model_selection import train_test_split

    is_csv = data.lower().endswith(".csv")
    if targets and not is_csv:
        raise ZooError(f"--target applies to CSV files; the built-in data set {data} has its own targets, so drop --target.")
    x, y, names, feature_names, is_classes = _csv(data, targets, head) if is_csv else _builtin(data)
    natural = ("multiclass" if len(names) > 2 else "binary") if is_classes else ("regression" if y.shape[1] == 1 else "multitask")
    if not is_csv:
        natural = NATURAL_HEAD[data]
    head = natural if head == "auto" else head
    if is_classes and head not in CLASS_HEADS:
        raise ZooError(f"--head {head} needs {'k-hot label' if head == 'multilabel' else 'numeric target'} columns, "
                       f"but {data} has one class column; use --head {natural} (or binary/multiclass/ordinal).")
    if not is_classes and head in CLASS_HEADS:
        raise ZooError(f"--head {head} needs one class column, but {data} has numeric targets; use --head {natural}.")
    if head == "binary" and len(names) != 2:
        raise ZooError(f"--head binary needs exactly 2 classes, {data} has {len(names)}; use --head multiclass.")
    if head == "multilabel" and not np.isin(y, [0, 1]).all():
        raise ZooError(f"{data} has targets that are not k-hot (0/1); --head multilabel needs one 0/1 column per label.")
    if head == "multitask" and y.shape[1] < 2:
        raise ZooError(f"--head multitask needs at least 2 target columns, {data} has 1; use --head regression.")
    n = len(x)
    stratify = y if is_classes else None
    idx = np.arange(n)
    try:
        rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify)
        train, val = train_test_split(rest, test_size=val_size / (1 - test_size), random_state=seed,
                                      stratify=None if stratify is None else stratify[rest])
    except ValueError as exc:
        raise ZooError(f"{data} is too small for a {val_size:.0%}/{test_size:.0%} validation/test split ({exc}); "
                       "add rows or lower --val-size/--test-size.") from None
    targets_arr = y.astype(np.int64) if is_classes else y.astype(np.float32)
    return HeadTable(data if not is_csv else Path(data).name, head, x.astype(np.float32), targets_arr, names,
                     feature_names, {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)})
