"""The FastStream subscriber of ``report.submitted``: batches in, one classified event
out per report, each record through ``MessageProcessor`` (retry, then DLQ).

Records of a batch are handled one after another without waiting for Kafka: each
handler appends its classified event to the batch's record batches (one aiokafka
``BatchBuilder`` per partition, ``OutgoingBatch``); when the consumed batch is done they
are sent together and acknowledged (acks=all) at once, and only then does the batch
return (so the offsets are committed only once every classified event is acknowledged).
A delivery that fails fails the batch, which is redelivered; the classified event ids
are deterministic, so a repeat is harmless.
"""

import asyncio
import collections
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from pantau.classifier.adapters.events import (
    SERVICE,
    classified_event_bytes,
    partition_key,
    report_input,
)
from pantau.classifier.core import Classification, ReportInput, Ruleset, classify
from pantau.shared.events import ReportClassified, ReportSubmitted
from pantau.shared.kafka import (
    MessageProcessor,
    TransientError,
    dead_producer_error,
    subscriber_options,
)
from pantau.shared.settings import KafkaSettings
from pantau.shared.telemetry import END_TO_END_SECONDS
from pantau.shared.tracing import record_headers_for
from pantau.shared.validation import parse_event

log = logging.getLogger(__name__)

REPORTS_CLASSIFIED = Counter(
    "pantau_classifier_reports_total",
    "Reports classified, by category, severity and rules version.",
    ["category", "severity", "rules_version"],
)

Classifier = Callable[[ReportInput], Classification]


@functools.lru_cache(maxsize=4096)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def keyed_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's ``DefaultPartitioner`` (the Java client's murmur2 of the key) with the
    hash memoised per key: keys are region codes, a few hundred in all, and the pure
    Python murmur2 cost a few µs per record."""
    if key is None:
        return DefaultPartitioner()(key, all_partitions, available)
    return all_partitions[_key_hash(key) % len(all_partitions)]


MAX_REQUEST_SIZE = 1024 * 1024
"""The largest classified record (aiokafka's default ``max_request_size``)."""
MAX_BATCH_SIZE = 1024 * 1024
"""Bytes per record batch of one partition; a fuller one is sent at once."""


class ClassifiedProducer:
    """The producer of ``report.classified``: acks=all and idempotent (the settings of
    ``pantau.shared.kafka.make_broker``). Made in ``start`` because aiokafka needs the
    running event loop."""

    def __init__(self, settings: KafkaSettings, *, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=10_000,
            linger_ms=10,
            max_batch_size=MAX_BATCH_SIZE,
            max_request_size=MAX_REQUEST_SIZE,
            partitioner=keyed_partitioner,
        )
        await self._producer.start()

    async def stop(self) -> None:
        """Flush what is pending and disconnect."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def batch(self, topic: str) -> "OutgoingBatch":
        """An empty outgoing batch for ``topic``."""
        if self._producer is None:
            raise TransientError("the classified producer is not started")
        if (error := dead_producer_error(self._producer)) is not None:
            # After a broker restart aiokafka's idempotent producer may never send again.
            log.warning("classified producer stopped for good (%r); starting a new one", error)
            dead, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await dead.stop()
            await self.start()
            assert self._producer is not None
        partitions = list(await self._producer.partitions_for(topic))
        return OutgoingBatch(self._producer, topic, partitions)


class OutgoingBatch:
    """The classified events of one consumed batch, appended to one aiokafka record batch
    per partition (``BatchBuilder``) instead of ``send`` per record: no per-record
    future, partition lookup and accumulator round, and no per-record acknowledgement
    to resolve. Partitions are chosen as ``send`` would (``keyed_partitioner`` over the
    topic's partitions); a record batch that fills up is sent at once.

    ``send`` submits the rest and waits until Kafka acknowledged every record batch."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: list[int]) -> None:
        self._producer = producer
        self._topic = topic
        self._partitions = partitions
        self._builders: dict[int, BatchBuilder] = {}
        self._deliveries: list[asyncio.Future[Any]] = []

    async def add(self, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Append one record (``MessageSizeTooLargeError`` if it exceeds a request, as
        ``AIOKafkaProducer.send`` raises)."""
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size > MAX_REQUEST_SIZE:
            raise MessageSizeTooLargeError(
                f"the classified event is {size} bytes, more than a request may carry"
            )
        partition = keyed_partitioner(key, self._partitions, self._partitions)
        builder = self._builders.get(partition)
        if builder is None:
            builder = self._builders[partition] = self._producer.create_batch()
        while builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            # Full (a record batch always takes its first record): send it, start another.
            await self._submit(partition, builder)
            builder = self._builders[partition] = self._producer.create_batch()

    async def _submit(self, partition: int, builder: BatchBuilder) -> None:
        builder.close()  # a closed record batch is sent without lingering
        delivery = await self._producer.send_batch(builder, self._topic, partition=partition)
        self._deliveries.append(delivery)

    async def send(self) -> None:
        """Submit every record batch and wait for all acknowledgements (raising the first
        failure)."""
        builders, self._builders = self._builders, {}
        for partition, builder in builders.items():
            await self._submit(partition, builder)
        deliveries, self._deliveries = self._deliveries, []
        if deliveries:
            await asyncio.gather(*deliveries)


# Headers depend on the event's type only (and the trace context): a model instance
# without data stands for every classified event, so none is built per report.
_CLASSIFIED_TYPE = ReportClassified.model_construct()


def message_headers(traceparent: str | None) -> list[tuple[str, bytes]]:
    """The Kafka headers of a classified event: its type and the current trace context
    (the one place the consumer builds them)."""
    return record_headers_for(_CLASSIFIED_TYPE, traceparent=traceparent)


@dataclass(frozen=True, slots=True)
class RecordMessage:
    """One record of a consumed batch, shaped like the single ``KafkaMessage`` that
    ``MessageProcessor`` reads (body, headers, raw_message), so every record gets the
    same retry → DLQ treatment as in a one-message subscriber."""

    raw_message: Any  # aiokafka ConsumerRecord
    body: bytes
    headers: Mapping[str, str]


def undecoded(msg: Any) -> None:
    """The subscriber's decoder: the handler reads the records themselves (``records_of``)
    and parses each one against the contract, so FastStream's own decoding (JSON-parsing
    every body of the batch into Python objects nobody reads) is skipped."""
    return None


def records_of(msg: KafkaMessage) -> list[RecordMessage]:
    """Split a batch message into its records (a single message gives one)."""
    raw = msg.raw_message
    records = raw if isinstance(raw, tuple) else (raw,)
    return [
        RecordMessage(
            raw_message=rec,
            body=rec.value or b"",
            headers={k: v.decode(errors="replace") for k, v in (rec.headers or ())},
        )
        for rec in records
    ]


@dataclass(slots=True)
class PendingDeliveries:
    """The classified events of one consumed batch that Kafka has not acknowledged yet."""

    producer: ClassifiedProducer
    topic: str
    outgoing: OutgoingBatch | None = None
    """Made by the first record's handler, so a producer that is down (or must be
    renewed) is a transient error of that record, retried by ``MessageProcessor``."""
    outcomes: list[tuple[ReportSubmitted, Classification]] = field(default_factory=list)

    async def add(self, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]) -> None:
        if self.outgoing is None:
            self.outgoing = await self.producer.batch(self.topic)
        await self.outgoing.add(value, key=key, headers=headers)

    async def settle(self) -> None:
        """Send and wait for every acknowledgement (raising the first failure), then count
        them."""
        if self.outgoing is not None:
            await self.outgoing.send()
        counts = collections.Counter(
            (result.category.value, result.severity.value, result.rules_version)
            for _, result in self.outcomes
        )
        for labels, count in counts.items():
            REPORTS_CLASSIFIED.labels(*labels).inc(count)
        if self.outcomes:
            # ``observe_end_to_end`` for each report, with the label lookup and the clock
            # read once per batch (they cost more than the observation itself).
            histogram = END_TO_END_SECONDS.labels(SERVICE, "classified")
            now = datetime.now(UTC)
            for event, _ in self.outcomes:
                histogram.observe(max((now - event.data.received_at).total_seconds(), 0.0))


def make_handler(
    *,
    rules: Callable[[], Ruleset],
    pending: PendingDeliveries,
) -> Callable[[bytes, Mapping[str, str]], Any]:
    """The per-record handler: parse (invalid → DLQ), classify, add the classified event
    to the outgoing batch; its acknowledgement is awaited with the batch's (``pending``)."""

    async def handle(body: bytes, headers: Mapping[str, str]) -> None:
        event = parse_event(body, ReportSubmitted)
        result = classify(report_input(event), rules())
        await pending.add(
            classified_event_bytes(event, result),
            key=partition_key(event).encode(),
            headers=message_headers(headers.get("traceparent")),
        )
        pending.outcomes.append((event, result))

    return handle


def register_consumer(
    *,
    broker: KafkaBroker,
    producer: ClassifiedProducer,
    settings: KafkaSettings,
    service: str,
    rules: Callable[[], Ruleset],
    max_records: int,
    batch_timeout_ms: int,
) -> None:
    """Subscribe to the submitted topic in batches. A batch is committed only after every
    record's classified event (or DLQ copy) is acknowledged; a failure rewinds it.

    ``producer`` is started by the app's lifespan, before the broker."""
    processor = MessageProcessor(broker=broker, settings=settings, service=service)

    @broker.subscriber(
        settings.topics.submitted,
        title="classifier.submitted",
        description="Submitted reports to classify (key: report id).",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        decoder=undecoded,
        **subscriber_options(settings, service=service),
    )
    async def on_submitted(msg: KafkaMessage) -> None:
        pending = PendingDeliveries(producer, settings.topics.classified)
        handle = make_handler(rules=rules, pending=pending)
        for record in records_of(msg):
            await processor.process(record, handle)  # type: ignore[arg-type]
        await pending.settle()

    # Declared for the AsyncAPI document: what the classifier publishes, and with what key.
    broker.publisher(
        settings.topics.classified,
        title="classifier.classified",
        description="Classified reports (key: regency code, NN.NN).",
        schema=ReportClassified,
    )
