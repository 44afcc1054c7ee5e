import os

import pytest
from aiokafka import TopicPartition

from pantau.bench.monitor import (
    ProcSample,
    Sample,
    cores_used,
    cores_waiting,
    cpu_series,
    lag_at_end,
    names_seen,
    peak_rss_mb,
    run_queue_wait,
    total_lag,
)

MB = 1024 * 1024


def sample(at: float, cpu: float, rss_mb: float, lag: int | None = None) -> Sample:
    return Sample(
        at=at,
        procs={"intake": ProcSample(cpu_seconds=cpu, rss=int(rss_mb * MB))},
        lag={} if lag is None else {"pantau-reporting": lag},
    )


def test_lag_sums_end_minus_committed_over_committed_partitions() -> None:
    a, b, c = (TopicPartition("pantau.reports.submitted", p) for p in range(3))
    ends = {a: 100, b: 50, c: 10}
    assert total_lag({a: 90, b: 50}, ends) == 10  # c never committed: left out
    assert total_lag({a: 120}, ends) == 0  # never negative


def test_cores_cpu_series_and_peak_from_cumulative_cpu_times() -> None:
    samples = [sample(0, 10.0, 100), sample(2, 11.0, 150, lag=7), sample(4, 14.0, 120, lag=3)]
    assert cores_used(samples, "intake") == pytest.approx(1.0)
    assert cpu_series(samples, "intake") == [(2, 0.5), (4, 1.5)]
    assert peak_rss_mb(samples, "intake") == pytest.approx(150)
    assert lag_at_end(samples, "pantau-reporting") == 3
    assert cores_used(samples[:1], "intake") is None and peak_rss_mb(samples, "kafka") is None


def test_processes_are_listed_services_first() -> None:
    s = Sample(at=0, procs={n: ProcSample(0, 0) for n in ("kafka", "zz", "intake")}, lag={})
    assert names_seen([s]) == ["intake", "kafka", "zz"]


def test_run_queue_wait_per_second_and_of_this_process() -> None:
    samples = [
        Sample(at=0, procs={"intake": ProcSample(0, 0, wait_seconds=1.0)}, lag={}),
        Sample(at=4, procs={"intake": ProcSample(0, 0, wait_seconds=3.0)}, lag={}),
    ]
    assert cores_waiting(samples, "intake") == pytest.approx(0.5)
    assert run_queue_wait(os.getpid()) >= 0.0  # readable for our own process
