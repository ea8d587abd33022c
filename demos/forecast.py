"""Builder for ``DemoHook.kind == "forecast"``: recent values of a series in (typed or a CSV column), the
forecast ``horizon`` steps after the last one out, drawn beside the history and the naive forecast.

Torch-free and zoo-free (copied into generated Spaces); the plot is a Gradio LinePlot (pandas, which Gradio
itself needs), so the Space adds no plotting library.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from demos.inputs import InputError
from demos.runtime import DemoModel
from demos.ui import header, user_errors

HOOK_EXAMPLES = "series"  # DemoHook.examples of this kind: strings of comma-separated values
ENDPOINTS = ["forecast", "forecast_csv"]
MAX_CSV_BYTES = 5 * 1024 * 1024


def parse_values(text: Any, max_values: int, what: str = "values") -> np.ndarray:
    """'1.5, 2, 3e1' (commas, spaces, semicolons or new lines) -> float32 (n,); refuses empty input,
    non-numbers, non-finite numbers and more than ``max_values`` values."""
    parts = [p for p in re.split(r"[,\s;]+", str(text or "").strip()) if p]
    if not parts:
        raise InputError(f"{what}: nothing was given; type recent values, oldest first, e.g. 12.1, 12.4, 13.0.")
    if len(parts) > max_values:
        raise InputError(f"{what}: {len(parts)} values; the limit is {max_values}, send the most recent ones.")
    out = np.empty(len(parts), dtype=np.float32)
    for i, part in enumerate(parts):
        try:
            out[i] = value = float(part)
        except ValueError:
            raise InputError(f"{what}: value {i + 1} is '{part[:20]}', not a number; use plain numbers such as 1.5 or -3e2.") from None
        if not math.isfinite(value):
            raise InputError(f"{what}: value {i + 1} is {part}; use finite numbers.")
    return out


def read_csv_column(path: str | Path | None, column: str, max_values: int) -> np.ndarray:
    """Column ``column`` of an uploaded CSV (rows oldest first); the last ``max_values`` rows at most."""
    if path is None:
        raise InputError(f"CSV: no file; upload a .csv file with a '{column}' column.")
    path = Path(path)
    if path.stat().st_size > MAX_CSV_BYTES:
        raise InputError(f"CSV: the file is larger than {MAX_CSV_BYTES // 1024 // 1024} MB; send fewer rows.")
    try:
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error):
        raise InputError(f"CSV: '{path.name}' is not a UTF-8 CSV file; save it as CSV and upload that.") from None
    if not rows:
        raise InputError("CSV: the file is empty; it needs a header row and one value per row.")
    columns = [c.strip() for c in rows[0]]
    if column not in columns:
        raise InputError(f"CSV: no column '{column}' (columns: {', '.join(columns[:8])}); name the series column '{column}'.")
    k = columns.index(column)
    values = [r[k] for r in rows[1:] if k < len(r) and r[k].strip()]
    return parse_values(" ".join(values[-max_values:]), max_values, what=f"CSV column '{column}'")


class Forecaster:
    def __init__(self, model: DemoModel) -> None:
        self.model = model
        extra = model.hook.get("extra", {})
        self.horizon = int(extra.get("horizon", 1))
        self.max_values = int(extra.get("max_values", 1000))
        self.column = str(extra.get("column") or "value")
        self.input_name = model.input_names[0]

    def run(self, values: np.ndarray) -> tuple[float, Any]:
        forecast = float(self.model.predict({self.input_name: values[None, :, None]})[0].reshape(-1)[0])
        return round(forecast, 6), self.plot(values, forecast)

    def forecast(self, text: Any) -> tuple[float, Any]:
        return self.run(parse_values(text, self.max_values))

    def forecast_csv(self, path: str | None) -> tuple[float, Any]:
        return self.run(read_csv_column(path, self.column, self.max_values))

    def plot(self, values: np.ndarray, forecast: float) -> Any:
        import pandas as pd

        n = len(values)
        steps = list(range(-n + 1, 1))
        frame = pd.DataFrame({
            "step": steps + [0, self.horizon, 0, self.horizon],
            "value": [float(v) for v in values] + [float(values[-1]), forecast, float(values[-1]), float(values[-1])],
            "series": ["history"] * n + ["forecast"] * 2 + ["naive (value now)"] * 2,
        })
        return frame


def build(model: DemoModel) -> None:
    """UI for ``model``; endpoints ``/<name>_forecast`` (typed values) and ``/<name>_forecast_csv``
    -> (forecast value, plot data)."""
    forecaster = Forecaster(model)
    examples = [str(e) for e in model.examples.get("series", [])]
    header(model.title, model.hook.get("description", ""), f"model <code>{model.name}</code> on {model.backend}.")
    box = gr.Textbox(value=examples[0] if examples else "", lines=3, label="recent values, oldest first",
                     elem_id=f"{model.name}-values")
    with gr.Row():
        button = gr.Button("Forecast", variant="primary", elem_id=f"{model.name}-forecast")
        csv_file = gr.File(label=f"or upload a CSV with a '{forecaster.column}' column", file_types=[".csv"],
                           type="filepath", elem_id=f"{model.name}-csv")
    value = gr.Number(label=f"forecast, {forecaster.horizon} step(s) after the last value", elem_id=f"{model.name}-result")
    plot = gr.LinePlot(x="step", y="value", color="series", label="history and forecast", elem_id=f"{model.name}-plot")
    button.click(user_errors(forecaster.forecast), box, [value, plot], api_name=f"{model.name}_forecast")
    csv_file.upload(user_errors(forecaster.forecast_csv), csv_file, [value, plot], api_name=f"{model.name}_forecast_csv")
    if len(examples) > 1:
        gr.Examples([[e] for e in examples], [box], label="Example windows from the held-out split")
