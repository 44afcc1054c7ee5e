"""``pantau dlq``: inspect dead-lettered messages and replay them to their topic.

Replay reads ``<topic>.dlq`` up to the end offsets seen at start (so it finishes even
while new messages arrive), republishes each message to its original topic with its
original key and headers, and commits after each publish is acknowledged: a crash
mid-replay replays the rest next time, and consumers are idempotent, so a message
replayed twice does no harm.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pantau.shared import envelope as env
from pantau.shared.settings import KafkaSettings
from pantau.shared.topics import DLQ_SUFFIX, Topics

dlq_app = typer.Typer(help="Dead-letter queues: list and replay.", no_args_is_help=True)
REPLAY_GROUP = "pantau-dlq-replay"
_DLQ_HEADERS = {
    env.HEADER_DLQ_ORIGINAL_TOPIC,
    env.HEADER_DLQ_ORIGINAL_PARTITION,
    env.HEADER_DLQ_ORIGINAL_OFFSET,
    env.HEADER_DLQ_ERROR_CLASS,
    env.HEADER_DLQ_ERROR_MESSAGE,
    env.HEADER_DLQ_ATTEMPTS,
}


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def original_topic(self) -> str | None:
        return self.headers.get(env.HEADER_DLQ_ORIGINAL_TOPIC)

    def replay_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.headers.items() if k not in _DLQ_HEADERS]


def _dlq_topic(settings: KafkaSettings, topic: str) -> str:
    base = topic if topic.startswith(settings.topic_prefix) else settings.topics.name(topic)
    return base if base.endswith(DLQ_SUFFIX) else Topics.dlq(base)


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"]:
        raise typer.BadParameter(f"topic {topic} does not exist (error {described['error_code']})")
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


async def read_dead_letters(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> AsyncIterator[tuple[TopicPartition, DeadLetter]]:
    """Every message of ``partitions`` from the group's position up to the end offsets seen now."""
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=1000)
        for tp, records in batch.items():
            for record in records:
                if record.offset >= ends[tp]:
                    pending.discard(tp)
                    break
                yield tp, _dead_letter(record)
                if record.offset + 1 >= ends[tp]:
                    pending.discard(tp)


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers={k: v.decode(errors="replace") for k, v in record.headers},
    )


def _consumer(settings: KafkaSettings, *, group: str | None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def replay(settings: KafkaSettings, *, topic: str, limit: int | None) -> int:
    """Republish dead letters of ``topic``; return how many were replayed."""
    dlq = _dlq_topic(settings, topic)
    partitions = await partitions_of(settings.kafka_bootstrap, dlq)
    consumer = _consumer(settings, group=settings.group_id("dlq-replay"))
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(f"replaying {dlq}", total=limit)
            async for tp, letter in read_dead_letters(consumer, partitions):
                if limit is not None and replayed >= limit:
                    break
                target = letter.original_topic or dlq.removesuffix(DLQ_SUFFIX)
                await producer.send_and_wait(
                    target, letter.value, key=letter.key, headers=letter.replay_headers()
                )
                await consumer.commit({tp: letter.offset + 1})
                replayed += 1
                progress.advance(task)
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed


async def list_letters(settings: KafkaSettings, *, topic: str, limit: int) -> list[DeadLetter]:
    partitions = await partitions_of(settings.kafka_bootstrap, _dlq_topic(settings, topic))
    consumer = _consumer(settings, group=None)
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        async for _, letter in read_dead_letters(consumer, partitions):
            letters.append(letter)
            if len(letters) >= limit:
                break
    finally:
        await consumer.stop()
    return letters


TopicArg = Annotated[
    str, typer.Argument(help="Topic whose DLQ to use, e.g. pantau.reports.submitted")
]


@dlq_app.command("list")
def list_command(
    topic: TopicArg, limit: Annotated[int, typer.Option(help="At most this many.")] = 50
) -> None:
    """Show dead-lettered messages with their error."""
    letters = asyncio.run(list_letters(KafkaSettings(), topic=topic, limit=limit))
    table = Table("partition", "offset", "key", "error", title=f"{len(letters)} dead letter(s)")
    for letter in letters:
        table.add_row(
            str(letter.partition),
            str(letter.offset),
            (letter.key or b"").decode(errors="replace"),
            f"{letter.headers.get(env.HEADER_DLQ_ERROR_CLASS, '?')}: "
            f"{letter.headers.get(env.HEADER_DLQ_ERROR_MESSAGE, '')[:120]}",
        )
    Console().print(table)


@dlq_app.command("replay")
def replay_command(
    topic: TopicArg,
    limit: Annotated[int | None, typer.Option(help="Replay at most this many.")] = None,
) -> None:
    """Send dead-lettered messages back to their original topic (after a fix)."""
    count = asyncio.run(replay(KafkaSettings(), topic=topic, limit=limit))
    typer.echo(f"replayed {count} message(s) from {_dlq_topic(KafkaSettings(), topic)}")
