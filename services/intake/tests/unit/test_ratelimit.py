"""The per-key sliding-window limit: counts, weighting of the previous window, Retry-After
and forgetting idle keys, on an injected clock."""

import pytest

from pantau.intake.adapters.ratelimit import RateLimit
from pantau.shared.http import Problem


class Clock:
    def __init__(self, now: float = 6_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def refused(limit: RateLimit, key: str) -> Problem:
    with pytest.raises(Problem) as caught:
        limit.check(key)
    return caught.value


def test_counts_per_key_and_answers_429_with_retry_after() -> None:
    clock = Clock()
    limit = RateLimit(name="client", spec="5/minute", clock=clock)
    for _ in range(5):
        limit.check("app")
    problem = refused(limit, "app")
    assert problem.status == 429
    # Window just started, full: the next one starts in 60 s and this window's 5 hits
    # still weigh 5 there, until they fade below the limit.
    assert 1 <= int(problem.headers["Retry-After"]) <= 60
    limit.check("other-app")  # its own counter


def test_the_previous_window_is_weighted_by_its_overlap() -> None:
    clock = Clock()
    limit = RateLimit(name="client", spec="10/minute", clock=clock)
    for _ in range(10):
        limit.check("app")
    clock.now += 60  # next window just began: the 10 previous hits still count fully
    refused(limit, "app")
    clock.now += 30  # half way: they weigh 5, so 5 more fit
    for _ in range(5):
        limit.check("app")
    problem = refused(limit, "app")
    # The previous 10 hits weigh exactly 5 now, just below what lets one more in.
    assert problem.headers["Retry-After"] == "1"
    clock.now += 1
    limit.check("app")
    clock.now += 1
    # Previous hits weigh 10 x (1 - 32/60) = 4.67, plus 6 current: full until it falls
    # below 4, at 36 s into the window.
    assert refused(limit, "app").headers["Retry-After"] == "4"


def test_keys_idle_for_two_windows_are_forgotten() -> None:
    clock = Clock()
    limit = RateLimit(name="ip_address", spec="3/minute", clock=clock)
    for index in range(100):
        limit.check(f"10.0.0.{index}")
    clock.now += 60
    limit.check("10.0.1.1")
    assert len(limit._counts) == 101  # the previous window still weighs
    clock.now += 60
    limit.check("10.0.1.1")
    assert set(limit._counts) == {"10.0.1.1"}
