"""Reading back what intake published, straight from the topic."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord


class TopicReader:
    """Collects every record of one topic from the beginning, in the background."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.records: list[ConsumerRecord[bytes, bytes]] = []

    async def _run(self) -> None:
        async for record in self._consumer:
            self.records.append(record)

    def by_key(self, key: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Records whose key is ``key``."""
        return [r for r in self.records if r.key == key.encode()]


@asynccontextmanager
async def read_topic(bootstrap: str, topic: str) -> AsyncIterator[TopicReader]:
    """A ``TopicReader`` over ``topic`` (no consumer group, from the earliest offset)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    reader = TopicReader(consumer)
    task = asyncio.create_task(reader._run())
    try:
        yield reader
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
