"""A producer that aiokafka stopped for good (after a broker restart) is replaced."""

import asyncio
import contextlib
import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from pantau.localstack.testing import Infra, wait_for
from pantau.shared.kafka import (
    dead_producer_error,
    ensure_topics,
    make_broker,
    publish_event,
)
from pantau.shared.settings import KafkaSettings
from pantau.shared.testing import stop_sender_like_a_broker_restart, submitted

pytestmark = pytest.mark.integration


async def test_publish_event_renews_a_producer_whose_sender_died(infra: Infra) -> None:
    topic = f"test-dead-producer-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, {topic: 1})
    broker = make_broker(KafkaSettings(kafka_bootstrap=infra.kafka_bootstrap), client_id="t")
    await broker.start()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        before, after = submitted(), submitted()
        await publish_event(broker, before, topic=topic, key=before.subject)

        producer = broker.config.broker_config.producer._producer.producer  # type: ignore[attr-defined]
        await stop_sender_like_a_broker_restart(producer)
        assert dead_producer_error(producer) is not None
        # The wedge itself: a plain publish on that producer never completes.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(broker.publish(b"lost", topic=topic), timeout=2)

        await asyncio.wait_for(
            publish_event(broker, after, topic=topic, key=after.subject), timeout=15
        )
        keys: set[bytes] = set()

        async def both_arrived() -> bool:
            batches = await consumer.getmany(timeout_ms=200)
            keys.update(r.key for records in batches.values() for r in records if r.key)
            return {before.subject.encode(), after.subject.encode()} <= keys

        await wait_for(both_arrived, timeout=20)
    finally:
        await consumer.stop()
        with contextlib.suppress(Exception):
            await broker.stop()
