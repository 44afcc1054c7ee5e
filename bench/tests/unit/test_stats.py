import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantau.bench.stats import Distribution, buckets, median, percentile, rate, slope


class TestPercentile:
    def test_linear_interpolation_between_ranks(self) -> None:
        data = [10.0, 20.0, 30.0, 40.0]
        assert percentile(data, 0) == 10.0
        assert percentile(data, 100) == 40.0
        assert percentile(data, 50) == 25.0
        assert percentile(data, 95) == pytest.approx(38.5)

    def test_one_value_is_every_percentile(self) -> None:
        assert [percentile([7.0], q) for q in (0, 50, 99, 100)] == [7.0] * 4

    def test_unsorted_input_is_sorted(self) -> None:
        assert percentile([3.0, 1.0, 2.0], 50) == 2.0

    @given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=200))
    def test_agrees_with_the_standard_library(self, data: list[float]) -> None:
        cuts = statistics.quantiles(data, n=100, method="inclusive")
        for q in (50, 95, 99):
            assert percentile(data, q) == pytest.approx(cuts[q - 1], rel=1e-9, abs=1e-6)

    @pytest.mark.parametrize("q", [-1, 100.5])
    def test_rejects_percentiles_outside_0_to_100(self, q: float) -> None:
        with pytest.raises(ValueError, match="outside"):
            percentile([1.0], q)

    def test_rejects_an_empty_sample(self) -> None:
        with pytest.raises(ValueError, match="empty"):
            percentile([], 50)


class TestDistribution:
    def test_summarises_p50_p95_p99_and_max(self) -> None:
        d = Distribution.of(float(i) for i in range(1, 101))
        assert d is not None
        assert (d.count, d.p50, d.maximum) == (100, 50.5, 100.0)
        assert d.p95 == pytest.approx(95.05)
        assert d.p99 == pytest.approx(99.01)

    def test_nothing_measured_is_none(self) -> None:
        assert Distribution.of([]) is None


def test_median_skips_missing_figures() -> None:
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([None, None]) is None


def test_rate_is_zero_without_events_or_time() -> None:
    assert rate(300, 2.0) == 150.0
    assert rate(0, 2.0) == 0.0
    assert rate(5, 0.0) == 0.0


class TestSlope:
    def test_least_squares_slope(self) -> None:
        assert slope([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
        assert slope([(0, 0.0), (1, 1.0), (2, 0.0), (3, 1.0)]) == pytest.approx(0.2)

    def test_needs_two_distinct_x(self) -> None:
        assert slope([]) is None and slope([(1, 2.0), (1, 3.0)]) is None


def test_buckets_give_a_percentile_per_window_in_order() -> None:
    points = [(0.1, 1.0), (0.9, 3.0), (2.5, 7.0)]
    assert buckets(points, width=1.0, q=100) == [(0.0, 3.0), (2.0, 7.0)]
    with pytest.raises(ValueError):
        buckets(points, width=0)
