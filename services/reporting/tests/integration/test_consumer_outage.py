"""A store outage longer than Kafka's max.poll.interval.ms must not cost the consumer its
group membership: the poll interval is long, and the batch is handed back (nacked, polled
again) before it runs out."""

import asyncio
import time
from collections import Counter
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import ConsumerRecord
from pymongo.errors import AutoReconnect

from pantau.localstack.testing import wait_for
from pantau.reporting.adapters.consumer import BatchProjector, register_consumer
from pantau.reporting.config import Config
from pantau.shared import testing as shared_events
from pantau.shared.envelope import Event
from pantau.shared.kafka import (
    MAX_POLL_INTERVAL_MS,
    TransientError,
    ensure_topics,
    make_broker,
    publish_event,
)

pytestmark = pytest.mark.integration


class FlakyStore:
    """A store that is down until ``up`` is set, and records what it applied."""

    def __init__(self) -> None:
        self.up = False
        self.down_since: float | None = None
        self.applied: list[list[Event]] = []

    async def apply_events(self, events: list[Event]) -> None:
        if not self.up:
            if self.down_since is None:
                self.down_since = time.monotonic()
            raise AutoReconnect("ferretdb down")
        self.applied.append(events)

    def times_applied(self) -> Counter[Any]:
        return Counter(e.event_id for batch in self.applied for e in batch)


def _record(topic: str, event: Event, offset: int) -> ConsumerRecord[Any, Any]:
    value = event.to_bytes()
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=[],
    )


async def test_the_poll_interval_reaches_the_aiokafka_consumer(config: Config) -> None:
    # Its own group, so the session's reporting service is not rebalanced.
    own = config.model_copy(
        update={"consumer_group_prefix": f"{config.consumer_group_prefix}poll-{uuid4().hex[:6]}-"}
    )
    store = FlakyStore()
    store.up = True
    broker = make_broker(own, client_id="reporting-poll-interval")
    register_consumer(broker, config=own, store=store)  # type: ignore[arg-type]
    await broker.start()
    try:
        (subscriber,) = broker.subscribers
        consumer = subscriber.consumer  # type: ignore[attr-defined]
        assert consumer is not None
        assert consumer._max_poll_interval_ms == MAX_POLL_INTERVAL_MS > 300_000
        assert consumer._coordinator._max_poll_interval == MAX_POLL_INTERVAL_MS / 1000
    finally:
        await broker.stop()


async def test_a_batch_is_handed_back_during_an_outage_and_applied_once_after(
    config: Config,
) -> None:
    store = FlakyStore()
    projector = BatchProjector(
        broker=make_broker(config, client_id="reporting-outage"),
        config=config,
        store=store,  # type: ignore[arg-type]
        retry_for=0.3,
    )
    submitted = shared_events.submitted(region="32.01.01")
    classified = shared_events.classified(submitted)
    records = (
        _record(config.topics.submitted, submitted, 0),
        _record(config.topics.classified, classified, 0),
    )
    # Down: the batch comes back well before a short poll interval would run out, so
    # the consumer polls again (stays in its group) instead of retrying forever.
    with pytest.raises(TransientError):
        await asyncio.wait_for(projector.project(records), timeout=10)
    assert store.applied == []

    store.up = True  # recovered: the redelivered batch is written once
    await asyncio.wait_for(projector.project(records), timeout=10)
    assert [[e.event_id for e in batch] for batch in store.applied] == [
        [submitted.event_id, classified.event_id]
    ]


async def test_an_outage_longer_than_the_poll_interval_keeps_the_group_and_applies_once(
    config: Config,
) -> None:
    name = f"out{uuid4().hex[:6]}"
    own = config.model_copy(
        update={
            "topic_prefix": f"{config.topic_prefix}{name}.",
            "consumer_group_prefix": f"{config.consumer_group_prefix}{name}-",
        }
    )
    topics = own.topics
    await ensure_topics(own.kafka_bootstrap, topics.all_with_partitions())
    interval = 2.0
    store = FlakyStore()
    broker = make_broker(own, client_id="reporting-outage")
    register_consumer(
        broker,
        config=own,
        store=store,  # type: ignore[arg-type]
        max_poll_interval_ms=int(interval * 1000),
    )
    submitted = shared_events.submitted(region="32.01.01")
    marker = shared_events.submitted(region="32.01.01")
    await broker.start()
    try:
        (subscriber,) = broker.subscribers
        coordinator = subscriber.consumer._coordinator  # type: ignore[attr-defined]
        await publish_event(broker, submitted, topic=topics.submitted, key="k")

        async def joined() -> int | None:
            return coordinator.generation if coordinator.generation > 0 else None

        generation = await wait_for(joined, timeout=20)

        async def outage_outlasted_the_interval() -> bool:
            since = store.down_since
            return since is not None and time.monotonic() - since > 2.5 * interval

        # The outage itself: the store stays down for more than twice the interval.
        await wait_for(outage_outlasted_the_interval, timeout=20)
        store.up = True
        # The marker follows on the same partition: once it is applied, any redelivery
        # of the first batch (after a lost group membership) would have been applied too.
        await publish_event(broker, marker, topic=topics.submitted, key="k")

        async def marker_applied() -> bool:
            return store.times_applied()[marker.event_id] > 0

        await wait_for(marker_applied, timeout=20)
        assert store.times_applied()[submitted.event_id] == 1
        assert coordinator.generation == generation  # never left the group
    finally:
        await broker.stop()
