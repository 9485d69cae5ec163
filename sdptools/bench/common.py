"""What every benchmark returns: a figure, its baseline from the same run, the ratio."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    name: str
    value: float | None
    unit: str
    baseline: float | None
    baseline_label: str
    target: str = ""
    better: str = "lower"  # or "higher"
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        if not self.value or not self.baseline:
            return None
        return round(self.value / self.baseline, 3)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
