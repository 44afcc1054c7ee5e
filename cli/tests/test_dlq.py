"""`pantau dlq replay` against the real broker: two consumer groups dead-letter the same
poison through the real ``MessageProcessor``, one group parks a valid event."""

import uuid
from collections.abc import Mapping

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage

from pantau.cli.dlq import list_letters, partitions_of, replay
from pantau.localstack.testing import wait_for
from pantau.shared import envelope as env
from pantau.shared.events import ReportSubmitted
from pantau.shared.kafka import (
    MessageProcessor,
    PermanentError,
    ensure_topics,
    subscriber_options,
)
from pantau.shared.settings import KafkaSettings
from pantau.shared.testing import submitted
from pantau.shared.tracing import kafka_headers_for
from pantau.shared.validation import parse_event

pytestmark = pytest.mark.integration


async def _read_all(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on ``topic`` now."""
    partitions = await partitions_of(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            batch = await consumer.getmany(timeout_ms=1000)
            records += [r for tp, rs in batch.items() for r in rs if r.offset < ends[tp]]
        return records
    finally:
        await consumer.stop()


def _subscribe(
    broker: KafkaBroker, settings: KafkaSettings, service: str, parked_key: bytes
) -> None:
    processor = MessageProcessor(broker=broker, settings=settings, service=service)

    async def handle(body: bytes, headers: Mapping[str, str]) -> None:
        parse_event(body, ReportSubmitted)  # poison → ContractValidationError → DLQ

    async def handle_with_bug(body: bytes, headers: Mapping[str, str]) -> None:
        event = parse_event(body, ReportSubmitted)
        if event.subject.encode() == parked_key:
            raise PermanentError("a bug in this service, fixed since")

    @broker.subscriber(settings.topics.submitted, **subscriber_options(settings, service=service))
    async def on_message(msg: KafkaMessage) -> None:
        await processor.process(msg, handle_with_bug if service == "beta" else handle)


async def test_replay_sends_each_original_once_and_only_valid_ones(pantau_env, run_id):
    tag = f"{run_id}-{uuid.uuid4().hex[:6]}"
    settings = KafkaSettings(
        kafka_bootstrap=pantau_env["PANTAU_KAFKA_BOOTSTRAP"],
        topic_prefix=f"dlqtest-{tag}.",
        consumer_group_prefix=f"dlqtest-{tag}-",
        max_attempts=1,
    )
    topic = settings.topics.submitted
    dlq = f"{topic}.dlq"
    await ensure_topics(settings.kafka_bootstrap, settings.topics.all_with_partitions())
    valid = submitted()
    parked_key = valid.subject.encode()

    # Two groups read the topic: "alpha" and "beta" both dead-letter the poison; only
    # "beta" (with a since-fixed bug) dead-letters the valid event.
    broker = KafkaBroker(settings.kafka_bootstrap)
    for service in ("alpha", "beta"):
        _subscribe(broker, settings, service, parked_key)
    await broker.start()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b'{"event_id": "not json', key=b"poison")
            await producer.send_and_wait(
                topic,
                valid.to_bytes(),
                key=parked_key,
                headers=[(k, v.encode()) for k, v in kafka_headers_for(valid).items()],
            )
        finally:
            await producer.stop()

        async def three_dead_letters() -> bool:
            return len(await _read_all(settings.kafka_bootstrap, dlq)) >= 3

        await wait_for(three_dead_letters, timeout=30, interval=0.5)
    finally:
        await broker.stop()

    listed = await list_letters(settings, topic="pantau.reports.submitted", limit=10)
    assert sorted((letter.key, letter.group) for letter in listed) == [
        (b"poison", settings.group_id("alpha")),
        (b"poison", settings.group_id("beta")),
        (parked_key, settings.group_id("beta")),
    ]
    assert {letter.headers[env.HEADER_DLQ_SERVICE] for letter in listed} == {"alpha", "beta"}

    first = await replay(settings, topic="pantau.reports.submitted")
    assert first.replayed == 1
    assert [d.letter.key for d in first.invalid] == [b"poison"]
    assert first.duplicates == 1  # the second group's copy of the poison

    second = await replay(settings, topic="pantau.reports.submitted")
    assert second.replayed == 0
    assert second.already_replayed == 1
    assert [d.letter.key for d in second.invalid] == [b"poison"]  # still parked, still reported

    on_topic = await _read_all(settings.kafka_bootstrap, topic)
    assert sorted((r.key or b"") for r in on_topic) == sorted(
        [b"poison", parked_key, parked_key]  # the two originals + the one replay
    )
    for record in on_topic:
        headers = dict(record.headers)
        assert not [h for h in headers if h.startswith("pantau-dlq-")]  # sent as the original
        if record.key == parked_key:
            assert headers[env.HEADER_EVENT_TYPE] == b"report.submitted.v1"
    # The poison is still in the DLQ, not re-sent, not doubled.
    assert len(await _read_all(settings.kafka_bootstrap, dlq)) == 3
