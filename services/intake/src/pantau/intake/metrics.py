"""Intake's Prometheus metrics (registered once per process).

The report metrics change on every request, so they are kept as plain numbers changed
on the event loop (intake updates them nowhere else) and handed to ``prometheus_client``
when it collects (a custom collector, its documented extension point), with the same
names, labels and types. ``prometheus_client``'s own ``Counter``/``Histogram`` take a
lock and call three methods per update: about 2 µs of a report's CPU time for the three
updates of an accepted report.
"""

import bisect
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Gauge
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class CounterChild:
    """One label combination of a ``LoopCounter``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        """Add ``amount`` (not negative)."""
        if amount < 0:
            raise ValueError("counters only go up")
        self.value += amount


class HistogramChild:
    """One label combination of a ``LoopHistogram``: a count per bucket (not cumulative;
    summed when collected) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        """Record one observation."""
        self.counts[bisect.bisect_left(self.bounds, amount)] += 1
        self.sum += amount


Child = TypeVar("Child", CounterChild, HistogramChild)


class _LoopCollector(Collector, Generic[Child]):
    """Labelled children changed on the event loop, exposed as one metric family when
    the registry collects (``labels(...)`` like ``prometheus_client``'s metrics)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = list(labelnames)
        self._children: dict[tuple[str, ...], Child] = {}
        registry.register(self)

    def _new_child(self) -> Child:
        raise NotImplementedError

    def _family(self) -> Metric:
        raise NotImplementedError

    def _add(self, family: Metric, values: list[str], child: Child) -> None:
        raise NotImplementedError

    def labels(self, *values: str) -> Child:
        """The child for these label values (created at first use)."""
        if len(values) != len(self._labelnames):
            raise ValueError(f"expected labels {self._labelnames}, got {values}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._new_child()
        return child

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, child in list(self._children.items()):
            self._add(family, list(values), child)
        yield family


class LoopCounter(_LoopCollector[CounterChild]):
    """A labelled counter for the event loop: ``labels(...).inc(n)`` like
    ``prometheus_client.Counter``; exposed as ``<name>_total``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        super().__init__(name.removesuffix("_total"), documentation, labelnames, registry)

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def _family(self) -> Metric:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def _add(self, family: Metric, values: list[str], child: CounterChild) -> None:
        family.add_metric(values, child.value)  # type: ignore[attr-defined]


class LoopHistogram(_LoopCollector[HistogramChild]):
    """A labelled histogram for the event loop: ``labels(...).observe(x)`` like
    ``prometheus_client.Histogram`` (buckets ``le`` upper bounds, ``+Inf`` added)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        # Set before registering: the registry describes the collector at once.
        self._bounds = (*sorted(float(b) for b in buckets), float("inf"))
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self._bounds)

    def _family(self) -> Metric:
        return HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def _add(self, family: Metric, values: list[str], child: HistogramChild) -> None:
        cumulative, buckets = 0, []
        for bound, count in zip(self._bounds, list(child.counts), strict=True):
            cumulative += count
            buckets.append((_le(bound), cumulative))
        family.add_metric(values, buckets, child.sum)  # type: ignore[attr-defined]


def _le(bound: float) -> str:
    """A bucket bound as ``prometheus_client`` writes it (``+Inf``, ``0.005``, ``1.0``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


REPORTS_RECEIVED = LoopCounter(
    "pantau_intake_reports_received_total",
    "Reports received, by channel (monitor, public, sms).",
    ["channel"],
)
REPORTS_ACCEPTED = LoopCounter(
    "pantau_intake_reports_accepted_total",
    "Reports Kafka acknowledged and answered 202, by channel.",
    ["channel"],
)
REPORTS_REJECTED = LoopCounter(
    "pantau_intake_reports_rejected_total",
    "Reports refused, by channel and reason (validation, unauthenticated, forbidden, "
    "rate_limited, too_large, unavailable, signature, replay, sms_format).",
    ["channel", "reason"],
)
PUBLISH_SECONDS = LoopHistogram(
    "pantau_intake_publish_seconds",
    "Time from handing events to the producer to Kafka's acknowledgement (or give-up).",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 5),
)
IN_FLIGHT = Gauge(
    "pantau_intake_requests_in_flight",
    "Report requests being handled right now (waiting for Kafka included).",
)


class InFlight:
    """The count behind ``IN_FLIGHT``, read when metrics are scraped: a plain integer
    changed on the event loop, where ``Gauge.inc``/``dec`` take a lock each (twice per
    report request)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


REQUESTS_IN_FLIGHT = InFlight()
IN_FLIGHT.set_function(lambda: REQUESTS_IN_FLIGHT.value)
