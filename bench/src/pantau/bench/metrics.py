"""What the services say about themselves during a run, from their ``/metrics``.

Scraped before the load and after the drain; the differences give each service's
CPU seconds per report (``process_cpu_seconds_total``) and intake's mean wait for
Kafka's acknowledgement (``pantau_intake_publish_seconds``), which tells a slow
stack (CPU) from a waiting one (broker acknowledgements, queues).
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

CPU_SECONDS = "process_cpu_seconds_total"
PUBLISH_SUM = "pantau_intake_publish_seconds_sum"
PUBLISH_COUNT = "pantau_intake_publish_seconds_count"
# Every consumer's handling time per message (pantau.shared's MessageProcessor): compared
# with its CPU time it tells computing from waiting (on the store, on the broker).
HANDLING_SUM = "pantau_message_processing_seconds_sum"
HANDLING_COUNT = "pantau_message_processing_seconds_count"

Snapshot = dict[str, float]


def parse(text: str) -> Snapshot:
    """Sum every sample of each metric name over its labels (Prometheus text format)."""
    out: Snapshot = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + float(sample.value)
    return out


async def scrape(client: httpx.AsyncClient, url: str) -> Snapshot | None:
    """One service's metrics, or ``None`` when it does not answer (it is then left out)."""
    try:
        response = await client.get(f"{url}/metrics")
    except httpx.HTTPError:
        return None
    return parse(response.text) if response.status_code == 200 else None


async def scrape_all(services: Mapping[str, str], *, timeout: float = 5.0) -> dict[str, Snapshot]:
    """Every named service's metrics that could be read."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        snapshots = await asyncio.gather(*(scrape(client, url) for url in services.values()))
    return {name: snap for name, snap in zip(services, snapshots, strict=True) if snap}


@dataclass(frozen=True)
class ServiceCosts:
    """Per-report costs over one run, from two snapshots."""

    cpu_ms_per_report: dict[str, float]
    publish_mean_ms: float | None  # intake's mean wait for Kafka's acknowledgement
    # Consumers: mean handling milliseconds per message, and messages handled in the run.
    handling_ms: dict[str, float] = field(default_factory=dict)
    handled: dict[str, int] = field(default_factory=dict)


def costs(
    *, before: Mapping[str, Snapshot], after: Mapping[str, Snapshot], reports: int
) -> ServiceCosts:
    """CPU milliseconds per report for each service scraped both times; intake's publish mean."""
    cpu = {}
    for name in sorted(set(before) & set(after)):
        if CPU_SECONDS in before[name] and CPU_SECONDS in after[name] and reports:
            delta = after[name][CPU_SECONDS] - before[name][CPU_SECONDS]
            cpu[name] = delta * 1000 / reports
    publish = None
    if "intake" in before and "intake" in after:
        count = after["intake"].get(PUBLISH_COUNT, 0) - before["intake"].get(PUBLISH_COUNT, 0)
        total = after["intake"].get(PUBLISH_SUM, 0) - before["intake"].get(PUBLISH_SUM, 0)
        publish = total * 1000 / count if count > 0 else None
    handling, handled = {}, {}
    for name in sorted(set(before) & set(after)):
        count = after[name].get(HANDLING_COUNT, 0) - before[name].get(HANDLING_COUNT, 0)
        total = after[name].get(HANDLING_SUM, 0) - before[name].get(HANDLING_SUM, 0)
        if HANDLING_COUNT in after[name]:
            handled[name] = int(count)
            if count > 0:
                handling[name] = total * 1000 / count
    return ServiceCosts(
        cpu_ms_per_report=cpu, publish_mean_ms=publish, handling_ms=handling, handled=handled
    )
