"""`pantau dlq replay` against the real broker."""

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pantau.cli.dlq import list_letters, replay
from pantau.shared import envelope as env
from pantau.shared.kafka import ensure_topics
from pantau.shared.settings import KafkaSettings

pytestmark = pytest.mark.integration


async def test_replay_sends_dead_letters_home_once(pantau_env, run_id):
    settings = KafkaSettings(
        kafka_bootstrap=pantau_env["PANTAU_KAFKA_BOOTSTRAP"],
        topic_prefix=f"dlqtest-{run_id}.",
        consumer_group_prefix=f"dlqtest-{run_id}-",
    )
    topic = settings.topics.submitted
    await ensure_topics(settings.kafka_bootstrap, settings.topics.all_with_partitions())
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(
                f"{topic}.dlq",
                f"payload-{n}".encode(),
                key=f"rpt_{n}".encode(),
                headers=[
                    ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01"),
                    (env.HEADER_DLQ_ORIGINAL_TOPIC, topic.encode()),
                    (env.HEADER_DLQ_ERROR_CLASS, b"ContractValidationError"),
                ],
            )
    finally:
        await producer.stop()

    listed = await list_letters(settings, topic="pantau.reports.submitted", limit=10)
    assert [letter.value for letter in listed] == [b"payload-0", b"payload-1", b"payload-2"]

    assert await replay(settings, topic="pantau.reports.submitted", limit=None) == 3
    assert await replay(settings, topic="pantau.reports.submitted", limit=None) == 0

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records = []
        while len(records) < 3:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "replayed messages did not arrive within 10 s"
            records += [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    assert sorted(r.value for r in records) == [b"payload-0", b"payload-1", b"payload-2"]
    for record in records:
        headers = dict(record.headers)
        assert env.HEADER_DLQ_ERROR_CLASS not in headers  # replayed as the original
        assert headers["traceparent"].startswith(b"00-")
        assert record.key == f"rpt_{record.value.decode()[-1]}".encode()
