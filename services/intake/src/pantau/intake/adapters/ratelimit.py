"""Per-key rate limits (token subject, client IP): sliding-window counters in memory.

Limits are per process: with N replicas behind a balancer the effective limit is up
to N times higher, which is acceptable for abuse protection (not for billing).

The limit is written in the `limits` library's notation (``10/minute``, parsed by it);
the counting is the same sliding-window-counter algorithm as its
``SlidingWindowCounterRateLimiter``: two fixed windows per key, the previous one
weighted by how much of it still overlaps the sliding window. It is done here, in a
few dictionary operations, because the library's in-memory storages cost more than
the check itself on the hot path: the asyncio flavour starts a task scanning every
key on each hit (measured: about 11 µs per request, and growing with the number of
keys, i.e. of client IPs), the thread flavour a ``threading.Timer`` every 10 ms.
"""

import math
import time
from collections.abc import Callable

from limits import parse

from pantau.shared.http import Problem


class RateLimit:
    """One named limit such as ``10/minute``; ``check`` raises 429 with ``Retry-After``."""

    def __init__(
        self, *, name: str, spec: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._name = name
        self._item = parse(spec)
        self._amount = self._item.amount
        self._window = float(self._item.get_expiry())
        self._clock = clock
        # key -> [window number, hits in that window, hits in the window before]
        self._counts: dict[str, list[int]] = {}
        self._swept = 0

    def check(self, key: str) -> None:
        """Count one request for ``key``; raise ``Problem(429)`` when over the limit."""
        now = self._clock()
        number = int(now // self._window)
        if number != self._swept:
            self._sweep(number)
        counts = self._counts.get(key)
        if counts is None or counts[0] < number - 1:
            counts = self._counts[key] = [number, 0, 0]
        elif counts[0] == number - 1:
            counts[0], counts[1], counts[2] = number, 0, counts[1]
        elapsed = now / self._window - number  # fraction of the current window gone
        previous, current = counts[2], counts[1]
        if math.floor(previous * (1 - elapsed) + current) + 1 <= self._amount:
            counts[1] = current + 1
            return
        retry_after = self._retry_after(previous, current, elapsed)
        raise Problem(
            429,
            "Too many requests",
            f"limit {self._item} per {self._name.replace('_', ' ')} reached; "
            f"retry in {retry_after} s",
            type_="https://pantau.id/problems/rate-limited",
            headers={"Retry-After": str(retry_after)},
        )

    def _retry_after(self, previous: int, current: int, elapsed: float) -> int:
        """Whole seconds until one more request fits under the limit."""
        room = self._amount - 1 - current  # what the previous window's weight must fall to
        if room >= 0 and previous > 0:
            # previous * (1 - f) < room + 1 once f > 1 - (room + 1) / previous
            wait = max(0.0, 1 - (room + 1) / previous - elapsed) * self._window
        else:
            # The current window alone is full: wait for the next one, where this
            # window's hits weigh less as it goes on.
            wait = (1 - elapsed + max(0.0, 1 - self._amount / max(current, 1))) * self._window
        return max(1, math.ceil(wait - 1e-6))  # float noise must not add a second

    def _sweep(self, number: int) -> None:
        """Forget keys idle for two windows (once per window: one pass, no timer)."""
        self._swept = number
        stale = [key for key, counts in self._counts.items() if counts[0] < number - 1]
        for key in stale:
            del self._counts[key]
