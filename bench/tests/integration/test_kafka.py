"""The baseline producer and the arrival watcher against the real broker."""

import json
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pantau.bench import baseline
from pantau.bench.arrivals import TopicArrivals, TopicMissing, partition_counts
from pantau.bench.payloads import ReportFactory
from pantau.localstack.testing import Infra, wait_for
from pantau.shared.kafka import ensure_topics

pytestmark = pytest.mark.integration


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        (count,) = (await partition_counts(bootstrap, [topic])).values()
        partitions = [TopicPartition(topic, p) for p in range(count)]
        return {
            tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()
        }
    finally:
        await consumer.stop()


async def topic_exists(bootstrap: str, topic: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return topic in await admin.list_topics()
    finally:
        await admin.close()


async def test_baseline_produces_every_payload_in_both_modes(
    infra: Infra, pantau_env: dict[str, str]
) -> None:
    topic = f"{pantau_env['PANTAU_TOPIC_PREFIX']}pantau.bench.scratch.{uuid.uuid4().hex[:6]}"
    bodies = ReportFactory(seed=11).batch(300)
    messages = [(b["client_report_id"].encode(), json.dumps(b).encode()) for b in bodies]

    result = await baseline.measure(
        bootstrap=infra.kafka_bootstrap,
        topic=topic,
        messages=messages,
        concurrency=16,
        keep_topic=True,
    )
    try:
        assert result.messages == 300 and result.concurrency == 16
        assert result.pipelined_rate > 0 and result.awaited_rate > 0
        offsets = await end_offsets(infra.kafka_bootstrap, topic)
        assert len(offsets) == baseline.SCRATCH_PARTITIONS
        # One warm-up message per partition, then all 300 pipelined, then all 300 awaited.
        assert all(offset > 0 for offset in offsets.values())
        assert sum(offsets.values()) == baseline.SCRATCH_PARTITIONS + 300 + 300
    finally:
        await baseline.delete_topic(infra.kafka_bootstrap, topic)
    assert await wait_for(lambda: _absent(infra.kafka_bootstrap, topic), timeout=20)


async def _absent(bootstrap: str, topic: str) -> bool:
    return not await topic_exists(bootstrap, topic)


async def test_scratch_topic_is_deleted_after_the_baseline(
    infra: Infra, pantau_env: dict[str, str]
) -> None:
    topic = f"{pantau_env['PANTAU_TOPIC_PREFIX']}pantau.bench.scratch.{uuid.uuid4().hex[:6]}"
    await baseline.measure(
        bootstrap=infra.kafka_bootstrap, topic=topic, messages=[(b"k", b"{}")] * 10, concurrency=2
    )
    assert await wait_for(lambda: _absent(infra.kafka_bootstrap, topic), timeout=20)


async def test_arrivals_timestamp_only_events_produced_after_start(
    infra: Infra, pantau_env: dict[str, str]
) -> None:
    prefix = pantau_env["PANTAU_TOPIC_PREFIX"] + uuid.uuid4().hex[:6] + "."
    classified, alerts = f"{prefix}classified", f"{prefix}alerts"
    await ensure_topics(infra.kafka_bootstrap, {classified: 3, alerts: 2})
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(classified, json.dumps({"subject": "rpt_old"}).encode())
        watcher = TopicArrivals(
            bootstrap=infra.kafka_bootstrap, topics={"classified": classified, "alerts": alerts}
        )
        await watcher.start()
        try:
            before = time.time()
            for i in range(20):
                event = {"subject": f"rpt_{i}", "data": {"report_id": f"rpt_{i}"}}
                await producer.send_and_wait(
                    classified, json.dumps(event).encode(), key=str(i).encode()
                )
            alert = {"subject": "alert_1", "data": {"report_ids": ["rpt_3", "rpt_4"]}}
            await producer.send_and_wait(alerts, json.dumps(alert).encode())
            ids = {f"rpt_{i}" for i in range(20)}
            assert await watcher.wait_for("classified", ids, timeout=20) == 20
            assert await wait_for(lambda: _ready(watcher.count("alerts", {"rpt_3", "rpt_4"}) == 2))
            seen = watcher.arrivals["classified"]
            assert "rpt_old" not in seen
            assert all(before - 1 <= seen[i] <= time.time() + 1 for i in ids)
        finally:
            await watcher.stop()
    finally:
        await producer.stop()


async def _ready(value: bool) -> bool:
    return value


async def test_watching_a_missing_topic_says_the_stack_is_not_running(infra: Infra) -> None:
    watcher = TopicArrivals(
        bootstrap=infra.kafka_bootstrap, topics={"classified": f"missing-{uuid.uuid4().hex}"}
    )
    with pytest.raises(TopicMissing, match="is the stack running"):
        await watcher.start()
