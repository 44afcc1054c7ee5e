"""The baseline: how fast raw aiokafka produces the same payloads on this machine, now.

The machine is shared and noisy (DESIGN.md), so absolute rates mean little across
runs; the ratio of the stack's accepted rate to this baseline, measured in the same
run, does. The producer is configured like the services' (acks=all, idempotent).
Two figures:

- ``pipelined``: every message handed to the producer at once; it batches freely.
  The broker's ceiling for these payloads.
- ``awaited``: ``concurrency`` tasks, each awaiting its acknowledgement before the
  next send, as intake's request handlers do (202 only once Kafka holds the report).
- ``consume``: a group-less consumer reading everything back and decoding each JSON
  body: the ceiling of any one consumer of these payloads.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from pantau.bench.stats import rate
from pantau.shared.kafka import ensure_topics

SCRATCH_PARTITIONS = 12  # as pantau.reports.submitted


@dataclass(frozen=True)
class BaselineResult:
    messages: int
    pipelined_rate: float
    awaited_rate: float
    concurrency: int
    consume_rate: float | None = None  # a group-less consumer reading them back, msgs/s


def producer(bootstrap: str) -> AIOKafkaProducer:
    """A producer with the settings of ``pantau.shared.kafka.make_broker``."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10_000,
        client_id="pantau-bench-baseline",
    )


async def produce_pipelined(
    kafka: AIOKafkaProducer, *, topic: str, messages: Sequence[tuple[bytes, bytes]]
) -> float:
    """Hand over every message, then wait for all acknowledgements; return msgs/s."""
    started = time.perf_counter()
    pending = [await kafka.send(topic, value=value, key=key) for key, value in messages]
    await asyncio.gather(*pending)
    return rate(len(messages), time.perf_counter() - started)


async def produce_awaited(
    kafka: AIOKafkaProducer,
    *,
    topic: str,
    messages: Sequence[tuple[bytes, bytes]],
    concurrency: int,
) -> float:
    """``concurrency`` senders, each awaiting its acknowledgement; return msgs/s."""
    queue: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def sender() -> None:
        while not queue.empty():
            key, value = queue.get_nowait()
            await kafka.send_and_wait(topic, value=value, key=key)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return rate(len(messages), time.perf_counter() - started)


async def consume_all(*, bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> float:
    """Read ``expected`` messages of ``topic`` from the beginning (no group, like a
    service's consumer without the commit) and decode each as JSON; return msgs/s."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        started: float | None = None
        seen = 0
        deadline = time.monotonic() + timeout
        while seen < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            if started is None and batches:
                # The clock starts at the first data: group-less assignment and the
                # first metadata fetch are not part of the consume rate.
                started = time.perf_counter()
            for records in batches.values():
                for record in records:
                    json.loads(record.value or b"null")
                    seen += 1
        elapsed = time.perf_counter() - started if started is not None else 0.0
    finally:
        await consumer.stop()
    return rate(seen, elapsed)


async def measure(
    *,
    bootstrap: str,
    topic: str,
    messages: Sequence[tuple[bytes, bytes]],
    concurrency: int,
    keep_topic: bool = False,
) -> BaselineResult:
    """Create the scratch ``topic``, time both produce modes, delete the topic again."""
    if not messages:
        raise ValueError("the baseline needs at least one message")
    await ensure_topics(bootstrap, {topic: SCRATCH_PARTITIONS})
    kafka = producer(bootstrap)
    await kafka.start()
    try:
        # Warm-up: one message per partition, so metadata, leader election of the new
        # topic and the connection are done before the clock starts.
        key, value = messages[0]
        for partition in range(SCRATCH_PARTITIONS):
            await kafka.send_and_wait(topic, value=value, key=key, partition=partition)
        pipelined = await produce_pipelined(kafka, topic=topic, messages=messages)
        awaited = await produce_awaited(
            kafka, topic=topic, messages=messages, concurrency=concurrency
        )
        # Warm-up messages plus both produce passes are on the topic.
        consumed = await consume_all(
            bootstrap=bootstrap, topic=topic, expected=SCRATCH_PARTITIONS + 2 * len(messages)
        )
    finally:
        await kafka.stop()
        if not keep_topic:
            await delete_topic(bootstrap, topic)
    return BaselineResult(
        messages=len(messages),
        pipelined_rate=pipelined,
        awaited_rate=awaited,
        concurrency=concurrency,
        consume_rate=consumed,
    )


async def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        with contextlib.suppress(Exception):  # best effort: a leftover scratch topic is harmless
            await admin.delete_topics([topic])
    finally:
        await admin.close()
