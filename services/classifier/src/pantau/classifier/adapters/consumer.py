"""The FastStream subscriber of ``report.submitted``: batches in, one classified event
out per report, each record through ``MessageProcessor`` (retry, then DLQ).

Records of a batch are handled one after another without waiting for Kafka: each
handler appends its classified event to the producer's batches and hands back the
delivery future; the batch then waits for all of them at once, and only then returns
(so the offsets are committed only once every classified event is acknowledged). A
delivery that fails fails the batch, which is redelivered; the classified event ids are
deterministic, so a repeat is harmless.
"""

import asyncio
import collections
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from pantau.classifier.adapters.events import classified_event_bytes, partition_key, report_input
from pantau.classifier.core import Classification, ReportInput, Ruleset, classify
from pantau.shared.events import ReportClassified, ReportSubmitted
from pantau.shared.kafka import (
    MessageProcessor,
    TransientError,
    dead_producer_error,
    subscriber_options,
)
from pantau.shared.settings import KafkaSettings
from pantau.shared.telemetry import observe_end_to_end
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


class ClassifiedProducer:
    """The producer of ``report.classified``: acks=all and idempotent (the settings of
    ``pantau.shared.kafka.make_broker``), with big batches: with idempotence one request
    per partition is in flight, so throughput is batch size over round trip. Made in
    ``start`` because aiokafka needs the running event loop."""

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
            max_batch_size=1024 * 1024,
            partitioner=keyed_partitioner,
        )
        await self._producer.start()

    async def stop(self) -> None:
        """Flush what is pending and disconnect."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(
        self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]
    ) -> "asyncio.Future[RecordMetadata]":
        """Append a record to the producer's batches; the future resolves on its ack."""
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
        return await self._producer.send(topic, value, key=key, headers=headers)


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
    """The classified events of one batch that Kafka has not acknowledged yet."""

    deliveries: list["asyncio.Future[RecordMetadata]"] = field(default_factory=list)
    outcomes: list[tuple[ReportSubmitted, Classification]] = field(default_factory=list)

    async def settle(self) -> None:
        """Wait for every acknowledgement (raising the first failure), then count them."""
        if self.deliveries:
            await asyncio.gather(*self.deliveries)
        counts = collections.Counter(
            (result.category.value, result.severity.value, result.rules_version)
            for _, result in self.outcomes
        )
        for labels, count in counts.items():
            REPORTS_CLASSIFIED.labels(*labels).inc(count)
        for event, _ in self.outcomes:
            observe_end_to_end(
                service="classifier", stage="classified", received_at=event.data.received_at
            )


def make_handler(
    *,
    producer: ClassifiedProducer,
    settings: KafkaSettings,
    rules: Callable[[], Ruleset],
    pending: PendingDeliveries,
) -> Callable[[bytes, Mapping[str, str]], Any]:
    """The per-record handler: parse (invalid → DLQ), classify, hand the classified event
    to the producer; its acknowledgement is awaited with the batch's (``pending``)."""
    topic = settings.topics.classified

    async def handle(body: bytes, headers: Mapping[str, str]) -> None:
        event = parse_event(body, ReportSubmitted)
        result = classify(report_input(event), rules())
        delivery = await producer.send(
            topic,
            classified_event_bytes(event, result),
            key=partition_key(event).encode(),
            headers=message_headers(headers.get("traceparent")),
        )
        pending.deliveries.append(delivery)
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
        pending = PendingDeliveries()
        handle = make_handler(producer=producer, settings=settings, rules=rules, pending=pending)
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
