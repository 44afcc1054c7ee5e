"""The maximum sustained rate: raise the rate until the stack falls behind, then bisect.

Pure: ``next_rate`` looks at the probes so far and names the next rate to try (or
``None`` when the bracket is narrow enough or the budget is spent); ``maximum`` is the
highest rate that kept up below the lowest one that did not.
"""

from collections.abc import Sequence
from dataclasses import dataclass

ROUND_TO = 10  # reports/s


@dataclass(frozen=True)
class Probe:
    rate: float
    kept_up: bool
    reason: str = ""


@dataclass(frozen=True)
class SearchPlan:
    start: float = 400.0
    factor: float = 1.5  # growth while every probe keeps up
    resolution: float = 0.1  # stop when the bracket is narrower than this share of its floor
    ceiling: float = 5000.0  # never offer more than this
    max_probes: int = 6


def _rounded(value: float) -> float:
    return float(max(ROUND_TO, round(value / ROUND_TO) * ROUND_TO))


def bracket(probes: Sequence[Probe]) -> tuple[float | None, float | None]:
    """(highest rate that kept up below every failure, lowest rate that failed)."""
    failed = min((p.rate for p in probes if not p.kept_up), default=None)
    passed = max(
        (p.rate for p in probes if p.kept_up and (failed is None or p.rate < failed)),
        default=None,
    )
    return passed, failed


def next_rate(probes: Sequence[Probe], plan: SearchPlan) -> float | None:
    """The next rate to probe, or ``None`` when the search is done."""
    if not probes:
        return _rounded(min(plan.start, plan.ceiling))
    if len(probes) >= plan.max_probes:
        return None
    passed, failed = bracket(probes)
    tried = {p.rate for p in probes}
    if failed is None:  # everything kept up so far: grow
        assert passed is not None
        if passed >= plan.ceiling:
            return None
        candidate = _rounded(min(passed * plan.factor, plan.ceiling))
    else:
        floor = passed or 0.0
        if failed - floor <= max(plan.resolution * max(floor, ROUND_TO), ROUND_TO):
            return None
        candidate = _rounded((floor + failed) / 2)
    return None if candidate in tried else candidate


def maximum(probes: Sequence[Probe]) -> float | None:
    """The highest rate that kept up, below the lowest that did not (``None``: none did)."""
    return bracket(probes)[0]
