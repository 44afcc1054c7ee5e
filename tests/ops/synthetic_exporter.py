"""Serve the real Pantau metric definitions with synthetic traffic, for a real Prometheus.

``python tests/ops/synthetic_exporter.py --port N --module M [--module M ...]`` imports
the modules that define Pantau's metrics (so the names, types, labels and buckets are the
code's own), then keeps incrementing and observing them with plausible label values
until it is killed. tests/ops/test_prometheus_server.py points a
Prometheus at it to run the dashboard's and the rules' queries against live series.
"""

import argparse
import importlib
import itertools
import time

from prometheus_client import Counter, Gauge, Histogram, Summary, start_http_server

from pantau.intake.metrics import LoopCounter, LoopHistogram

# prometheus_client's types and Pantau's own collectors of the same kinds.
METRIC_TYPES = (Counter, Gauge, Histogram, Summary, LoopCounter, LoopHistogram)

# One plausible value per label name; the dashboard filters on several of these
# (service="classifier", status="sent", ...).
LABEL_VALUES = {
    "service": "classifier",
    "topic": "pantau.reports.submitted",
    "outcome": "ok",
    "kind": "transient",
    "error_class": "ContractValidationError",
    "stage": "classified",
    "channel": "email",
    "status": "sent",
    "result": "ok",
    "reason": "validation",
    "step": "1",
    "category": "politik_uang",
    "severity": "high",
    "rules_version": "1",
}
TICK_SECONDS = 0.1


def pantau_metrics(modules: list[str]) -> list[object]:
    """Every metric object the given modules define at module level."""
    found = []
    for name in modules:
        module = importlib.import_module(name)
        found.extend(value for value in vars(module).values() if isinstance(value, METRIC_TYPES))
    return found


def child(metric: object) -> object:
    """The labelled series to move (or the metric itself when it has no labels)."""
    names = metric._labelnames  # type: ignore[attr-defined]
    if not names:
        return metric
    return metric.labels(*(LABEL_VALUES.get(n, "synthetic") for n in names))  # type: ignore[attr-defined]


def main() -> None:
    """Serve /metrics on 127.0.0.1:``--port`` and generate traffic until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--module", action="append", required=True, help="a module defining metrics"
    )
    args = parser.parse_args()
    series = [(metric, child(metric)) for metric in pantau_metrics(args.module)]
    start_http_server(args.port, addr="127.0.0.1")
    for tick in itertools.count():
        for metric, labelled in series:
            if isinstance(metric, Counter | LoopCounter):
                labelled.inc()  # type: ignore[attr-defined]
            elif isinstance(metric, Gauge):
                labelled.set(tick % 7)  # type: ignore[attr-defined]
            else:
                labelled.observe(0.001 * (tick % 50 + 1))  # type: ignore[attr-defined]
        time.sleep(TICK_SECONDS)


if __name__ == "__main__":
    main()
