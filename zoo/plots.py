"""Pictures saved next to a run: training curves from the CSV logs."""

from __future__ import annotations

import csv
from pathlib import Path

from zoo import io as zio


def _read_metrics(csv_path: Path) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    with csv_path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            step = float(row.get("step") or 0)
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                series.setdefault(key, []).append((step, float(value)))
    return series


def plot_training_curves(run_dir: Path, stages: list[str], out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for stage in stages or ["main"]:
        csv_path = run_dir / "logs" / stage / "metrics.csv"
        if not csv_path.is_file():
            continue
        for key, points in _read_metrics(csv_path).items():
            kind = "loss" if "loss" in key else ("lr" if key.startswith("lr") else "metric")
            panels.setdefault(kind, {})[f"{stage}:{key}" if len(stages) > 1 else key] = points
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (kind, series) in zip(axes[0], sorted(panels.items())):
        for label, points in sorted(series.items()):
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=label, marker="o" if len(points) < 30 else None, markersize=3)
        ax.set_title(kind)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with zio.atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
