"""``python -m pantau.classifier.bench_broker``: the service's speed through the real broker.

For each run: pre-load N submitted events into a fresh topic (so the load generator is
not what is measured), start the classifier app (its lifespan: topics, broker, batch
consumer), and time from start until every report's classified event is acknowledged by
Kafka (acks=all). Needs ``PANTAU_KAFKA_BOOTSTRAP``; prints the median of the runs.
"""

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
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


async def _preload(bootstrap: str, topic: str, count: int) -> None:
    regions = [RegionRef.from_code(code) for code in REGIONS]
    texts = corpus(count)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        futures = []
        for i, report in enumerate(texts):
            event = submitted(description=report.text, region=regions[i % len(regions)].code)
            futures.append(await producer.send(topic, event.to_bytes(), key=event.subject.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def one_run(base: Config, count: int) -> float:
    """Reports per second of one run, on its own topics and consumer group."""
    prefix = f"bench-{uuid4().hex[:8]}."
    config = base.model_copy(update={"topic_prefix": prefix, "consumer_group_prefix": prefix})
    topics = Topics(prefix=prefix)
    await ensure_topics(config.kafka_bootstrap, topics.all_with_partitions())
    await _preload(config.kafka_bootstrap, topics.submitted, count)
    app = create_app(config, rules=load_rules(config.classifier_rules_file))
    before = _classified_total()
    started = time.perf_counter()
    try:
        async with app.router.lifespan_context(app):
            # Polling an in-process counter: cheap, and adds nothing to the measured path.
            while _classified_total() - before < count:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
    finally:
        await _delete_topics(config.kafka_bootstrap, list(topics.all_with_partitions()))
    return count / elapsed


async def _delete_topics(bootstrap: str, names: list[str]) -> None:
    """The run's own topics go: the broker is shared, and they hold 20k events each."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def run(count: int, runs: int) -> list[float]:
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
    rates = asyncio.run(run(args.reports, args.runs))
    print(
        f"service through the broker: median {statistics.median(rates):,.0f} reports/s over "
        f"{args.runs} runs of {args.reports} (runs: {', '.join(f'{r:,.0f}' for r in rates)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
