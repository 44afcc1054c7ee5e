"""``pantau dlq``: inspect dead-lettered messages and replay them to their topic.

Several consumer groups read one topic (e.g. classifier and reporting read
``report.submitted``) and dead-letter into the same ``<topic>.dlq``; each entry's
``pantau-dlq-group`` header says which group failed. A replay therefore:

- sends each distinct original message (original topic, partition, offset) back once,
  however many groups dead-lettered it (the others are "duplicates");
- by default sends only entries that now pass the event contract
  (``pantau.shared.validation.parse_event``); still-invalid ones are reported and stay in
  the DLQ (``--include-invalid`` forces them);
- records every original it sent in ``<topic>.dlq.replayed`` (one small record per
  original, key ``topic:partition:offset``), written after the broker acknowledged the
  replayed message. Each run reads that record first and skips what it holds, so running
  replay twice re-sends nothing, and an entry skipped as invalid is considered again next
  time. A crash between the two writes re-sends one message on the next run; consumers
  are idempotent, so that does no harm. A replayed message that fails again is
  dead-lettered under its new offset and is replayable again.

Each run reads the DLQ up to the end offsets seen at start, so it finishes even while new
messages arrive.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pantau.shared import envelope as env
from pantau.shared import topics as base_topics
from pantau.shared.events import AlertEvent, ReportClassified, ReportStatusChanged, ReportSubmitted
from pantau.shared.kafka import ensure_topics
from pantau.shared.settings import KafkaSettings
from pantau.shared.topics import DLQ_SUFFIX, Topics
from pantau.shared.validation import ContractValidationError, parse_event

dlq_app = typer.Typer(help="Dead-letter queues: list and replay.", no_args_is_help=True)
REPLAYED_SUFFIX = ".replayed"
_DLQ_HEADERS = {
    env.HEADER_DLQ_ORIGINAL_TOPIC,
    env.HEADER_DLQ_ORIGINAL_PARTITION,
    env.HEADER_DLQ_ORIGINAL_OFFSET,
    env.HEADER_DLQ_ERROR_CLASS,
    env.HEADER_DLQ_ERROR_MESSAGE,
    env.HEADER_DLQ_ATTEMPTS,
    env.HEADER_DLQ_GROUP,
    env.HEADER_DLQ_SERVICE,
}
# The contract of each topic, by its unprefixed name.
CONTRACTS = {
    base_topics.SUBMITTED: ReportSubmitted,
    base_topics.CLASSIFIED: ReportClassified,
    base_topics.ALERTS: AlertEvent,
    base_topics.STATUS: ReportStatusChanged,
}


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the DLQ it sits in
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def original_topic(self) -> str:
        return self.headers.get(env.HEADER_DLQ_ORIGINAL_TOPIC) or self.topic.removesuffix(
            DLQ_SUFFIX
        )

    @property
    def group(self) -> str:
        return self.headers.get(env.HEADER_DLQ_GROUP, "?")

    @property
    def identity(self) -> str:
        """``topic:partition:offset`` of the original message (Kafka topic names have no
        ``:``); an entry without those headers is its own original."""
        partition = self.headers.get(env.HEADER_DLQ_ORIGINAL_PARTITION)
        offset = self.headers.get(env.HEADER_DLQ_ORIGINAL_OFFSET)
        topic = self.headers.get(env.HEADER_DLQ_ORIGINAL_TOPIC)
        if topic and partition is not None and offset is not None:
            return f"{topic}:{partition}:{offset}"
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def original(self) -> str:
        """``partition:offset`` on the original topic, or the full identity if unknown."""
        return self.identity.removeprefix(f"{self.original_topic}:")

    def replay_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.headers.items() if k not in _DLQ_HEADERS]


class Action(StrEnum):
    REPLAY = "replay"
    INVALID = "still invalid"
    DUPLICATE = "duplicate of another group's entry"
    ALREADY_REPLAYED = "already replayed"


@dataclass(frozen=True)
class Decision:
    letter: DeadLetter
    action: Action
    reason: str = ""


@dataclass
class ReplaySelector:
    """Decides, entry by entry in DLQ order, what a replay does with each dead letter.

    Pure: ``validate`` returns the contract error of a body, or None when it is valid."""

    validate: Callable[[DeadLetter], str | None]
    already_replayed: set[str] = field(default_factory=set)
    include_invalid: bool = False
    _seen: set[str] = field(default_factory=set)

    def decide(self, letter: DeadLetter) -> Decision:
        identity = letter.identity
        if identity in self.already_replayed:
            return Decision(letter, Action.ALREADY_REPLAYED)
        if identity in self._seen:
            return Decision(letter, Action.DUPLICATE)
        self._seen.add(identity)
        error = self.validate(letter)
        if error is not None and not self.include_invalid:
            return Decision(letter, Action.INVALID, error)
        return Decision(letter, Action.REPLAY, error or "")


def select(
    letters: Iterable[DeadLetter],
    *,
    validate: Callable[[DeadLetter], str | None],
    already_replayed: Iterable[str] = (),
    include_invalid: bool = False,
) -> list[Decision]:
    selector = ReplaySelector(validate, set(already_replayed), include_invalid)
    return [selector.decide(letter) for letter in letters]


def contract_error(settings: KafkaSettings, letter: DeadLetter) -> str | None:
    """The event contract error of ``letter``'s body on its original topic, or None."""
    topic = letter.original_topic.removeprefix(settings.topic_prefix)
    model = CONTRACTS.get(topic)
    if model is None:
        return f"no event contract known for topic {letter.original_topic}"
    try:
        parse_event(letter.value, model)
    except ContractValidationError as exc:
        return str(exc)
    return None


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
    """Every message of ``partitions`` from the consumer's position up to the end offsets
    seen now."""
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


async def _count(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> int:
    starts = await consumer.beginning_offsets(partitions)
    ends = await consumer.end_offsets(partitions)
    return sum(ends[tp] - starts[tp] for tp in partitions)


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers={k: v.decode(errors="replace") for k, v in record.headers},
    )


def _consumer(settings: KafkaSettings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=2 * 1024 * 1024,  # a DLQ copy of a 1 MiB message + headers
    )


async def replayed_identities(settings: KafkaSettings, dlq: str, *, create: bool) -> set[str]:
    """The originals an earlier replay of ``dlq`` already sent back."""
    record = dlq + REPLAYED_SUFFIX
    if create:
        await ensure_topics(settings.kafka_bootstrap, {record: 1})
    try:
        partitions = await partitions_of(settings.kafka_bootstrap, record)
    except typer.BadParameter:
        return set()  # never replayed
    consumer = _consumer(settings)
    await consumer.start()
    try:
        return {
            (letter.key or b"").decode()
            async for _, letter in read_dead_letters(consumer, partitions)
        }
    finally:
        await consumer.stop()


@dataclass
class ReplaySummary:
    dlq: str
    replayed: int = 0
    invalid: list[Decision] = field(default_factory=list)
    duplicates: int = 0
    already_replayed: int = 0

    def lines(self) -> list[str]:
        return [
            f"{self.dlq}: replayed {self.replayed} message(s)",
            f"  skipped, still invalid (left in the DLQ): {len(self.invalid)}",
            f"  skipped, duplicate of another group's entry: {self.duplicates}",
            f"  skipped, already replayed by an earlier run: {self.already_replayed}",
        ]


async def replay(
    settings: KafkaSettings,
    *,
    topic: str,
    limit: int | None = None,
    include_invalid: bool = False,
    console: Console | None = None,
) -> ReplaySummary:
    """Republish the dead letters of ``topic`` that a replay should send (see the module)."""
    dlq = _dlq_topic(settings, topic)
    partitions = await partitions_of(settings.kafka_bootstrap, dlq)
    selector = ReplaySelector(
        lambda letter: contract_error(settings, letter),
        await replayed_identities(settings, dlq, create=True),
        include_invalid,
    )
    summary = ReplaySummary(dlq)
    consumer = _consumer(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,
    )
    await consumer.start()
    await producer.start()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task(f"replaying {dlq}", total=await _count(consumer, partitions))
            async for _, letter in read_dead_letters(consumer, partitions):
                if limit is not None and summary.replayed >= limit:
                    break
                decision = selector.decide(letter)
                if decision.action is Action.REPLAY:
                    await producer.send_and_wait(
                        letter.original_topic,
                        letter.value,
                        key=letter.key,
                        headers=letter.replay_headers(),
                    )
                    await producer.send_and_wait(
                        dlq + REPLAYED_SUFFIX, b"", key=letter.identity.encode()
                    )
                    summary.replayed += 1
                elif decision.action is Action.INVALID:
                    summary.invalid.append(decision)
                elif decision.action is Action.DUPLICATE:
                    summary.duplicates += 1
                else:
                    summary.already_replayed += 1
                progress.advance(task)
    finally:
        await producer.stop()
        await consumer.stop()
    return summary


async def list_letters(settings: KafkaSettings, *, topic: str, limit: int) -> list[DeadLetter]:
    partitions = await partitions_of(settings.kafka_bootstrap, _dlq_topic(settings, topic))
    consumer = _consumer(settings)
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
    """Show dead-lettered messages: the consumer group that failed, the
    original message (topic:partition:offset), the error, and whether a
    replay already sent it back."""
    settings = KafkaSettings()
    letters = asyncio.run(list_letters(settings, topic=topic, limit=limit))
    replayed = asyncio.run(replayed_identities(settings, _dlq_topic(settings, topic), create=False))
    table = Table(
        "offset",
        "group",
        "original p:offset",
        "key",
        "error",
        "replayed",
        title=f"{len(letters)} dead letter(s)",
    )
    for letter in letters:
        table.add_row(
            f"{letter.partition}:{letter.offset}",
            letter.group,
            letter.original,
            (letter.key or b"").decode(errors="replace"),
            f"{letter.headers.get(env.HEADER_DLQ_ERROR_CLASS, '?')}: "
            f"{letter.headers.get(env.HEADER_DLQ_ERROR_MESSAGE, '')[:120]}",
            "yes" if letter.identity in replayed else "",
        )
    Console().print(table)


@dlq_app.command("replay")
def replay_command(
    topic: TopicArg,
    limit: Annotated[int | None, typer.Option(help="Replay at most this many.")] = None,
    include_invalid: Annotated[
        bool,
        typer.Option(
            "--include-invalid", help="Also send entries that still fail the event contract."
        ),
    ] = False,
) -> None:
    """Send dead-lettered messages back to their original topic (after a fix).

    Each original message (topic, partition, offset) is sent once, however
    many consumer groups dead-lettered it, and only if it now passes the
    event contract (unless --include-invalid). Each original sent is
    recorded in <topic>.dlq.replayed and skipped by later replays: running
    replay twice sends nothing twice. Still-invalid entries stay in the DLQ
    and are considered again by the next replay.
    """
    summary = asyncio.run(
        replay(KafkaSettings(), topic=topic, limit=limit, include_invalid=include_invalid)
    )
    for line in summary.lines():
        typer.echo(line)
    for decision in summary.invalid[:20]:
        letter = decision.letter
        typer.echo(
            f"  still invalid: {letter.partition}:{letter.offset} group={letter.group} "
            f"original={letter.original}: {decision.reason[:160]}"
        )
    if len(summary.invalid) > 20:
        typer.echo(f"  … and {len(summary.invalid) - 20} more (pantau dlq list {topic})")
