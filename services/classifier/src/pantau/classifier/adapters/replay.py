"""Replay submitted events from Kafka through the current rules (``pantau reclassify``).

Reads every partition of the submitted topic from the first offset at or after
``since`` (``offsets_for_times``) up to the end offsets taken at the start, so the run
ends even while intake keeps publishing. Each valid event is classified and published
as a new ``report.classified`` carrying the current ``rules_version``; its event id is
derived from (submitted event, rules version), so re-running the same replay publishes
nothing new downstream consumers have not already deduplicated.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

from pantau.classifier.adapters.events import classified_event, partition_key, report_input
from pantau.classifier.config import Config
from pantau.classifier.core import Ruleset, classify
from pantau.shared.events import ReportSubmitted
from pantau.shared.kafka import make_broker, publish_event
from pantau.shared.validation import ContractValidationError, parse_event

PUBLISH_CHUNK = 500
"""Publishes awaited together: enough to fill producer batches, bounded in memory."""


@dataclass(slots=True)
class ReplayStats:
    """What a replay did."""

    total: int = 0
    """Records between the start and end offsets (known once the range is computed)."""
    read: int = 0
    published: int = 0
    skipped: int = 0
    """Records that are not valid submitted events (the service sent them to the DLQ)."""
    categories: dict[str, int] = field(default_factory=dict)


Progress = Callable[[ReplayStats], None]


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code"):
        return []  # the topic does not exist (yet): nothing to replay
    return sorted(p["partition"] for p in described["partitions"])


async def _ranges(
    consumer: AIOKafkaConsumer, partitions: list[int], topic: str, since: datetime
) -> dict[TopicPartition, tuple[int, int]]:
    """Start (first offset at/after ``since``) and end offset of every partition."""
    tps = [TopicPartition(topic, p) for p in partitions]
    if not tps:
        return {}
    since_ms = int(since.timestamp() * 1000)
    starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
    ends = await consumer.end_offsets(tps)
    out = {}
    for tp in tps:
        found = starts.get(tp)
        start = found.offset if found is not None else ends[tp]
        if start < ends[tp]:
            out[tp] = (start, ends[tp])
    return out


async def reclassify(
    *,
    config: Config,
    rules: Ruleset,
    since: datetime,
    progress: Progress | None = None,
) -> ReplayStats:
    """Replay submitted events since ``since`` and publish their new classification."""
    topic_in, topic_out = config.topics.submitted, config.topics.classified
    stats = ReplayStats()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=config.kafka_bootstrap,
        enable_auto_commit=False,
        group_id=None,  # a replay never moves the service's committed offsets
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    broker = make_broker(config, client_id="classifier-reclassify", linger_ms=5)
    await consumer.start()
    await broker.start()
    try:
        partitions = await _partitions(config.kafka_bootstrap, topic_in)
        ranges = await _ranges(consumer, partitions, topic_in, since)
        stats.total = sum(end - start for start, end in ranges.values())
        if progress:
            progress(stats)
        if not ranges:
            return stats
        consumer.assign(list(ranges))
        for tp, (start, _) in ranges.items():
            consumer.seek(tp, start)
        remaining = dict(ranges)
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=2000)
            pending = []
            for tp, records in batches.items():
                end = remaining[tp][1]
                for record in records:
                    if record.offset >= end:
                        break
                    stats.read += 1
                    pending.append(_publishing(record, rules, broker, topic_out, stats))
            for tp, (_, end) in list(remaining.items()):
                # Position, not the last record: control records of transactions take
                # offsets that no consumer ever sees.
                if await consumer.position(tp) >= end:
                    del remaining[tp]
            for i in range(0, len(pending), PUBLISH_CHUNK):
                await asyncio.gather(*pending[i : i + PUBLISH_CHUNK])
            if progress:
                progress(stats)
    finally:
        await consumer.stop()
        await broker.stop()
    return stats


async def _publishing(
    record: ConsumerRecord[bytes, bytes],
    rules: Ruleset,
    broker: KafkaBroker,
    topic: str,
    stats: ReplayStats,
) -> None:
    try:
        event = parse_event(record.value or b"", ReportSubmitted)
    except ContractValidationError:
        stats.skipped += 1
        return
    result = classify(report_input(event), rules)
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
    await publish_event(
        broker,
        classified_event(event, result),
        topic=topic,
        key=partition_key(event),
        traceparent=headers.get("traceparent"),
    )
    stats.published += 1
    stats.categories[result.category.value] = stats.categories.get(result.category.value, 0) + 1
