"""Publishing through the group commit, against a stand-in producer whose acknowledgements
the test gives: every record goes to the partition of its key's murmur2; a publish
returns only once the batch holding its records is acknowledged; records arriving while
a partition's batch is in flight are sent together in the next one; a failed batch fails
exactly its publishes; the publish deadline (``Deadlines``, one timer for every request)
gives ``PublishUnavailable`` (→ 503) within the timeout whether the batch was never taken
or never acknowledged; a cancellation from elsewhere is not mistaken for it."""

import asyncio
import time
from typing import Any

import pytest
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from pantau.intake.adapters import group_commit
from pantau.intake.adapters.kafka import Deadlines, KafkaReportPublisher, partition_for
from pantau.intake.core.errors import PublishUnavailable
from pantau.intake.core.intake import SealedReport
from pantau.shared.testing import submitted as submitted_event

from ..conftest import make_config
from ..fakes import sealed

TIMEOUT = 0.3
NO_DEADLINE = 60.0
PARTITIONS = 12


class SentBatch:
    def __init__(self, partition: int, builder: BatchBuilder, future: "asyncio.Future[Any]"):
        self.partition = partition
        self.builder = builder
        self.future = future

    def record_keys(self) -> list[str]:
        records = DefaultRecordBatch(bytearray(self.builder._build()))
        return [record.key.decode() for record in records]


class StandInProducer:
    """What the group commit uses of an ``AIOKafkaProducer``: metadata, ``create_batch``,
    ``send_batch`` and the batch futures (resolved by the test)."""

    def __init__(self, *, hold_send: bool = False, batch_size: int = 256 * 1024) -> None:
        self.hold_send = hold_send
        self.batch_size = batch_size
        self.sent: list[SentBatch] = []
        self.client = self
        self.cluster = self
        self.partitions = PARTITIONS
        self.listeners: list[Any] = []

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def metadata_updated(self, *, partitions: int) -> None:
        self.partitions = partitions
        for listener in self.listeners:
            listener(self)

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(
        self, builder: BatchBuilder, topic: str, *, partition: int
    ) -> "asyncio.Future[Any]":
        if self.hold_send:  # aiokafka waits for room (the previous batch undrained)
            await asyncio.sleep(3600)
        assert builder.closed(), "a submitted batch must not take more records"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append(SentBatch(partition, builder, future))
        return future

    def unacknowledged(self) -> list[SentBatch]:
        return [batch for batch in self.sent if not batch.future.done()]

    async def acknowledge_all(self) -> int:
        """Acknowledge every batch in flight; how many."""
        pending = self.unacknowledged()
        for batch in pending:
            batch.future.set_result(None)
        await settle()
        return len(pending)


async def settle() -> None:
    """Let callbacks and freshly created tasks run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def publisher_with(
    producer: StandInProducer, unit_env: dict[str, str], *, timeout: float = NO_DEADLINE
) -> KafkaReportPublisher:
    """A publisher on ``producer``; tests of the deadline pass ``timeout=TIMEOUT``, the
    others a deadline that a slow, busy machine never reaches."""
    publisher = KafkaReportPublisher(config=make_config(unit_env, publish_timeout_seconds=TIMEOUT))
    publisher._deadlines = Deadlines(timeout)  # beyond what the settings allow (≤ 1.9 s)
    publisher._producer = producer  # type: ignore[assignment]
    publisher._attach(producer)  # type: ignore[arg-type]
    publisher._connected.set()
    return publisher


def reports(count: int) -> list[SealedReport]:
    return [sealed(submitted_event()) for _ in range(count)]


async def test_acknowledged_in_time_and_keyed_partitioned(unit_env) -> None:
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env)
    events = reports(2)
    publishing = asyncio.create_task(publisher.publish(events, traceparent=None))
    await settle()
    assert not publishing.done()  # nothing acknowledged yet
    await producer.acknowledge_all()
    await publishing
    where = {key: batch.partition for batch in producer.sent for key in batch.record_keys()}
    assert where == {e.report_id: partition_for(e.report_id.encode(), PARTITIONS) for e in events}
    assert publisher.in_flight == 0


async def test_concurrent_publishes_share_one_batch_per_partition_and_wait_for_it(
    unit_env,
) -> None:
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env)
    first_wave = reports(60)
    first = [asyncio.create_task(publisher.publish([r], traceparent=None)) for r in first_wave]
    await settle()
    # One batch per partition touched, each sent once with every record for it.
    partitions = {partition_for(r.report_id.encode(), PARTITIONS) for r in first_wave}
    assert sorted(b.partition for b in producer.sent) == sorted(partitions)
    assert sorted(k for b in producer.sent for k in b.record_keys()) == sorted(
        r.report_id for r in first_wave
    )
    # While those are in flight, new records collect; nothing more is sent yet.
    second_wave = reports(60)
    second = [asyncio.create_task(publisher.publish([r], traceparent=None)) for r in second_wave]
    await settle()
    assert len(producer.sent) == len(partitions)
    assert not any(task.done() for task in first + second)
    # Acknowledging the first batches releases exactly their publishes and sends the rest.
    await producer.acknowledge_all()
    assert all(task.done() and task.exception() is None for task in first)
    assert not any(task.done() for task in second)
    in_flight = producer.unacknowledged()
    assert sorted(k for b in in_flight for k in b.record_keys()) == sorted(
        r.report_id for r in second_wave
    )
    await producer.acknowledge_all()
    await asyncio.gather(*second)
    assert publisher.in_flight == 0


async def test_a_batch_request_waits_for_every_partition(unit_env) -> None:
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env)
    batch = reports(100)
    publishing = asyncio.create_task(publisher.publish(batch, traceparent=None))
    await settle()
    sent = producer.unacknowledged()
    assert len(sent) == len({b.partition for b in sent}) > 1
    for one in sent[:-1]:
        one.future.set_result(None)
    await settle()
    assert not publishing.done()  # one partition not acknowledged yet
    sent[-1].future.set_result(None)
    await publishing


async def test_a_full_batch_is_sent_and_the_rest_follows(unit_env) -> None:
    producer = StandInProducer(batch_size=2048)  # a few reports per batch
    publisher = await publisher_with(producer, unit_env)
    many = reports(40)
    publishing = asyncio.create_task(publisher.publish(many, traceparent=None))
    for _ in range(100):
        await settle()
        if publishing.done() or not await producer.acknowledge_all():
            break
    await publishing
    keys = [k for b in producer.sent for k in b.record_keys()]
    assert sorted(keys) == sorted(r.report_id for r in many)
    assert len(producer.sent) > PARTITIONS  # some partitions needed several batches


async def test_a_failed_batch_fails_its_publishes_only(unit_env) -> None:
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env)
    by_partition: dict[int, SealedReport] = {}
    while len(by_partition) < 2:
        report = sealed(submitted_event())
        by_partition.setdefault(partition_for(report.report_id.encode(), PARTITIONS), report)
    (p1, r1), (p2, r2) = by_partition.items()
    t1 = asyncio.create_task(publisher.publish([r1], traceparent=None))
    t2 = asyncio.create_task(publisher.publish([r2], traceparent=None))
    await settle()
    batches = {b.partition: b for b in producer.sent}
    batches[p1].future.set_exception(KafkaTimeoutError())
    batches[p2].future.set_result(None)
    with pytest.raises(PublishUnavailable):
        await t1
    await t2


async def test_a_record_too_large_is_refused_like_send_does(unit_env, monkeypatch) -> None:
    monkeypatch.setattr(group_commit, "MAX_REQUEST_SIZE", 4096)
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env)
    big = SealedReport(report_id="rpt_big", value=b"x" * 5000)
    with pytest.raises(PublishUnavailable) as caught:
        await publisher.publish([big], traceparent=None)
    assert isinstance(caught.value.__cause__, MessageSizeTooLargeError)
    await settle()
    assert producer.sent == []
    # The partition is not left blocked.
    fine = reports(1)
    publishing = asyncio.create_task(publisher.publish(fine, traceparent=None))
    await settle()
    await producer.acknowledge_all()
    await publishing


async def test_a_backlog_beyond_its_bound_gives_unavailable_at_once(unit_env) -> None:
    producer = StandInProducer(hold_send=True, batch_size=1024)  # about one report a batch
    publisher = await publisher_with(producer, unit_env, timeout=TIMEOUT)
    same_partition = []
    while len(same_partition) < group_commit.MAX_QUEUED_BATCHES + 3:
        report = sealed(submitted_event())
        if partition_for(report.report_id.encode(), PARTITIONS) == 0:
            same_partition.append(report)
    started = time.monotonic()
    with pytest.raises(PublishUnavailable):
        await publisher.publish(same_partition, traceparent=None)
    assert time.monotonic() - started < TIMEOUT / 2


async def test_no_acknowledgement_gives_unavailable_at_the_deadline(unit_env) -> None:
    publisher = await publisher_with(StandInProducer(), unit_env, timeout=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(PublishUnavailable):
        await publisher.publish(reports(1), traceparent=None)
    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + 0.5
    assert publisher.in_flight == 0


async def test_a_batch_never_taken_gives_unavailable_at_the_deadline(unit_env) -> None:
    publisher = await publisher_with(StandInProducer(hold_send=True), unit_env, timeout=TIMEOUT)
    started = time.monotonic()
    with pytest.raises(PublishUnavailable):
        await publisher.publish(reports(1), traceparent=None)
    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + 0.5
    # The task itself is not left cancelled: it goes on to answer the 503.
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_later_publishes_keep_their_own_deadlines(unit_env) -> None:
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env, timeout=TIMEOUT)
    first = asyncio.create_task(publisher.publish(reports(1), traceparent=None))
    await asyncio.sleep(TIMEOUT / 2)
    second = asyncio.create_task(publisher.publish(reports(1), traceparent=None))
    with pytest.raises(PublishUnavailable):
        await first
    await settle()
    assert not second.done()  # half its time is left
    while not second.done():
        await producer.acknowledge_all()
    await second


async def test_a_cancellation_from_elsewhere_stays_a_cancellation(unit_env) -> None:
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env, timeout=TIMEOUT)
    publishing = asyncio.create_task(publisher.publish(reports(1), traceparent=None))
    await settle()
    publishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await publishing
    await asyncio.sleep(TIMEOUT + 0.1)  # its deadline passes without effect
    assert publisher.in_flight == 0
    await producer.acknowledge_all()  # its batch's late acknowledgement is harmless


async def test_a_replaced_producer_fails_its_unsent_batches_only(unit_env) -> None:
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env)
    commit = publisher._commit
    assert commit is not None
    same_partition: list[SealedReport] = []
    while len(same_partition) < 2:
        report = sealed(submitted_event())
        if partition_for(report.report_id.encode(), PARTITIONS) == 3:
            same_partition.append(report)
    sent = asyncio.create_task(publisher.publish(same_partition[:1], traceparent=None))
    await settle()
    unsent = asyncio.create_task(publisher.publish(same_partition[1:], traceparent=None))
    await settle()
    assert len(producer.sent) == 1  # the second waits for the first's acknowledgement
    commit.fail(KafkaError("the producer stopped"))
    with pytest.raises(PublishUnavailable):
        await unsent
    assert not sent.done()  # submitted: it keeps its producer's outcome
    await producer.acknowledge_all()
    await sent
    with pytest.raises(KafkaError):
        commit.add([(3, b"k", b"v")], [])
    assert len(producer.sent) == 1


async def test_the_partition_count_is_reread_after_a_metadata_update(unit_env) -> None:
    producer = StandInProducer()
    publisher = await publisher_with(producer, unit_env)
    for partitions in (PARTITIONS, 24):
        producer.metadata_updated(partitions=partitions)
        events = reports(40)
        publishing = asyncio.create_task(publisher.publish(events, traceparent=None))
        await settle()
        sent = producer.unacknowledged()
        where = {key: batch.partition for batch in sent for key in batch.record_keys()}
        assert where == {
            e.report_id: partition_for(e.report_id.encode(), partitions) for e in events
        }
        await producer.acknowledge_all()
        await publishing
