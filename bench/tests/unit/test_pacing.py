import pytest

from pantau.bench.pacing import Pacer, split_evenly


class FakeClock:
    """A clock that only moves when the pacer sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_requests_are_due_at_fixed_intervals_from_the_start() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=50, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(5):
        await pacer.wait_turn()
        starts.append(clock.now)
    assert starts == pytest.approx([100.0, 100.02, 100.04, 100.06, 100.08])
    assert (pacer.late, pacer.max_lag, pacer.issued) == (0, 0.0, 5)


async def test_schedule_is_open_loop_a_slow_answer_does_not_shift_later_requests() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=10, clock=clock, sleep=clock.sleep)
    await pacer.wait_turn()  # due 100.0
    clock.now += 0.35  # the sender was busy (e.g. a slow request) past two slots
    assert await pacer.wait_turn() == 1  # due 100.1: 0.25 s late, sent at once
    assert await pacer.wait_turn() == 2  # due 100.2: 0.15 s late, sent at once
    assert clock.sleeps == []
    await pacer.wait_turn()  # due 100.3 — still behind at 100.35
    await pacer.wait_turn()  # due 100.4: back on schedule
    assert clock.now == pytest.approx(100.4)
    assert pacer.late == 3
    assert pacer.max_lag == pytest.approx(0.25)


async def test_common_start_time_interleaves_workers() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=100, clock=clock, sleep=clock.sleep)
    pacer.begin(at=101.0)
    await pacer.wait_turn()
    assert clock.now == pytest.approx(101.0)
    assert pacer.due(3) == pytest.approx(101.03)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(rate=0)


@pytest.mark.parametrize(
    ("total", "parts", "expected"),
    [(10, 3, [4, 3, 3]), (2, 4, [1, 1, 0, 0]), (9, 1, [9]), (0, 2, [0, 0])],
)
def test_split_evenly(total: int, parts: int, expected: list[int]) -> None:
    assert split_evenly(total, parts) == expected
    assert sum(split_evenly(total, parts)) == total
