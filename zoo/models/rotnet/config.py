"""Configuration of `rotnet` (torch-free)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from zoo.tasks.pretext_config import PretextConfig


class RotNetConfig(PretextConfig):
    rotations: list[int] = Field([0, 90, 180, 270], description="Rotation set in degrees (counter-clockwise), e.g. 0,90,180,270 (the paper's), 0,180, 90,270 or the 8 multiples of 45.")

    @field_validator("rotations", mode="before")
    @classmethod
    def _split_ints(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return [int(v) for v in value.split(",") if v.strip()]
            except ValueError:
                raise ValueError(f"rotations must be comma-separated whole degrees such as 0,90,180,270, got {value!r}") from None
        return value

    @field_validator("rotations")
    @classmethod
    def _valid_set(cls, value: list[int]) -> list[int]:
        bad = [a for a in value if a % 45 or not 0 <= a < 360]
        if bad:
            raise ValueError(f"rotation angles must be multiples of 45 in [0, 360); got {bad}")
        if len(set(value)) != len(value):
            raise ValueError(f"the rotation set {value} repeats an angle; list each angle once")
        if len(value) < 2:
            raise ValueError("the rotation set needs at least 2 angles to predict between")
        return value
