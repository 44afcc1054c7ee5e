"""Timestamps of when each report reaches a topic, read from the topics themselves.

A consumer without a group is assigned every partition and positioned at the end
before the load starts; each record's timestamp (the producing service's clock, the
same host's clock as the generator's) is the report's arrival time on that topic.
Polling reporting's API would add load and its interval to every figure; reading the
topics costs the services nothing.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

METADATA_TIMEOUT_SECONDS = 15.0


class TopicMissing(RuntimeError):
    """A topic to watch does not exist: the stack is not running (or another prefix)."""


def report_ids(value: bytes | None, *, statuses: frozenset[str] | None = None) -> list[str]:
    """The report ids an event is about: ``subject``, ``data.report_id``, ``data.report_ids``.
    With ``statuses``, only events whose ``data.status`` is one of them count (an alert
    lifecycle event is "sent" only once the channel accepted the message)."""
    if not value:
        return []
    try:
        event = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(event, dict):
        return []
    if statuses is not None:
        data = event.get("data")
        if not isinstance(data, dict) or data.get("status") not in statuses:
            return []
    ids: list[str] = []
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    for candidate in (event.get("subject"), data.get("report_id"), *data.get("report_ids", [])):
        if isinstance(candidate, str) and candidate not in ids:
            ids.append(candidate)
    return ids


async def partition_counts(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """Partitions of each existing topic among ``topics`` (missing ones are left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await asyncio.wait_for(
            admin.describe_topics(list(topics)), METADATA_TIMEOUT_SECONDS
        )
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


class TopicArrivals:
    """First arrival time (epoch seconds) of each report id on each watched topic."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topics: Mapping[str, str],
        statuses: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """``topics`` maps a label ("classified", "alerts") to a topic name; ``statuses``
        optionally limits a label to events with one of the given ``data.status``."""
        self._bootstrap = bootstrap
        self._topics = dict(topics)
        self._statuses = dict(statuses or {})
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.arrivals: dict[str, dict[str, float]] = {label: {} for label in topics}
        self.records = 0

    async def start(self) -> None:
        """Assign every partition of the topics and seek to their ends (resolved now,
        so only events produced after this call are seen)."""
        counts = await partition_counts(self._bootstrap, self._topics.values())
        missing = sorted(set(self._topics.values()) - set(counts))
        if missing:
            raise TopicMissing(
                f"topics {missing} do not exist on {self._bootstrap}: is the stack running?"
            )
        partitions = [
            TopicPartition(topic, p) for topic, n in sorted(counts.items()) for p in range(n)
        ]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        assert self._consumer is not None
        label_of = {topic: label for label, topic in self._topics.items()}
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for tp, records in batches.items():
                label = label_of[tp.topic]
                seen, statuses = self.arrivals[label], self._statuses.get(label)
                for record in records:
                    self.records += 1
                    for report_id in report_ids(record.value, statuses=statuses):
                        seen.setdefault(report_id, record.timestamp / 1000)

    def count(self, label: str, ids: Iterable[str]) -> int:
        seen = self.arrivals[label]
        return sum(1 for i in ids if i in seen)

    async def wait_for(self, label: str, ids: set[str], *, timeout: float) -> int:
        """Wait until every id has arrived on ``label``'s topic, or ``timeout`` passes;
        return how many arrived."""
        deadline = time.monotonic() + timeout
        while (arrived := self.count(label, ids)) < len(ids) and time.monotonic() < deadline:
            if self._task is not None and self._task.done():
                self._task.result()  # the consumer failed: raise its error
            await asyncio.sleep(0.1)
        return arrived

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
