"""Numeric series for the forecasters (torch-free): a generated hourly temperature record, the Jena climate
record through a real downloader, or one column of a user's CSV; split in time order (no look-ahead)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data.text import _extract, _fetch, default_data_dir
from zoo.errors import ZooError

JENA_URL = "https://s3.amazonaws.com/keras-datasets/jena_climate_2009_2016.csv.zip"
JENA_CSV = "jena_climate_2009_2016.csv"
JENA_COLUMN = "T (degC)"
SERIES_SEED = 20240602


@dataclass
class Series:
    """One numeric series (float32, oldest first) sampled at a fixed step, and where it came from."""

    name: str
    values: np.ndarray
    column: str
    step: str  # e.g. "1 hour"
    license: str


def generate_temperature(hours: int = 24 * 365 * 2, seed: int = SERIES_SEED) -> np.ndarray:
    """An hourly temperature-like record: a yearly cycle, a daily cycle whose swing follows the season, and
    weather as an AR(1) process with a 2-3 day memory, plus sensor noise. Tomorrow-equals-today is a
    strong baseline here (the daily cycle repeats) but not the best one: the weather anomaly decays."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours, dtype=np.float64)
    season = np.sin(2 * np.pi * (t / (24 * 365.25) - 0.3))
    daily = (3.0 + 2.0 * (season + 1)) * np.sin(2 * np.pi * (t / 24 - 0.375))
    weather = np.zeros(hours)
    shocks = rng.normal(0, 0.55, hours)
    for i in range(1, hours):
        weather[i] = 0.985 * weather[i - 1] + shocks[i]
    return (9.0 + 9.0 * season + daily + weather + rng.normal(0, 0.3, hours)).astype(np.float32)


def load_temperature_set(data_dir: str | Path | None = None, **_: object) -> Series:
    """``synthetic-temperature`` for the data catalog (``zoo data``)."""
    return Series("synthetic-temperature", generate_temperature(), "temperature", "1 hour", "generated (zoo, seeded)")


def load_jena(data_dir: str | Path | None = None) -> Series:
    """The Jena climate record 2009-2016 (Max Planck Institute for Biogeochemistry) as packaged for Keras:
    ``DATA_DIR/jena_climate_2009_2016.csv`` (extracted from the zip, downloaded when absent); the air
    temperature column, one reading per hour (every 6th 10-minute reading, as in Chollet's chapter)."""
    import pandas as pd

    root = default_data_dir(data_dir)
    csv = root / JENA_CSV
    if not csv.is_file():
        root.mkdir(parents=True, exist_ok=True)
        _extract(_fetch(JENA_URL, None, root, JENA_CSV + ".zip", "jena-climate", JENA_CSV), root)
    frame = pd.read_csv(csv)
    if JENA_COLUMN not in frame.columns:
        raise ZooError(f"{csv} has no '{JENA_COLUMN}' column; it is not the Jena climate CSV, re-download it.")
    values = frame[JENA_COLUMN].to_numpy(dtype=np.float32)[::6]
    return Series("jena-climate", values, JENA_COLUMN, "1 hour", "MPI-BGC Jena weather station data (terms of the MPI for Biogeochemistry; Keras mirror)")


def load_series_csv(path: str | Path, column: str) -> Series:
    """Column ``column`` of a CSV file, rows in time order."""
    from zoo.data.tabular import read_csv

    path = Path(path).expanduser()
    frame = read_csv(path)
    columns = ", ".join(map(str, frame.columns[:12]))
    if not column:
        raise ZooError(f"{path} needs --target naming the column to forecast; its columns are: {columns}.")
    if column not in frame.columns:
        raise ZooError(f"column '{column}' (--target) is not in {path}; its columns are: {columns}.")
    values = pd_numeric(frame[column], f"column '{column}' of {path}")
    return Series(path.name, values, column, "1 row", "your data")


def pd_numeric(column: object, what: str) -> np.ndarray:
    import pandas as pd

    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna().to_numpy()
    if bad.any():
        raise ZooError(f"{what} holds a missing or non-numeric value on line {int(np.argmax(bad)) + 2}; fill or drop it.")
    return numbers.to_numpy(dtype=np.float32)


def load_series(data: str, *, data_dir: Path | None, target: str = "") -> Series:
    if data.lower().endswith(".csv"):
        return load_series_csv(data, target)
    if target:
        raise ZooError(f"--target applies to CSV files; the built-in series {data} has its own, so drop --target.")
    if data == "synthetic-temperature":
        return load_temperature_set()
    if data == "jena-climate":
        return load_jena(data_dir)
    raise ZooError(f"unknown series '{data}'; use synthetic-temperature, jena-climate or a CSV file with --target COLUMN.")


def chronological_splits(n_targets: int, val_size: float, test_size: float) -> dict[str, np.ndarray]:
    """Indices of forecast targets, oldest 1 - val - test for training, then validation, then test."""
    n_test, n_val = int(round(n_targets * test_size)), int(round(n_targets * val_size))
    n_train = n_targets - n_val - n_test
    idx = np.arange(n_targets)
    return {"train": idx[:n_train], "val": idx[n_train:n_train + n_val], "test": idx[n_train + n_val:]}
