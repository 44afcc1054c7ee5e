"""Structured JSON logging (with trace ids) and the metrics every service exports."""

import asyncio
import contextlib
import logging
import os
import sys
import time
import weakref
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

from pantau.shared.tracing import TraceIdsFilter, configure_tracing

log = logging.getLogger(__name__)

MESSAGES_PROCESSED = Counter(
    "pantau_messages_processed_total",
    "Kafka messages handled, by outcome (ok, dlq).",
    ["service", "topic", "outcome"],
)
MESSAGE_RETRIES = Counter(
    "pantau_message_retries_total",
    "Retries of a failing Kafka message, by kind (transient infrastructure, error).",
    ["service", "topic", "kind"],
)
DLQ_MESSAGES = Counter(
    "pantau_dlq_messages_total",
    "Messages sent to a dead-letter topic, by error class.",
    ["service", "topic", "error_class"],
)
PROCESSING_SECONDS = Histogram(
    "pantau_message_processing_seconds",
    "Time to handle one Kafka message, retries included.",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
END_TO_END_SECONDS = Histogram(
    "pantau_end_to_end_seconds",
    "Seconds from intake's receipt of a report to this service's effect.",
    ["service", "stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def configure_logging(service: str, level: str | None = None) -> None:
    """One JSON object per line on stderr, with the service name on every record and the
    ``trace_id``/``span_id`` of the span it was logged in. Also installs tracing
    (``pantau.shared.tracing.configure_tracing``), so every service that logs traces."""
    configure_tracing(service)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceIdsFilter())
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("PANTAU_LOG_LEVEL", "INFO"))


def observe_end_to_end(*, service: str, stage: str, received_at: datetime) -> None:
    """Record the seconds from intake's receipt of a report to ``stage`` of ``service``."""
    elapsed = (datetime.now(UTC) - received_at).total_seconds()
    END_TO_END_SECONDS.labels(service, stage).observe(max(elapsed, 0.0))


LAG_TIMEOUT_SECONDS = 2.0


CONSUMER_LAG = Gauge(
    "pantau_consumer_lag",
    "Messages this process's consumer group has not committed yet, per topic and partition "
    "(high watermark minus committed offset); read when /metrics is scraped, for each "
    "partition the consumer has fetched from.",
    ["service", "consumergroup", "topic", "partition"],
)


class ConsumerLagTracker:
    """The brokers whose consumers' lag ``CONSUMER_LAG`` shows."""

    def __init__(self) -> None:
        self._brokers: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def track(self, broker: Any, *, service: str) -> None:
        self._brokers[broker] = service

    async def refresh(self) -> None:
        samples: dict[tuple[str, str, str, str], int] = {}
        for broker, service in list(self._brokers.items()):
            for subscriber in list(getattr(broker, "subscribers", ())):
                consumer = getattr(subscriber, "consumer", None)
                if consumer is None:
                    continue
                group = getattr(subscriber, "group_id", None) or ""
                with contextlib.suppress(Exception):
                    for tp, lag in await _consumer_lag(consumer):
                        samples[(service, group, tp.topic, str(tp.partition))] = lag
        CONSUMER_LAG.clear()  # partitions revoked since the last scrape disappear
        for labels, lag in samples.items():
            CONSUMER_LAG.labels(*labels).set(lag)


async def _consumer_lag(consumer: Any) -> list[tuple[TopicPartition, int]]:
    async def one(tp: TopicPartition) -> tuple[TopicPartition, int] | None:
        high = consumer.highwater(tp)
        if high is None:
            return None
        committed = await consumer.committed(tp)
        if committed is None:
            committed = await consumer.position(tp)
        return tp, max(high - committed, 0)

    found = await asyncio.gather(*(one(tp) for tp in consumer.assignment()))
    return [pair for pair in found if pair is not None]


_LAG_TRACKER = ConsumerLagTracker()


def track_consumer_lag(broker: Any, *, service: str) -> None:
    """Export the lag of ``broker``'s consumers (``make_broker`` does this)."""
    _LAG_TRACKER.track(broker, service=service)


async def refresh_consumer_lag(timeout: float = LAG_TIMEOUT_SECONDS) -> None:
    """Re-read every tracked consumer's lag; never makes a scrape wait longer than ``timeout``."""
    try:
        await asyncio.wait_for(_LAG_TRACKER.refresh(), timeout)
    except TimeoutError:
        log.warning("consumer lag not refreshed within %.1fs", timeout)


HTTP_REQUESTS = Counter(
    "pantau_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "pantau_http_request_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
UNTIMED_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})


class HttpMetricsMiddleware:
    """Pure ASGI middleware counting and timing every HTTP request by its route template
    (``/v1/reports/{report_id}``, never the raw path, so label values stay bounded)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            if route not in UNTIMED_ROUTES:
                method = scope.get("method", "")
                HTTP_REQUESTS.labels(method, route, str(status)).inc()
                HTTP_REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)
