"""The FastStream subscriber of ``report.submitted``: batches in, one classified event
out per report, each record through ``MessageProcessor`` (retry, then DLQ)."""

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import Counter

from pantau.classifier.adapters.events import classified_event, partition_key, report_input
from pantau.classifier.core import Classification, ReportInput, Ruleset, classify
from pantau.shared.events import ReportClassified, ReportSubmitted
from pantau.shared.kafka import MessageProcessor, publish_event, subscriber_options
from pantau.shared.settings import KafkaSettings
from pantau.shared.telemetry import observe_end_to_end
from pantau.shared.validation import parse_event

REPORTS_CLASSIFIED = Counter(
    "pantau_classifier_reports_total",
    "Reports classified, by category, severity and rules version.",
    ["category", "severity", "rules_version"],
)

Classifier = Callable[[ReportInput], Classification]


@dataclass(frozen=True, slots=True)
class RecordMessage:
    """One record of a consumed batch, shaped like the single ``KafkaMessage`` that
    ``MessageProcessor`` reads (body, headers, raw_message), so every record gets the
    same retry → DLQ treatment as in a one-message subscriber."""

    raw_message: Any  # aiokafka ConsumerRecord
    body: bytes
    headers: Mapping[str, str]


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


def make_handler(
    *, broker: KafkaBroker, settings: KafkaSettings, rules: Callable[[], Ruleset]
) -> Callable[[bytes, Mapping[str, str]], Any]:
    """The per-record handler: parse (invalid → DLQ), classify, publish and wait for the ack."""
    topic = settings.topics.classified

    async def handle(body: bytes, headers: Mapping[str, str]) -> None:
        event = parse_event(body, ReportSubmitted)
        result = classify(report_input(event), rules())
        await publish_event(
            broker,
            classified_event(event, result),
            topic=topic,
            key=partition_key(event),
            traceparent=headers.get("traceparent"),
        )
        REPORTS_CLASSIFIED.labels(
            result.category.value, result.severity.value, result.rules_version
        ).inc()
        observe_end_to_end(
            service="classifier", stage="classified", received_at=event.data.received_at
        )

    return handle


def register_consumer(
    *,
    broker: KafkaBroker,
    settings: KafkaSettings,
    service: str,
    rules: Callable[[], Ruleset],
    max_records: int,
    batch_timeout_ms: int,
) -> None:
    """Subscribe to the submitted topic in batches. A batch is committed only after every
    record's classified event (or DLQ copy) is acknowledged; a failure rewinds it."""
    processor = MessageProcessor(broker=broker, settings=settings, service=service)
    handle = make_handler(broker=broker, settings=settings, rules=rules)

    @broker.subscriber(
        settings.topics.submitted,
        title="classifier.submitted",
        description="Submitted reports to classify (key: report id).",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        **subscriber_options(settings, service=service),
    )
    async def on_submitted(msg: KafkaMessage) -> None:
        # Records run concurrently so their publishes share producer batches; each one
        # is independent (a different report or an idempotent repeat of the same one).
        await asyncio.gather(
            *(processor.process(rec, handle) for rec in records_of(msg))  # type: ignore[arg-type]
        )

    # Declared for the AsyncAPI document: what the classifier publishes, and with what key.
    broker.publisher(
        settings.topics.classified,
        title="classifier.classified",
        description="Classified reports (key: regency code, NN.NN).",
        schema=ReportClassified,
    )
