"""The subscriber's wiring, on FastStream's in-memory broker: parse, hand over, DLQ."""

from faststream.kafka import KafkaBroker, TestKafkaBroker

from pantau.notifier.adapters.inbound.consumer import register_consumer
from pantau.notifier.core.models import ReportFacts
from pantau.shared import testing
from pantau.shared.settings import KafkaSettings
from pantau.shared.topics import Topics


async def test_a_classified_event_reaches_the_core_and_junk_goes_to_the_dlq():
    settings = KafkaSettings(_env_file=None, topic_prefix="unit.", max_attempts=1)  # type: ignore[call-arg]
    broker = KafkaBroker()
    handled: list[ReportFacts] = []

    async def handle(report: ReportFacts) -> None:
        handled.append(report)

    register_consumer(broker=broker, settings=settings, service="notifier", handle=handle)
    dead: list[bytes] = []

    @broker.subscriber(Topics.dlq(settings.topics.classified))
    async def on_dlq(body: bytes) -> None:
        dead.append(body)

    event = testing.classified()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event.to_bytes(), topic=settings.topics.classified, key=b"32.01")
        await test_broker.publish(b"junk", topic=settings.topics.classified, key=b"32.01")
    assert [r.report_id for r in handled] == [event.data.report_id]
    assert handled[0].regency == "32.01" and handled[0].institutions == ("KPU", "BPBD")
    assert dead == [b"junk"]
