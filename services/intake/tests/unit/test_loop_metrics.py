"""Intake's event-loop counters and histogram expose exactly what ``prometheus_client``'s
own ``Counter`` and ``Histogram`` expose for the same updates (less the optional
``_created`` timestamps)."""

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from pantau.intake.metrics import LoopCounter, LoopHistogram

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 5)


def _exposed(registry: CollectorRegistry) -> list[str]:
    return sorted(
        line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
    )


def test_counter_exposes_what_prometheus_client_does() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    a = LoopCounter("x_things_total", "Things.", ["channel", "reason"], registry=ours)
    b = Counter("x_things_total", "Things.", ["channel", "reason"], registry=theirs)
    rng = random.Random(3)
    for _ in range(500):
        labels = (rng.choice(["monitor", "public", "sms"]), rng.choice(["a", "b"]))
        amount = rng.choice([1, 1, 2, 500])
        a.labels(*labels).inc(amount)
        b.labels(*labels).inc(amount)
    assert _exposed(ours) == _exposed(theirs)
    with pytest.raises(ValueError):
        a.labels("monitor").inc()
    with pytest.raises(ValueError):
        a.labels("monitor", "a").inc(-1)


def test_histogram_exposes_what_prometheus_client_does() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    a = LoopHistogram("x_seconds", "Waits.", ["outcome"], buckets=BUCKETS, registry=ours)
    b = Histogram("x_seconds", "Waits.", ["outcome"], buckets=BUCKETS, registry=theirs)
    rng = random.Random(4)
    values = [*BUCKETS, 0.0, 7.5, *(rng.expovariate(20) for _ in range(1000))]
    for value in values:
        outcome = rng.choice(["acknowledged", "unavailable"])
        a.labels(outcome).observe(value)
        b.labels(outcome).observe(value)
    assert _exposed(ours) == _exposed(theirs)
