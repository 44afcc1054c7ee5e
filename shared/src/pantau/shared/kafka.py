"""Kafka building blocks: the broker factory, topic creation, publishing, and the
retry → DLQ processing every consumer uses.

Delivery rules (DESIGN.md): producers use acks=all and idempotence; consumers
commit only after their effect is durable. A message is retried with backoff;
infrastructure outages (store or broker unreachable) are retried without limit
because the message is not at fault; anything else goes to ``<topic>.dlq`` after
``max_attempts``, and invalid payloads go there at once.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    TopicAlreadyExistsError,
)
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry import trace
from prometheus_client import REGISTRY
from pymongo.errors import ConnectionFailure

from pantau.shared import envelope as env
from pantau.shared.envelope import Event
from pantau.shared.settings import KafkaSettings
from pantau.shared.telemetry import (
    DLQ_MESSAGES,
    MESSAGE_RETRIES,
    MESSAGES_PROCESSED,
    PROCESSING_SECONDS,
    track_consumer_lag,
)
from pantau.shared.topics import Topics
from pantau.shared.tracing import (
    batch_tracing,
    consume_span,
    kafka_headers_for,
    mark_failed,
    publish_span,
)
from pantau.shared.validation import ContractValidationError

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
DLQ_ERROR_MESSAGE_LIMIT = 1000


class PermanentError(Exception):
    """Processing this message can never succeed; send it to the DLQ now."""


class TransientError(Exception):
    """A dependency is unavailable; retry the same message until it is back."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    ConnectionFailure,  # MongoDB unreachable (includes AutoReconnect, timeouts)
    KafkaConnectionError,
    KafkaTimeoutError,
    # The broker lost the idempotent producer's sequence state (e.g. it restarted): the
    # message is fine, the producer is renewed before the next attempt.
    OutOfOrderSequenceNumber,
)


def dead_producer_error(producer: AIOKafkaProducer) -> BaseException | None:
    """The error that stopped ``producer`` for good, or None while it can still send.

    aiokafka (0.14, aio-libs/aiokafka#1017) ends an idempotent producer's sender task when
    the broker answers OutOfOrderSequenceNumber, which happens after a broker restart;
    every later send then waits forever. Only a new producer (a new producer id) sends
    again. aiokafka has no public way to ask, hence the private attribute.
    """
    task = getattr(getattr(producer, "_sender", None), "sender_task", None)
    if task is None or not task.done() or task.cancelled():
        return None
    return task.exception() or RuntimeError("the producer's sender task ended")


async def renew_dead_producer(broker: KafkaBroker) -> bool:
    """Replace ``broker``'s producer if its sender died (see ``dead_producer_error``), with
    the same settings; True when it did. A no-op for a broker that is not connected."""
    # Test doubles of a broker have no FastStream config: nothing to renew there.
    broker_config = getattr(getattr(broker, "config", None), "broker_config", None)
    fast_producer = getattr(broker_config, "producer", None)
    state = getattr(fast_producer, "_producer", None)
    old = getattr(state, "producer", None) if state else None
    if old is None or (error := dead_producer_error(old)) is None:
        return False
    log.warning("Kafka producer stopped for good (%r); starting a new one", error)
    with contextlib.suppress(Exception):
        await fast_producer.disconnect()
    await fast_producer.connect(
        AIOKafkaProducer(**broker._connection_kwargs),
        serializer=fast_producer.serializer,
        codec=fast_producer.codec,
    )
    return True


def make_broker(settings: KafkaSettings, *, client_id: str, **kwargs: Any) -> KafkaBroker:
    """A broker whose producer waits for all in-sync replicas and never duplicates on retry.

    Batch subscribers get a trace span per record (``tracing.batch_tracing``). It exports
    FastStream's own metrics (``faststream_*``, labelled ``app_name`` =
    ``client_id``) and its consumers' lag (``pantau_consumer_lag``, read at scrape time).
    """
    middlewares = (
        KafkaPrometheusMiddleware(registry=REGISTRY, app_name=client_id),
        batch_tracing(client_id),
        *kwargs.pop("middlewares", ()),
    )
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10_000,
        middlewares=middlewares,
        **kwargs,
    )
    track_consumer_lag(broker, service=client_id)
    return broker


# How long a handler may hold one message or batch before aiokafka declares the consumer
# dead and leaves the group. Kafka's default (300 s) is shorter than a store outage, and
# transient errors (TRANSIENT_ERRORS) are retried without limit inside the handler, so
# during an outage a consumer was kicked out ("LeaveGroup ... Revoking previously
# assigned partitions"), rebalanced and redelivered its batch when the store came back.
# aiokafka's heartbeat runs in its own task, so a dead process is still noticed after
# session_timeout_ms, and the rebalance timeout stays session_timeout_ms (a rebalance
# does not wait this long); the cost is only that a handler wedged without retrying
# keeps its partitions this long. Outages longer than this still cost one rebalance.
MAX_POLL_INTERVAL_MS = 60 * 60 * 1000


def subscriber_options(
    settings: KafkaSettings, *, service: str, max_poll_interval_ms: int = MAX_POLL_INTERVAL_MS
) -> dict[str, Any]:
    """Consumer options: own group, no auto-commit; an unhandled error seeks back (redelivery);
    a handler may retry a dependency outage for up to ``max_poll_interval_ms``."""
    return {
        "group_id": settings.group_id(service),
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "max_poll_interval_ms": max_poll_interval_ms,
    }


async def ensure_topics(bootstrap: str, topics: Mapping[str, int]) -> None:
    """Create the topics that do not exist yet, with the given partition counts."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=name, num_partitions=parts, replication_factor=1)
            for name, parts in topics.items()
            if name not in existing
        ]
        if missing:
            # Another service may create one between list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def publish_event(
    broker: KafkaBroker,
    event: Event,
    *,
    topic: str,
    key: str,
    traceparent: str | None = None,
) -> None:
    """Publish and wait for the broker's acknowledgement (acks=all), in a producer span
    whose W3C trace context travels in the headers. ``traceparent`` is only a fallback
    parent for callers outside any span."""
    with publish_span(topic, traceparent=traceparent) as span:
        span.set_attribute("pantau.event_type", event.type)
        span.set_attribute("pantau.subject", event.subject)
        await renew_dead_producer(broker)
        await broker.publish(
            event.to_bytes(), topic=topic, key=key.encode(), headers=kafka_headers_for(event)
        )


Handler = Callable[[bytes, Mapping[str, str]], Awaitable[None]]


class MessageProcessor:
    """Runs one handler over one Kafka message: retry with backoff, then DLQ.

    The handler gets the raw bytes and headers and must be idempotent. It returns
    only once its effect is durable; the caller's ack policy then commits.
    """

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        settings: KafkaSettings,
        service: str,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._broker = broker
        self._service = service
        self._max_attempts = settings.max_attempts
        self._backoff = settings.retry_backoff_seconds
        self._sleep = sleep
        # Per topic: the labelled "ok" counter and the latency histogram (a label lookup
        # per message costs more than the observation itself).
        self._observers: dict[str, tuple[Any, Any]] = {}

    def _observers_of(self, topic: str) -> tuple[Any, Any]:
        found = self._observers.get(topic)
        if found is None:
            found = self._observers[topic] = (
                MESSAGES_PROCESSED.labels(self._service, topic, "ok"),
                PROCESSING_SECONDS.labels(self._service, topic),
            )
        return found

    async def process(self, msg: KafkaMessage, handler: Handler) -> None:
        """Handle ``msg`` inside one consumer span that continues its producer's trace, so
        whatever the handler logs or publishes belongs to the same trace."""
        topic = msg.raw_message.topic  # type: ignore[union-attr]
        headers = dict(msg.headers)
        with consume_span(service=self._service, topic=topic, headers=headers, raw=msg.raw_message):
            await self._process(msg, handler, topic, headers)

    async def _process(
        self, msg: KafkaMessage, handler: Handler, topic: str, headers: dict[str, str]
    ) -> None:
        started = time.perf_counter()
        processed, latency = self._observers_of(topic)
        attempt = 0
        while True:
            attempt += 1
            try:
                await handler(msg.body, headers)
            except (ContractValidationError, PermanentError) as exc:
                await self._dead_letter(msg, topic, headers, exc, attempt)
                break
            except TRANSIENT_ERRORS as exc:
                MESSAGE_RETRIES.labels(self._service, topic, "transient").inc()
                log.warning("dependency unavailable, retrying: %r", exc, extra={"topic": topic})
                await self._sleep(self._delay(attempt))
            except Exception as exc:
                if attempt >= self._max_attempts:
                    await self._dead_letter(msg, topic, headers, exc, attempt)
                    break
                MESSAGE_RETRIES.labels(self._service, topic, "error").inc()
                log.warning("handler failed (attempt %d): %r", attempt, exc)
                await self._sleep(self._delay(attempt))
            else:
                processed.inc()
                break
        latency.observe(time.perf_counter() - started)

    def _delay(self, attempt: int) -> float:
        return min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)

    async def _dead_letter(
        self,
        msg: KafkaMessage,
        topic: str,
        headers: dict[str, str],
        exc: BaseException,
        attempts: int,
    ) -> None:
        mark_failed(trace.get_current_span(), exc, description="sent to the DLQ")
        raw = msg.raw_message
        dlq_headers = {
            **headers,
            env.HEADER_DLQ_ORIGINAL_TOPIC: topic,
            env.HEADER_DLQ_ORIGINAL_PARTITION: str(raw.partition),  # type: ignore[union-attr]
            env.HEADER_DLQ_ORIGINAL_OFFSET: str(raw.offset),  # type: ignore[union-attr]
            env.HEADER_DLQ_ERROR_CLASS: type(exc).__name__,
            env.HEADER_DLQ_ERROR_MESSAGE: str(exc)[:DLQ_ERROR_MESSAGE_LIMIT],
            env.HEADER_DLQ_ATTEMPTS: str(attempts),
            env.HEADER_DLQ_SERVICE: self._service,
        }
        # The failing consumer group (several groups share one DLQ); FastStream hands the
        # aiokafka consumer that fetched the message along with it.
        group = getattr(getattr(msg, "consumer", None), "_group_id", None)
        if isinstance(group, str):
            dlq_headers[env.HEADER_DLQ_GROUP] = group
        # If this publish fails the exception propagates, the message is not committed,
        # and it is redelivered: nothing is lost.
        await renew_dead_producer(self._broker)
        await self._broker.publish(
            msg.body,
            topic=Topics.dlq(topic),
            key=raw.key,  # type: ignore[union-attr]
            headers=dlq_headers,
        )
        DLQ_MESSAGES.labels(self._service, topic, type(exc).__name__).inc()
        MESSAGES_PROCESSED.labels(self._service, topic, "dlq").inc()
        log.error("message sent to DLQ: %r", exc, extra={"topic": topic, "offset": raw.offset})  # type: ignore[union-attr]
