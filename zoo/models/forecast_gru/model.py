"""`forecast-gru`: a GRU reads the last ``lookback`` values of a series and forecasts the value ``horizon``
steps after the last one. The naive forecast ("in ``horizon`` steps the value is what it is now", the
baseline of Chollet's temperature chapter) is scored on the same test windows and reported beside it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.data.series import Series, chronological_splits, load_series
from zoo.errors import ZooError
from zoo.models.forecast_gru import CARD
from zoo.models.forecast_gru.config import ForecastGRUConfig
from zoo.registry import DemoHook, ExportSpec, Predict, Preprocessing, TensorSpec, ZooModel, register
from zoo.tasks.sequence import ForecastGRUNet, ForecastModule

TIME_SIZES = (1, 7, 64)  # window lengths parity is checked at (with batch sizes 1, 7, 64)


@dataclass
class Windows:
    """Forecast windows over one series: target ``i`` is ``values[i + lookback + horizon - 1]``, read from
    ``values[i : i + lookback]``; ``splits`` index targets in time order (no window of a later split is
    seen in training, though windows at a split boundary read values of the split before)."""

    series: Series
    lookback: int
    horizon: int
    splits: dict[str, np.ndarray]

    @property
    def count(self) -> int:
        return len(self.series.values) - self.lookback - self.horizon + 1

    def take(self, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inputs (n, lookback, 1), targets (n, 1)) float32."""
        offsets = np.asarray(targets)[:, None] + np.arange(self.lookback)[None, :]
        x = self.series.values[offsets][:, :, None]
        y = self.series.values[np.asarray(targets) + self.lookback + self.horizon - 1][:, None]
        return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32)

    def train_values(self) -> np.ndarray:
        last = int(self.splits["train"][-1]) + self.lookback
        return self.series.values[:last]


def forecast_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = np.asarray(pred, dtype=np.float64).reshape(-1) - np.asarray(y, dtype=np.float64).reshape(-1)
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err ** 2).mean()))}


@register
class ForecastGRU(ZooModel):
    card = CARD
    Config = ForecastGRUConfig
    config: ForecastGRUConfig

    def build_model(self) -> ForecastGRUNet:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        return ForecastGRUNet(cfg.hidden, cfg.layers, cfg.dropout, cfg.recurrent_dropout)

    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec("series", ("batch", "time", 1), description="raw values of the series, oldest first "
                           f"(trained on windows of {self.config.lookback}; any length works)")]

    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("forecast", ("batch", 1), meaning="value",
                           description=f"the value {self.config.horizon} step(s) after the last input value")]

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(kind="none", notes="raw series values in their units, oldest first; standardisation is part of the model")

    def export_spec(self) -> ExportSpec:
        return ExportSpec(axis_sizes={"time": TIME_SIZES})

    def load_data(self) -> Windows:
        cfg = self.config
        series = load_series(cfg.data or self.default_data, data_dir=cfg.data_dir, target=cfg.target)
        if cfg.limit:
            series = Series(series.name, series.values[-cfg.limit:], series.column, series.step, series.license)
        count = len(series.values) - cfg.lookback - cfg.horizon + 1
        if count < 30:
            raise ZooError(f"{series.name} has {len(series.values)} values: too few for --lookback {cfg.lookback} and "
                           f"--horizon {cfg.horizon} (need at least {cfg.lookback + cfg.horizon + 29}); use a longer series or a shorter window.")
        return Windows(series, cfg.lookback, cfg.horizon, chronological_splits(count, cfg.val_size, cfg.test_size))

    def training_module(self, model: nn.Module) -> ForecastModule:
        return ForecastModule(model, self.data, self.config)

    def fit(self, run: Any) -> nn.Module:
        model = self.build_model()
        values = self.data.train_values()
        model.mean.fill_(float(values.mean()))
        model.std.fill_(float(values.std()) or 1.0)
        return run.fit_stage(self.training_module(model))

    def evaluate(self, predict: Predict) -> dict[str, float]:
        x, y = self.data.take(self.data.splits["test"])
        pred = np.concatenate([predict({"series": part})[0] for part in np.array_split(x, max(1, len(x) // 1024))])
        ours, naive = forecast_metrics(y, pred), forecast_metrics(y, x[:, -1, :])
        return ({f"test/{k}": v for k, v in ours.items()} | {f"test/naive_{k}": v for k, v in naive.items()}
                | {"test/mae_vs_naive": ours["mae"] / naive["mae"] if naive["mae"] else float("nan"), "test/windows": float(len(y))})

    def eval_report(self, metrics: dict[str, float]) -> list[str]:
        ratio = metrics.get("test/mae_vs_naive", float("nan"))
        return [f"forecast-gru MAE {metrics.get('test/mae', float('nan')):.4f} vs. naive (value now) "
                f"{metrics.get('test/naive_mae', float('nan')):.4f}: {ratio:.3f} of the naive error "
                f"({'better' if ratio < 1 else 'not better'} than the baseline)."]

    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        targets = self.data.splits[split]
        x, _ = self.data.take(targets[np.arange(n) % len(targets)])
        return {"series": x}

    @cached_property
    def _demo_examples(self) -> list[str]:
        try:
            x = self.example_inputs(3)["series"]
        except ZooError:
            return []
        return [", ".join(f"{v:.2f}" for v in row[:, 0]) for row in x[::1]]

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        """forecast.png: the first test week, the model's forecasts and the naive ones."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from zoo import io as zio

        targets = self.data.splits["test"][:168]
        x, y = self.data.take(targets)
        model.eval()
        with torch.no_grad():
            pred = model(torch.from_numpy(x)).numpy()
        fig, ax = plt.subplots(figsize=(9, 3.5))
        ax.plot(y[:, 0], label="actual", color="black", linewidth=1.2)
        ax.plot(pred[:, 0], label=f"forecast-gru (MAE {metrics.get('test/mae', float('nan')):.3f})", color="tab:blue")
        ax.plot(x[:, -1, 0], label=f"naive (MAE {metrics.get('test/naive_mae', float('nan')):.3f})", color="tab:orange", alpha=0.7)
        ax.set_xlabel(f"test window (step: {self.data.series.step})")
        ax.set_ylabel(self.data.series.column)
        ax.set_title(f"{self.data.series.name}: {self.config.horizon} step(s) ahead")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        with zio.atomic_path(run_dir / "forecast.png") as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)

    def demo(self) -> DemoHook | None:
        cfg = self.config
        return DemoHook(kind="forecast", title="forecast-gru",
                        description=(f"Paste recent values (comma- or space-separated, oldest first; the model was trained on "
                                     f"{cfg.lookback}): it forecasts the value {cfg.horizon} step(s) after the last one."),
                        examples=self._demo_examples,
                        extra={"column": cfg.target or "value", "lookback": cfg.lookback, "horizon": cfg.horizon, "max_values": 20 * cfg.lookback})
