"""Intake's Prometheus metrics (registered once per process)."""

from prometheus_client import Counter, Gauge, Histogram

REPORTS_RECEIVED = Counter(
    "pantau_intake_reports_received_total",
    "Reports received, by channel (monitor, public, sms).",
    ["channel"],
)
REPORTS_ACCEPTED = Counter(
    "pantau_intake_reports_accepted_total",
    "Reports Kafka acknowledged and answered 202, by channel.",
    ["channel"],
)
REPORTS_REJECTED = Counter(
    "pantau_intake_reports_rejected_total",
    "Reports refused, by channel and reason (validation, unauthenticated, forbidden, "
    "rate_limited, too_large, unavailable, signature, replay, sms_format).",
    ["channel", "reason"],
)
PUBLISH_SECONDS = Histogram(
    "pantau_intake_publish_seconds",
    "Time from handing events to the producer to Kafka's acknowledgement (or give-up).",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 5),
)
IN_FLIGHT = Gauge(
    "pantau_intake_requests_in_flight",
    "Report requests being handled right now (waiting for Kafka included).",
)
