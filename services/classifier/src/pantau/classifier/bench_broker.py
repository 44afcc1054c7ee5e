"""``python -m pantau.classifier.bench_broker``: the service's speed through the real broker.

For each run: pre-load N submitted events into a fresh topic (so the load generator is
not what is measured), start the classifier app (its lifespan: topics, broker, batch
consumer), and time from start until every report's classified event is acknowledged by
Kafka (acks=all). Needs ``PANTAU_KAFKA_BOOTSTRAP``; prints the median of the runs.

Two same-run baselines, since the machine is shared: the pre-load itself (a raw aiokafka
producer writing the same number of events, acks=all, timed), and the CPU seconds this
process spent per report while the service ran (less sensitive to other load than
wall-clock rates).
"""

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import uuid4

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from pantau.classifier.adapters.consumer import REPORTS_CLASSIFIED
from pantau.classifier.bench import corpus
from pantau.classifier.config import Config
from pantau.classifier.core import load_rules
from pantau.classifier.main import create_app
from pantau.shared.events import RegionRef
from pantau.shared.kafka import ensure_topics
from pantau.shared.testing import submitted
from pantau.shared.topics import Topics

REGIONS = ("32.01.01", "35.27", "31.71.01", "73.71", "11.01.01", "94.71")


def _classified_total() -> float:
    return sum(
        sample.value
        for metric in REPORTS_CLASSIFIED.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


@dataclass(frozen=True)
class RunResult:
    """One run: the service's rate, the raw producer's rate, the CPU cost per report."""

    rate: float
    produce_rate: float
    cpu_us_per_report: float


async def _preload(bootstrap: str, topic: str, count: int) -> float:
    """Write ``count`` submitted events; returns the raw producer's events/s (acks=all)."""
    regions = [RegionRef.from_code(code) for code in REGIONS]
    texts = corpus(count)
    payloads = []
    for i, report in enumerate(texts):
        event = submitted(description=report.text, region=regions[i % len(regions)].code)
        payloads.append((event.to_bytes(), event.subject.encode()))
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for value, key in payloads]
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def one_run(base: Config, count: int) -> RunResult:
    """Reports per second of one run, on its own topics and consumer group."""
    prefix = f"bench-{uuid4().hex[:8]}."
    config = base.model_copy(update={"topic_prefix": prefix, "consumer_group_prefix": prefix})
    topics = Topics(prefix=prefix)
    await ensure_topics(config.kafka_bootstrap, topics.all_with_partitions())
    try:
        produce_rate = await _preload(config.kafka_bootstrap, topics.submitted, count)
        app = create_app(config, rules=load_rules(config.classifier_rules_file))
        before = _classified_total()
        started, cpu_started = time.perf_counter(), time.process_time()
        async with app.router.lifespan_context(app):
            # Polling an in-process counter: cheap, and adds nothing to the measured path.
            while _classified_total() - before < count:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
    finally:
        await _delete_topics(config.kafka_bootstrap, list(topics.all_with_partitions()))
    return RunResult(
        rate=count / elapsed, produce_rate=produce_rate, cpu_us_per_report=cpu / count * 1e6
    )


async def _delete_topics(bootstrap: str, names: list[str]) -> None:
    """The run's own topics go: the broker is shared, and they hold 20k events each."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def run(count: int, runs: int) -> list[RunResult]:
    """Every run's rate."""
    base = Config()  # type: ignore[call-arg]
    return [await one_run(base, count) for _ in range(runs)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m pantau.classifier.bench_broker", description=__doc__
    )
    parser.add_argument("--reports", type=int, default=20_000, help="reports per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.reports, args.runs))
    rates = [r.rate for r in results]
    produce = statistics.median(r.produce_rate for r in results)
    print(
        f"service through the broker: median {statistics.median(rates):,.0f} reports/s over "
        f"{args.runs} runs of {args.reports} (runs: {', '.join(f'{r:,.0f}' for r in rates)})"
    )
    print(
        f"baseline raw aiokafka produce (acks=all), same runs: median {produce:,.0f} events/s "
        f"(ratio {statistics.median(r.rate / r.produce_rate for r in results):.3f})"
    )
    cpu = statistics.median(r.cpu_us_per_report for r in results)
    print(
        f"process CPU per report while serving: median {cpu:,.0f} µs "
        f"(= {1e6 / cpu:,.0f} reports per CPU-second)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
