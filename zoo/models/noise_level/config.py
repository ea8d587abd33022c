"""Configuration of `noise-level` (torch-free)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from zoo.tasks.pretext_config import PretextConfig


class NoiseLevelConfig(PretextConfig):
    noise_levels: list[float] = Field([0.0, 0.2, 0.5, 1.0], description="Standard deviations of the Gaussian noise (in normalised pixel units), one class each.")

    @field_validator("noise_levels", mode="before")
    @classmethod
    def _split_floats(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return [float(v) for v in value.split(",") if v.strip()]
            except ValueError:
                raise ValueError(f"noise_levels must be comma-separated numbers such as 0,0.2,0.5,1, got {value!r}") from None
        return value

    @field_validator("noise_levels")
    @classmethod
    def _valid_levels(cls, value: list[float]) -> list[float]:
        if any(v < 0 for v in value):
            raise ValueError(f"noise levels must be >= 0; got {value}")
        if len(set(value)) != len(value) or len(value) < 2:
            raise ValueError(f"noise levels need at least 2 distinct values; got {value}")
        return value
