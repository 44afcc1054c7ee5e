"""Group commit onto an ``AIOKafkaProducer``: concurrent requests append their records to
one shared record batch per partition, each batch is sent once, and every request
waiting on it is woken when Kafka acknowledges it.

A partition has at most one batch of ours submitted and not yet acknowledged (its
*lane* is busy); records arriving meanwhile collect in the lane's open batch, which is
submitted as soon as the previous one is acknowledged. That is what aiokafka's own
accumulator does for ``send`` (the idempotent producer sends one batch per partition
at a time), without its per-record costs: the ``send`` coroutine, a delivery future
and a ``RecordMetadata`` per record, the partition lookup and the accumulator round.
Lanes that become ready in the same event-loop turn are submitted by one task, so they
go out in one produce request.

Each request waits on one future per batch it joined (one for a single report),
created here and resolved with the batch's outcome. A request's deadline fails only
its own futures; the batch goes on (a late copy of a report is harmless: its report id
is deterministic and consumers are idempotent).
"""

import asyncio
import copy
import functools
from collections import deque
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder

# aiokafka's default ``max_request_size``, which ``send`` enforces per record; the broker
# refuses larger requests anyway.
MAX_REQUEST_SIZE = 1024 * 1024
# Full batches a lane may hold beyond its open one (each up to the producer's batch size)
# before appending fails (back-pressure: the request answers 503, as it would after
# ``send`` waited in vain for room in aiokafka's accumulator).
MAX_QUEUED_BATCHES = 4

Record = tuple[int, bytes, bytes]  # partition, key, value


class BacklogFull(KafkaError):
    """A partition's lane already holds ``MAX_QUEUED_BATCHES`` full batches."""


class _Batch:
    """One record batch of a lane and the futures of the requests waiting on it."""

    __slots__ = ("builder", "waiters")

    def __init__(self, builder: BatchBuilder) -> None:
        self.builder = builder
        self.waiters: list[asyncio.Future[None]] = []

    def resolve(self, error: BaseException | None) -> None:
        for waiter in self.waiters:
            if waiter.done():  # its request gave up (deadline) or was cancelled
                continue
            if error is None:
                waiter.set_result(None)
            else:
                # One copy per waiter: many tasks raising one instance would chain
                # their tracebacks onto it.
                waiter.set_exception(copy.copy(error))
        self.waiters = []


class _Lane:
    """One partition: the batch collecting records, full ones waiting, and whether one of
    ours is submitted and not yet acknowledged (``busy``)."""

    __slots__ = ("busy", "open", "partition", "queued")

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.open: _Batch | None = None
        self.queued: deque[_Batch] = deque()
        self.busy = False

    def next_batch(self) -> _Batch | None:
        if self.queued:
            return self.queued.popleft()
        batch, self.open = self.open, None
        return batch


class GroupCommit:
    """The lanes of one producer and topic (a renewed producer gets new ones)."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        """Create it in the event loop that will use it."""
        self._producer = producer
        self._topic = topic
        self._loop = asyncio.get_running_loop()
        self._lanes: dict[int, _Lane] = {}
        self._ready: list[_Lane] = []
        self._submitting: set[asyncio.Task[None]] = set()
        self._failed: BaseException | None = None

    def add(
        self, records: Sequence[Record], headers: list[tuple[str, bytes]]
    ) -> list[asyncio.Future[None]]:
        """Append ``records`` to their partitions' open batches; the futures to wait on
        (one per batch joined), resolved once Kafka acknowledged the batch or failed.

        Raises ``MessageSizeTooLargeError`` for a record larger than a request may carry
        (as ``AIOKafkaProducer.send`` does) and ``BacklogFull`` when a partition already
        holds too many unsent batches; records appended before that stay appended.
        """
        if self._failed is not None:
            raise copy.copy(self._failed)
        joined: list[_Batch] = []
        for partition, key, value in records:
            batch = self._append(partition, key, value, headers)
            if batch not in joined:  # by identity: ``_Batch`` has no ``__eq__``
                joined.append(batch)
        create_future = self._loop.create_future
        waiters = []
        for batch in joined:
            waiter: asyncio.Future[None] = create_future()
            batch.waiters.append(waiter)
            waiters.append(waiter)
        return waiters

    def _append(
        self, partition: int, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> _Batch:
        if len(key) + len(value) > MAX_REQUEST_SIZE // 2:  # smaller ones always fit
            self._check_size(key, value, headers)
        lane = self._lanes.get(partition)
        if lane is None:
            lane = self._lanes[partition] = _Lane(partition)
        batch = lane.open
        if batch is None:
            batch = lane.open = _Batch(self._producer.create_batch())
        if batch.builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            # Full (a batch always takes its first record, so it is not empty).
            if len(lane.queued) >= MAX_QUEUED_BATCHES:
                raise BacklogFull(f"partition {partition} has too many unsent batches")
            lane.queued.append(batch)
            batch = lane.open = _Batch(self._producer.create_batch())
            batch.builder.append(timestamp=None, key=key, value=value, headers=headers)
        if not lane.busy:
            lane.busy = True
            self._schedule(lane)
        return batch

    @staticmethod
    def _check_size(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size > MAX_REQUEST_SIZE:
            raise MessageSizeTooLargeError(
                f"the record is {size} bytes, more than a request may carry ({MAX_REQUEST_SIZE})"
            )

    def _schedule(self, lane: _Lane) -> None:
        """Have ``lane``'s next batch submitted once this event-loop turn is over, with
        every other lane that became ready in it."""
        self._ready.append(lane)
        if len(self._ready) == 1:
            task = self._loop.create_task(self._submit_ready())
            self._submitting.add(task)
            task.add_done_callback(self._submitting.discard)

    async def _submit_ready(self) -> None:
        lanes, self._ready = self._ready, []
        for lane in lanes:
            batch = lane.next_batch()
            if batch is None:  # emptied by ``fail`` meanwhile
                lane.busy = False
                continue
            batch.builder.close()  # a closed batch is sent without lingering
            try:
                # Returns without suspending when the topic's metadata is known and
                # aiokafka holds no undrained batch of this partition.
                delivery = await self._producer.send_batch(
                    batch.builder, self._topic, partition=lane.partition
                )
            except Exception as exc:
                self._acknowledged(lane, batch, None, error=exc)
                continue
            delivery.add_done_callback(functools.partial(self._acknowledged, lane, batch))

    def _acknowledged(
        self,
        lane: _Lane,
        batch: _Batch,
        delivery: "asyncio.Future[object] | None",
        *,
        error: BaseException | None = None,
    ) -> None:
        if delivery is not None:
            if delivery.cancelled():
                error = KafkaError("the batch's delivery was cancelled")
            else:
                error = delivery.exception()
        if error is not None and not isinstance(error, KafkaError):
            error = KafkaError(repr(error))
        batch.resolve(error)
        if lane.queued or lane.open is not None:
            self._schedule(lane)
        else:
            lane.busy = False

    def fail(self, error: KafkaError) -> None:
        """The producer is being replaced: fail every batch not submitted yet, and any
        later ``add``. Submitted ones resolve with their producer's outcome."""
        self._failed = error
        for lane in self._lanes.values():
            while (batch := lane.next_batch()) is not None:
                batch.resolve(error)
