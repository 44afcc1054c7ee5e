"""Token buckets: per (recipient, channel) and per channel, on an injected clock."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate_per_second: float
    capacity: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_second)
        self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        self._refill(now)
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.rate_per_second

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1


class RateLimiter:
    """Both buckets must have a token; a send takes one from each."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float],
        per_recipient_rate: float,
        per_recipient_burst: int,
        per_channel_rate: float,
        per_channel_burst: int,
    ) -> None:
        self._now = monotonic
        self._recipient = (per_recipient_rate, float(per_recipient_burst))
        self._channel = (per_channel_rate, float(per_channel_burst))
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}

    def _bucket(self, key: tuple[str, ...], spec: tuple[float, float]) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(spec[0], spec[1], spec[1], self._now())
            self._buckets[key] = bucket
        return bucket

    def acquire(self, *, recipient_id: str, channel: str) -> float:
        """Take a token from both buckets and return 0, or return the seconds to wait."""
        now = self._now()
        pair = (
            self._bucket(("recipient", recipient_id, channel), self._recipient),
            self._bucket(("channel", channel), self._channel),
        )
        wait = max(b.wait_time(now) for b in pair)
        if wait > 0:
            return wait
        for bucket in pair:
            bucket.take(now)
        return 0.0
