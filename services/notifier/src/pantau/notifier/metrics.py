"""The notifier's own Prometheus metrics."""

from prometheus_client import Counter, Histogram

DELIVERIES = Counter(
    "pantau_notifier_deliveries_total",
    "Deliveries by channel and final or scheduling outcome.",
    ["channel", "status"],
)
DELIVERY_ATTEMPTS = Counter(
    "pantau_notifier_delivery_attempts_total",
    "Send attempts by channel and result (ok, transient, permanent).",
    ["channel", "result"],
)
DEAD_LETTERS = Counter(
    "pantau_notifier_dead_letters_total",
    "Deliveries given up after the last attempt.",
    ["channel"],
)
ROUTING_SECONDS = Histogram(
    "pantau_notifier_routing_seconds",
    "Time to route one report.",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01),
)
ESCALATIONS = Counter(
    "pantau_notifier_escalations_total", "Escalation steps taken, by step.", ["step"]
)
UNRECORDED_SEND_SECONDS = Histogram(
    "pantau_notifier_unrecorded_send_seconds",
    "The duplicate window: from a channel accepting a message to its outcome being durable "
    "in the ledger. A crash inside it re-sends on redelivery.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
