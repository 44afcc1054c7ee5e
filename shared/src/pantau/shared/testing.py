"""Factories for valid sample events, shared by every service's tests."""

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from pantau.shared.envelope import utcnow
from pantau.shared.events import (
    Category,
    Channel,
    RegionRef,
    ReportClassified,
    ReportClassifiedData,
    ReportSubmitted,
    ReportSubmittedData,
    Severity,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SAMPLE_REGION = "32.01.01"  # Cibinong, Kabupaten Bogor, Jawa Barat
SAMPLE_TEXT = "Banjir setinggi 1 meter merendam TPS 05, pemungutan suara ditunda."


def submitted(
    *, report_id: str | None = None, region: str = SAMPLE_REGION, **data: Any
) -> ReportSubmitted:
    report_id = report_id or f"rpt_{uuid4().hex}"
    now = utcnow()
    fields: dict[str, Any] = {
        "report_id": report_id,
        "client_id": "monitor-test",
        "client_report_id": str(uuid4()),
        "channel": Channel.MONITOR,
        "received_at": now,
        "occurred_at": now - timedelta(minutes=5),
        "region": RegionRef.from_code(region),
        "tps": 5,
        "description": SAMPLE_TEXT,
    }
    fields.update(data)
    return ReportSubmitted.create(
        producer="intake", subject=report_id, data=ReportSubmittedData(**fields)
    )


def classified(
    source: ReportSubmitted | None = None,
    *,
    category: Category = Category.BENCANA_ALAM,
    severity: Severity = Severity.HIGH,
    rules_version: str = "test-1",
) -> ReportClassified:
    report = (source or submitted()).data
    return ReportClassified.create(
        producer="classifier",
        subject=report.report_id,
        data=ReportClassifiedData.for_report(
            report,
            category=category,
            severity=severity,
            confidence=0.9,
            institutions=["KPU", "BPBD"],
            explanation="contoh",
            rules_version=rules_version,
            classified_at=utcnow(),
        ),
    )


def span_recorder() -> "InMemorySpanExporter":
    """An in-memory exporter of every span this process finishes from now on (installs
    the SDK tracer provider if none is set yet). Call ``.clear()`` between tests."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def stop_sender_like_a_broker_restart(producer: Any) -> None:
    """Leave an ``AIOKafkaProducer`` in the state aiokafka 0.14 leaves it in when a
    restarted broker answers OutOfOrderSequenceNumber (aio-libs/aiokafka#1017): its
    sender task ended with that error, so every later send waits forever."""
    import asyncio
    import contextlib

    from aiokafka.errors import OutOfOrderSequenceNumber

    sender = producer._sender
    sender.sender_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender.sender_task

    async def died() -> None:
        raise OutOfOrderSequenceNumber("the broker lost this producer's sequence numbers")

    ended = asyncio.create_task(died())
    await asyncio.wait([ended])
    sender._sender_task = ended
