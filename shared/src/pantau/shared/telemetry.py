"""Structured JSON logging, W3C trace context and the metrics every service exports."""

import logging
import os
import re
import sys
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram
from pythonjsonlogger.json import JsonFormatter

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

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
    """One JSON object per line on stderr, with the service name on every record."""
    handler = logging.StreamHandler(sys.stderr)
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


def new_traceparent() -> str:
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def child_traceparent(parent: str | None) -> str:
    """Continue the trace of ``parent`` with a new span id, or start a new trace."""
    match = _TRACEPARENT.match(parent or "")
    if not match:
        return new_traceparent()
    return f"00-{match.group(1)}-{os.urandom(8).hex()}-{match.group(3)}"


def trace_id(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


def observe_end_to_end(*, service: str, stage: str, received_at: datetime) -> None:
    """Record the seconds from intake's receipt of a report to ``stage`` of ``service``."""
    elapsed = (datetime.now(UTC) - received_at).total_seconds()
    END_TO_END_SECONDS.labels(service, stage).observe(max(elapsed, 0.0))
