"""The publish deadline (``Deadlines``, one timer for every request): a report Kafka does
not take or acknowledge in time gives ``PublishUnavailable`` (→ 503) within the
timeout, whether the wait is for room in the producer's buffer or for the ack; a
cancellation from elsewhere is not mistaken for it."""

import asyncio
import time
from typing import Any

import pytest

from pantau.intake.adapters.kafka import KafkaReportPublisher, partition_for
from pantau.intake.core.errors import PublishUnavailable
from pantau.shared.testing import submitted as submitted_event

from ..conftest import make_config

TIMEOUT = 0.3


class StandInProducer:
    """What ``publish`` uses of an ``AIOKafkaProducer``: metadata, ``send``, its futures."""

    def __init__(self, *, hold_send: bool = False) -> None:
        self.hold_send = hold_send
        self.sent: list[dict[str, Any]] = []
        self.futures: list[asyncio.Future[object]] = []
        self.client = self
        self.cluster = self

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(12))

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> "asyncio.Future[object]":
        if self.hold_send:  # the buffer is full: aiokafka waits for room
            await asyncio.sleep(3600)
        self.sent.append({"topic": topic, "value": value, **kwargs})
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def publisher_with(producer: StandInProducer, unit_env: dict[str, str]) -> KafkaReportPublisher:
    publisher = KafkaReportPublisher(config=make_config(unit_env, publish_timeout_seconds=TIMEOUT))
    publisher._producer = producer  # type: ignore[assignment]
    publisher._connected.set()
    return publisher


async def test_acknowledged_in_time_and_keyed_partitioned(unit_env) -> None:
    producer = StandInProducer()
    publisher = publisher_with(producer, unit_env)
    events = [submitted_event(), submitted_event()]
    publishing = asyncio.create_task(publisher.publish(events, traceparent=None))
    await asyncio.sleep(0.01)
    for future in producer.futures:
        future.set_result(None)
    await publishing
    keys = [event.subject.encode() for event in events]
    assert [sent["key"] for sent in producer.sent] == keys
    assert [sent["partition"] for sent in producer.sent] == [partition_for(k, 12) for k in keys]
    assert publisher.in_flight == 0


async def test_no_acknowledgement_gives_unavailable_at_the_deadline(unit_env) -> None:
    publisher = publisher_with(StandInProducer(), unit_env)
    started = time.monotonic()
    with pytest.raises(PublishUnavailable):
        await publisher.publish([submitted_event()], traceparent=None)
    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + 0.5
    assert publisher.in_flight == 0


async def test_no_room_in_the_buffer_gives_unavailable_at_the_deadline(unit_env) -> None:
    publisher = publisher_with(StandInProducer(hold_send=True), unit_env)
    started = time.monotonic()
    with pytest.raises(PublishUnavailable):
        await publisher.publish([submitted_event()], traceparent=None)
    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + 0.5
    # The task itself is not left cancelled: it goes on to answer the 503.
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_later_publishes_keep_their_own_deadlines(unit_env) -> None:
    producer = StandInProducer()
    publisher = publisher_with(producer, unit_env)
    first = asyncio.create_task(publisher.publish([submitted_event()], traceparent=None))
    await asyncio.sleep(TIMEOUT / 2)
    second = asyncio.create_task(publisher.publish([submitted_event()], traceparent=None))
    with pytest.raises(PublishUnavailable):
        await first
    assert not second.done()  # half its time is left
    producer.futures[1].set_result(None)
    await second


async def test_a_cancellation_from_elsewhere_stays_a_cancellation(unit_env) -> None:
    publisher = publisher_with(StandInProducer(hold_send=True), unit_env)
    publishing = asyncio.create_task(publisher.publish([submitted_event()], traceparent=None))
    await asyncio.sleep(0.01)
    publishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await publishing
    await asyncio.sleep(TIMEOUT + 0.1)  # its deadline passes without effect
    assert publisher.in_flight == 0
