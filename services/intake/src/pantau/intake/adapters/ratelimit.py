"""Per-key rate limits (token subject, client IP) on the `limits` library, in memory.

Limits are per process: with N replicas behind a balancer the effective limit is up
to N times higher, which is acceptable for abuse protection (not for billing).

The asyncio flavour of the library: its in-memory storage expires counters in an
asyncio task, where the thread flavour starts a ``threading.Timer`` every 10 ms under
load, and each such thread competes with the event loop for the GIL.
"""

import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from pantau.shared.http import Problem


class RateLimit:
    """One named limit such as ``10/minute``; ``check`` raises 429 with ``Retry-After``."""

    def __init__(self, *, name: str, spec: str, storage: MemoryStorage | None = None) -> None:
        self._name = name
        self._item = parse(spec)
        # Sliding-window counter: two counters per key, O(1) per hit. A moving window
        # keeps one timestamp per request, which grows with the limit.
        self._limiter = SlidingWindowCounterRateLimiter(storage or MemoryStorage())

    async def check(self, key: str) -> None:
        """Count one request for ``key``; raise ``Problem(429)`` when over the limit."""
        if await self._limiter.hit(self._item, self._name, key):
            return
        reset_at, _remaining = await self._limiter.get_window_stats(self._item, self._name, key)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise Problem(
            429,
            "Too many requests",
            f"limit {self._item} per {self._name.replace('_', ' ')} reached; "
            f"retry in {retry_after} s",
            type_="https://pantau.id/problems/rate-limited",
            headers={"Retry-After": str(retry_after)},
        )
