"""Percentiles and medians of measured figures (pure; no I/O)."""

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Distribution:
    """Summary of a sample: its size and the p50/p95/p99 (in the sample's unit)."""

    count: int
    p50: float
    p95: float
    p99: float
    maximum: float

    @classmethod
    def of(cls, values: Iterable[float]) -> "Distribution | None":
        """Summarise ``values``; ``None`` when there are none."""
        data = sorted(values)
        if not data:
            return None
        p50, p95, p99 = (percentile(data, q, presorted=True) for q in PERCENTILES)
        return cls(count=len(data), p50=p50, p95=p95, p99=p99, maximum=data[-1])


def percentile(values: Sequence[float], q: float, *, presorted: bool = False) -> float:
    """The ``q``-th percentile with linear interpolation between closest ranks.

    Same definition as numpy's default ("linear") and ``statistics.quantiles(...,
    method="inclusive")``: p0 is the minimum, p100 the maximum.
    """
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    data = values if presorted else sorted(values)
    position = (len(data) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def median(values: Iterable[float | None]) -> float | None:
    """Median of the figures that were measured (``None`` entries are skipped)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 when nothing happened or no time passed."""
    return count / seconds if count and seconds > 0 else 0.0


def slope(points: Iterable[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(x, y)`` points (y units per x unit); ``None`` with fewer
    than two distinct x values."""
    data = list(points)
    xs = [x for x, _ in data]
    if len(set(xs)) < 2:
        return None
    return statistics.linear_regression(xs, [y for _, y in data]).slope


def buckets(
    points: Iterable[tuple[float, float]], *, width: float, q: float = 99
) -> list[tuple[float, float]]:
    """The ``q``-th percentile of the y values in each ``width``-wide bucket of x, as
    ``(bucket start, percentile)`` in x order (empty buckets are left out)."""
    if width <= 0:
        raise ValueError("bucket width must be positive")
    grouped: dict[int, list[float]] = {}
    for x, y in points:
        grouped.setdefault(math.floor(x / width), []).append(y)
    return [(key * width, percentile(grouped[key], q)) for key in sorted(grouped)]
