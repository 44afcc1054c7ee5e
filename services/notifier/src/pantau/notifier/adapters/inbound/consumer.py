"""The FastStream subscriber of ``report.classified``: parse, then hand to the core."""

from collections.abc import Awaitable, Callable, Mapping

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from pantau.notifier.core.models import ReportFacts
from pantau.shared.events import AlertEvent, ReportClassified, ReportStatusChanged
from pantau.shared.kafka import MessageProcessor, subscriber_options
from pantau.shared.settings import KafkaSettings
from pantau.shared.validation import parse_event

ReportHandler = Callable[[ReportFacts], Awaitable[object]]
StatusHandler = Callable[[ReportStatusChanged], Awaitable[object]]


def register_consumer(
    *,
    broker: KafkaBroker,
    settings: KafkaSettings,
    service: str,
    handle: ReportHandler,
) -> None:
    """Subscribe to the classified topic; each message goes through ``MessageProcessor``
    (retry, then DLQ) and returns only once its deliveries are recorded."""
    processor = MessageProcessor(broker=broker, settings=settings, service=service)

    async def handle_raw(body: bytes, headers: Mapping[str, str]) -> None:
        event = parse_event(body, ReportClassified)
        await handle(ReportFacts.from_event(event.data))

    @broker.subscriber(
        settings.topics.classified,
        title="notifier.classified",
        description="Classified reports to route and alert on (key: regency code).",
        **subscriber_options(settings, service=service),
    )
    async def on_classified(msg: KafkaMessage) -> None:
        # The raw message, not a parsed body: an invalid payload must reach the DLQ
        # through MessageProcessor instead of failing inside FastStream.
        await processor.process(msg, handle_raw)

    # Declared for the AsyncAPI document: what the notifier publishes, and with what key.
    broker.publisher(
        settings.topics.alerts,
        title="notifier.alerts",
        description="Alert lifecycle events (key: report id).",
        schema=AlertEvent,
    )


def register_status_consumer(
    *,
    broker: KafkaBroker,
    settings: KafkaSettings,
    service: str,
    handle: StatusHandler,
) -> None:
    """Subscribe to ``report.status_changed``: a liaison acting on a report (verifying,
    following up, resolving, rejecting) has seen it, which acknowledges its alerts."""
    processor = MessageProcessor(broker=broker, settings=settings, service=service)

    async def handle_raw(body: bytes, headers: Mapping[str, str]) -> None:
        await handle(parse_event(body, ReportStatusChanged))

    @broker.subscriber(
        settings.topics.status,
        title="notifier.status",
        description="Report status changes; acting on a report acknowledges its alerts.",
        **subscriber_options(settings, service=f"{service}-status"),
    )
    async def on_status(msg: KafkaMessage) -> None:
        await processor.process(msg, handle_raw)
