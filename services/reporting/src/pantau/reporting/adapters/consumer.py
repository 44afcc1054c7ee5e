"""FastStream subscriber: every event of the four topics into the read models, in batches.

One subscriber reads all four topics, so one process never writes one report from two
concurrent handlers; a second replica may, which the store's compare-and-swap handles.
A batch is parsed and written with bulk writes in one go. If that fails for any reason
but an unreachable dependency, the batch falls back to one message at a time through
``MessageProcessor`` (retry with backoff, then the DLQ), so one bad message cannot hold
up the others. The batch is acknowledged only after every message's effect is durable.
While the store is down the batch is retried for at most half the consumer's
``max_poll_interval_ms``, then handed back (``TransientError``: the batch is nacked, its
partitions are rewound and it is polled again), so an outage of any length never gets the
consumer thrown out of its group.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from pantau.reporting.adapters.store import ReportStore
from pantau.reporting.config import SERVICE, Config
from pantau.shared.envelope import Event
from pantau.shared.events import AlertEvent, ReportClassified, ReportStatusChanged, ReportSubmitted
from pantau.shared.kafka import (
    MAX_BACKOFF_SECONDS,
    MAX_POLL_INTERVAL_MS,
    TRANSIENT_ERRORS,
    MessageProcessor,
    PermanentError,
    TransientError,
    subscriber_options,
)
from pantau.shared.telemetry import MESSAGE_RETRIES, MESSAGES_PROCESSED, observe_end_to_end
from pantau.shared.validation import ContractValidationError, parse_event

log = logging.getLogger(__name__)


def event_models(config: Config) -> dict[str, type[Event]]:
    """The event model each consumed topic carries."""
    topics = config.topics
    return {
        topics.submitted: ReportSubmitted,
        topics.classified: ReportClassified,
        topics.alerts: AlertEvent,
        topics.status: ReportStatusChanged,
    }


@dataclass(frozen=True)
class RecordMessage:
    """One record of a batch, shaped like the ``KafkaMessage`` ``MessageProcessor`` reads."""

    raw_message: ConsumerRecord[Any, Any]
    body: bytes = field(init=False)
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        record = self.raw_message
        object.__setattr__(self, "body", record.value or b"")
        object.__setattr__(
            self, "headers", {k: v.decode(errors="replace") for k, v in record.headers or ()}
        )


class BatchProjector:
    """Writes batches of records into the store; the per-message path is the fallback."""

    def __init__(
        self, *, broker: KafkaBroker, config: Config, store: ReportStore, retry_for: float
    ) -> None:
        self._models = event_models(config)
        self._store = store
        self._processor = MessageProcessor(broker=broker, settings=config, service=SERVICE)
        self._backoff = config.retry_backoff_seconds
        self._retry_for = retry_for  # seconds of outage before the batch is handed back

    @property
    def topics(self) -> list[str]:
        return list(self._models)

    def parse(self, record: ConsumerRecord[Any, Any]) -> Event:
        """The event a record carries; ``PermanentError``/contract errors if none."""
        model = self._models.get(record.topic)
        if model is None:
            raise PermanentError(f"reporting does not consume topic {record.topic!r}")
        return parse_event(record.value or b"", model)

    async def project(self, records: tuple[ConsumerRecord[Any, Any], ...]) -> None:
        """Make every record's effect durable (or dead-lettered) before returning."""
        events: list[Event] = []
        invalid: list[ConsumerRecord[Any, Any]] = []
        for record in records:
            try:
                events.append(self.parse(record))
            except (ContractValidationError, PermanentError):
                invalid.append(record)
        attempt = 0
        give_back_at = time.monotonic() + self._retry_for
        while True:
            attempt += 1
            try:
                await self._store.apply_events(events)
            except TRANSIENT_ERRORS as exc:
                # The store or broker is down: the messages are not at fault. Retry the
                # whole batch until it is back (offsets stay uncommitted meanwhile).
                for topic in {r.topic for r in records}:
                    MESSAGE_RETRIES.labels(SERVICE, topic, "transient").inc()
                if time.monotonic() >= give_back_at:
                    raise TransientError(
                        f"store unavailable for {self._retry_for:.0f}s; batch handed back"
                    ) from exc
                log.warning("dependency unavailable, retrying batch: %r", exc)
                await asyncio.sleep(min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
                continue
            except Exception as exc:
                log.warning("batch write failed, falling back to single messages: %r", exc)
                await self._one_by_one(records)
                return
            break
        for record in records:
            if record not in invalid:
                MESSAGES_PROCESSED.labels(SERVICE, record.topic, "ok").inc()
        for event in events:
            if isinstance(event, ReportSubmitted | ReportClassified):
                stage = "submitted" if isinstance(event, ReportSubmitted) else "classified"
                observe_end_to_end(
                    service=SERVICE, stage=f"read_model_{stage}", received_at=event.data.received_at
                )
        # Parsing fails again there and the shared processor dead-letters them at once.
        await self._one_by_one(tuple(invalid))

    async def _one_by_one(self, records: tuple[ConsumerRecord[Any, Any], ...]) -> None:
        for record in records:
            message = RecordMessage(record)

            async def handle(raw: bytes, headers: Mapping[str, str], rec: Any = record) -> None:
                await self._store.apply_events([self.parse(rec)])

            await self._processor.process(message, handle)  # type: ignore[arg-type]


def register_consumer(
    broker: KafkaBroker,
    *,
    config: Config,
    store: ReportStore,
    max_poll_interval_ms: int = MAX_POLL_INTERVAL_MS,
) -> None:
    """Subscribe the read-model projection to all four topics on ``broker``."""
    options = subscriber_options(config, service=SERVICE, max_poll_interval_ms=max_poll_interval_ms)
    projector = BatchProjector(
        broker=broker, config=config, store=store, retry_for=max_poll_interval_ms / 1000 / 2
    )

    @broker.subscriber(
        *projector.topics,
        batch=True,
        max_records=config.batch_max_records,
        batch_timeout_ms=config.batch_timeout_ms,
        title="reporting.read_model",
        description="Folds every report event into the per-report read model, in batches.",
        **options,
    )
    async def project_events(batch: KafkaMessage) -> None:
        await projector.project(batch.raw_message)  # type: ignore[arg-type]
