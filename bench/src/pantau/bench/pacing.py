"""Open-loop pacing: request ``i`` is due at ``start + i / rate``, whatever happened before.

A closed loop (send the next request when the previous one answered) slows down with
the server and hides its latency ("coordinated omission"). Here the schedule is fixed;
when the generator itself falls behind it, ``lag`` says by how much, so a result can be
flagged as generator-bound instead of being taken for the server's limit.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Pacer:
    """Waits until each request's scheduled start; records how late the sender was."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    start: float | None = None
    max_lag: float = 0.0
    late: int = 0
    late_threshold: float = 0.010
    _issued: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")

    def due(self, index: int) -> float:
        """Clock time at which request ``index`` (0-based) should start."""
        assert self.start is not None, "call begin() first"
        return self.start + index / self.rate

    def begin(self, at: float | None = None) -> None:
        """Fix the schedule's origin (now, unless a common start time is given)."""
        self.start = self.clock() if at is None else at

    async def wait_turn(self) -> int:
        """Sleep until the next request is due and return its index."""
        if self.start is None:
            self.begin()
        index = self._issued
        self._issued += 1
        delay = self.due(index) - self.clock()
        if delay > 0:
            await self.sleep(delay)
        else:
            lag = -delay
            self.max_lag = max(self.max_lag, lag)
            if lag > self.late_threshold:
                self.late += 1
        return index

    @property
    def issued(self) -> int:
        return self._issued


def split_evenly(total: int, parts: int) -> list[int]:
    """Split ``total`` requests over ``parts`` generators, differing by at most one."""
    if parts < 1:
        raise ValueError("need at least one part")
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
