"""Tabular classification data sets: numeric features, one class label per row.

Built in: ``ringnorm`` and ``madelon-like`` (generated, seeded), scikit-learn's bundled ``breast-cancer``,
``wine`` and ``iris``, the UCI ``mouse-protein`` table (downloaded), and any user CSV (``--data FILE.csv
--target COLUMN``). Every loader returns a validated :class:`TabularDataset`; bad tables raise a
one-line ``ZooError`` naming the problem and the fix. :func:`stratified_split` makes the seeded
train/val/test split.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import OfflineError, ZooError

DATA_SEED = 20190711  # the generated tables are fixed data sets, independent of the training seed

MOUSE_PROTEIN_FILE = "Data_Cortex_Nuclear"
MOUSE_PROTEIN_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/00342/Data_Cortex_Nuclear.xls"
MOUSE_PROTEIN_META = ("MouseID", "Genotype", "Treatment", "Behavior")  # not features: they spell out the class
MOUSE_PROTEIN_TARGET = "class"


@dataclass
class TabularDataset:
    """Rows of numeric features with integer class targets. ``features`` holds NaN only where the
    loader was allowed to keep missing values (``impute``); the model fills them from training rows."""

    name: str
    features: np.ndarray  # float64 (N, F)
    targets: np.ndarray  # int64 (N,), indices into classes
    classes: list[str]
    feature_names: list[str]
    license: str = ""
    impute: bool = False  # missing values allowed (to be filled with training-split medians)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_missing(self) -> bool:
        return bool(np.isnan(self.features).any())


# -- validation shared by every loader ---------------------------------------------------------------

MAX_ABS_VALUE = 1e30  # feature values beyond this overflow float32 after scaling (1e308, inf)


def _check_table(ds: TabularDataset, target: str) -> TabularDataset:
    if ds.features.shape[1] < 2:
        raise ZooError(f"{ds.name} has {ds.features.shape[1]} numeric feature column(s); DeepInsight-style image "
                       "transforms need at least 2, so add feature columns.")
    if ds.num_classes < 2:
        only = ds.classes[0] if ds.classes else "none"
        raise ZooError(f"target column '{target}' of {ds.name} has a single class ('{only}'); classification "
                       "needs rows of at least two classes.")
    extreme = np.isinf(ds.features) | (np.abs(np.nan_to_num(ds.features)) > MAX_ABS_VALUE)
    if extreme.any():
        row, col = (int(i) for i in np.argwhere(extreme)[0])
        raise ZooError(f"column '{ds.feature_names[col]}' of {ds.name} holds {ds.features[row, col]!r} (data row {row + 1}); "
                       f"values must be finite and within +-{MAX_ABS_VALUE:g} (scaling would overflow): fix or drop that row.")
    if not ds.impute:
        missing = np.isnan(ds.features).sum(axis=0)
        if missing.any():
            col = int(np.argmax(missing > 0))
            raise ZooError(f"column '{ds.feature_names[col]}' of {ds.name} has {int(missing[col])} missing value(s); "
                           "pass --impute to fill them with the training-split median, or clean the table.")
    return ds


def from_frame(frame: Any, *, name: str, target: str, impute: bool, license: str = "",
               drop: tuple[str, ...] = ()) -> TabularDataset:
    """A validated data set from a pandas DataFrame: ``target`` is the label, every other column
    (except ``drop``) must be numeric."""
    import pandas as pd

    if not target:
        raise ZooError(f"{name} needs --target COLUMN naming the class column; its columns are: "
                       f"{_column_list(frame.columns)}.")
    if target not in frame.columns:
        raise ZooError(f"target column '{target}' is not in {name}; its columns are: {_column_list(frame.columns)}.")
    labels = frame[target]
    if labels.isna().any():
        raise ZooError(f"target column '{target}' of {name} has {int(labels.isna().sum())} empty value(s); "
                       "drop those rows or fill in their class.")
    feature_frame = frame.drop(columns=[target, *[c for c in drop if c in frame.columns]])
    for column in feature_frame.columns:
        series = feature_frame[column]
        if pd.api.types.is_bool_dtype(series):
            continue
        if not pd.api.types.is_numeric_dtype(series):
            # quote a cell that is really not a number (the first cells may well be numbers)
            bad = series[series.notna() & pd.to_numeric(series, errors="coerce").isna()]
            where = f"'{bad.iloc[0]}' in row {frame.index.get_loc(bad.index[0]) + 2}" if len(bad) else "no numbers"
            raise ZooError(f"column '{column}' of {name} is not numeric ({where}); encode it as numbers "
                           "or drop the column.")
    classes = sorted({str(v) for v in labels}, key=_natural_key)
    index = {c: i for i, c in enumerate(classes)}
    targets = np.array([index[str(v)] for v in labels], dtype=np.int64)
    features = feature_frame.to_numpy(dtype=np.float64, na_value=np.nan)
    ds = TabularDataset(name, features, targets, classes, [str(c) for c in feature_frame.columns], license, impute)
    return _check_table(ds, target)


def _column_list(columns: Any) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


def _natural_key(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def _builtin_target_only(name: str, target: str) -> None:
    if target:
        raise ZooError(f"--target applies to CSV files; the built-in data set {name} has its own class column, "
                       "so drop --target.")


def _from_arrays(name: str, features: np.ndarray, targets: np.ndarray, classes: list[str],
                 feature_names: list[str], license: str) -> TabularDataset:
    return _check_table(TabularDataset(name, np.asarray(features, dtype=np.float64), np.asarray(targets, dtype=np.int64),
                                       classes, feature_names, license), "class")


# -- user CSV ----------------------------------------------------------------------------------------

def read_csv(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise ZooError(f"CSV file {path} does not exist; pass an existing file to --data.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ZooError(f"{path} is not a readable CSV table ({reason}); save it as comma-separated text with a header row.") from None
    if frame.empty:
        raise ZooError(f"{path} has no data rows; it needs a header row and one row per sample.")
    return frame


def load_csv(data_dir: str | Path | None = None, *, path: str = "", target: str = "", impute: bool = False,
             **_: Any) -> TabularDataset:
    """A user's table: numeric feature columns plus the class column ``target``."""
    csv_path = Path(path).expanduser()
    return from_frame(read_csv(csv_path), name=csv_path.name, target=target, impute=impute)


# -- generated tables ----------------------------------------------------------------------------------

def load_ringnorm(data_dir: str | Path | None = None, *, target: str = "", n_rows: int = 7400, **_: Any) -> TabularDataset:
    """Breiman (1996) ringnorm: 20 features; class 1 ~ N(0, 4I), class 2 ~ N(a, I) with a_i = 2/sqrt(20).
    7400 rows with equally likely classes, like the DELVE version."""
    _builtin_target_only("ringnorm", target)
    n_features = 20
    rng = np.random.default_rng(DATA_SEED)
    targets = rng.integers(0, 2, size=n_rows)
    noise = rng.standard_normal((n_rows, n_features))
    a = 2.0 / math.sqrt(n_features)
    features = np.where(targets[:, None] == 0, 2.0 * noise, noise + a)  # std 2 = covariance 4I
    return _from_arrays("ringnorm", features, targets, ["1", "2"], [f"x{i + 1}" for i in range(n_features)],
                        "generated (Breiman 1996 definition)")


def load_madelon_like(data_dir: str | Path | None = None, *, target: str = "", **_: Any) -> TabularDataset:
    """A Madelon-like table from scikit-learn's port of Guyon's generator (NIPS 2003 feature selection
    challenge): 32 Gaussian clusters on the vertices of a 5-D hypercube (16 per class), 5 informative
    features, 15 linear combinations of them, 480 noise features, 1% flipped labels, 2600 rows."""
    from sklearn.datasets import make_classification

    _builtin_target_only("madelon-like", target)
    features, targets = make_classification(
        n_samples=2600, n_features=500, n_informative=5, n_redundant=15, n_repeated=0, n_classes=2,
        n_clusters_per_class=16, flip_y=0.01, class_sep=1.0, hypercube=True, shuffle=True, random_state=DATA_SEED)
    return _from_arrays("madelon-like", features, targets, ["-1", "1"], [f"f{i + 1}" for i in range(500)],
                        "generated (sklearn.datasets.make_classification, Guyon 2003 generator)")


# -- scikit-learn's bundled tables ------------------------------------------------------------------------

def _sklearn_table(loader_name: str, name: str, target: str) -> TabularDataset:
    import sklearn.datasets

    _builtin_target_only(name, target)
    bunch = getattr(sklearn.datasets, loader_name)()
    return _from_arrays(name, bunch.data, bunch.target, [str(c) for c in bunch.target_names],
                        [str(f) for f in bunch.feature_names], "CC BY 4.0 (UCI ML repository, via scikit-learn)")


def load_breast_cancer(data_dir: str | Path | None = None, *, target: str = "", **_: Any) -> TabularDataset:
    return _sklearn_table("load_breast_cancer", "breast-cancer", target)


def load_wine(data_dir: str | Path | None = None, *, target: str = "", **_: Any) -> TabularDataset:
    return _sklearn_table("load_wine", "wine", target)


def load_iris(data_dir: str | Path | None = None, *, target: str = "", **_: Any) -> TabularDataset:
    return _sklearn_table("load_iris", "iris", target)


# -- UCI mouse protein expression (Higuera et al. 2015) -----------------------------------------------

def default_data_dir(data_dir: str | Path | None) -> Path:
    return Path(data_dir or os.environ.get("ZOO_DATA_DIR") or Path.home() / ".cache" / "zoo" / "data").expanduser()


def load_mouse_protein(data_dir: str | Path | None = None, *, target: str = "", **_: Any) -> TabularDataset:
    """77 protein expression levels of 1080 cortex samples, 8 classes (genotype, treatment, behaviour).
    Reads ``Data_Cortex_Nuclear.xls`` (or a ``.csv`` copy) from the data directory, downloading the
    .xls from UCI first when neither is there. Missing values are kept for median imputation."""
    _builtin_target_only("mouse-protein", target)
    root = default_data_dir(data_dir)
    local = find_mouse_protein(root) or download_mouse_protein(root)
    frame = read_mouse_protein(local)
    return from_frame(frame, name="mouse-protein", target=MOUSE_PROTEIN_TARGET, impute=True,
                      license="CC BY 4.0 (UCI ML repository)", drop=MOUSE_PROTEIN_META)


def find_mouse_protein(root: Path) -> Path | None:
    for suffix in (".csv", ".xls"):
        candidate = root / f"{MOUSE_PROTEIN_FILE}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def download_mouse_protein(root: Path, url: str | None = None, timeout: float = 30.0) -> Path:
    import urllib.error
    import urllib.request

    from zoo import io as zio

    url = url or MOUSE_PROTEIN_URL
    target = root / f"{MOUSE_PROTEIN_FILE}.xls"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URL)
            payload = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = str(getattr(exc, "reason", exc)).splitlines()[0][:160] or type(exc).__name__
        raise OfflineError(f"could not download mouse-protein from {url} ({reason}); without network, save "
                           f"{MOUSE_PROTEIN_FILE}.xls (or a .csv copy of its sheet) in a folder and pass "
                           f"--data-dir FOLDER (looked in {root}).") from None
    zio.write_bytes(target, payload)
    return target


def read_mouse_protein(path: Path) -> Any:
    import pandas as pd

    if path.suffix == ".csv":
        return read_csv(path)
    try:
        return pd.read_excel(path)
    except ImportError:
        raise ZooError(f"reading {path.name} needs the xlrd package (pip install xlrd); or save its sheet as "
                       f"{MOUSE_PROTEIN_FILE}.csv in {path.parent}.") from None
    except ValueError as exc:
        raise ZooError(f"{path} is not a readable Excel sheet ({str(exc).splitlines()[0][:120]}); delete it so it "
                       "is downloaded again, or put a CSV copy beside it.") from None


# -- splits ------------------------------------------------------------------------------------------------

def stratified_split(targets: np.ndarray, classes: list[str], *, val_size: float, test_size: float,
                     seed: int) -> dict[str, np.ndarray]:
    """Seeded, stratified train/val/test row indices (each sorted)."""
    from sklearn.model_selection import train_test_split

    n, n_classes = len(targets), len(classes)
    counts = np.bincount(targets, minlength=n_classes)
    n_test = math.ceil(test_size * n)
    n_val = math.ceil(val_size * (n - n_test))
    smallest = min(n_test, n_val)
    if smallest < n_classes:
        raise ZooError(f"only {n} rows for {n_classes} classes: a stratified split gives the test/validation sets "
                       f"{n_test}/{n_val} rows, fewer than the classes; add rows (or raise --test-size / --val-size).")
    if counts.min() < 3:
        thin = classes[int(np.argmin(counts))]
        raise ZooError(f"class '{thin}' has only {int(counts.min())} row(s); a stratified train/validation/test split "
                       "needs at least 3 rows per class, so add rows or drop that class.")
    rows = np.arange(n)
    rest, test = train_test_split(rows, test_size=n_test, stratify=targets, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, stratify=targets[rest], random_state=seed + 1)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
