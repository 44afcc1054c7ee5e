"""The Kafka side of intake: connect (and keep trying), publish with a deadline, ping.

Publishing goes straight to an ``AIOKafkaProducer`` (acks=all, idempotent): every
record of a request is appended to the producer's batches at once and one wait covers
all their delivery futures. Going through FastStream's ``broker.publish`` cost a
middleware chain and a command object per message, about a third of a report's CPU
time; the FastStream broker remains for the AsyncAPI document only.

Per record, the partition is computed here (``partition_for``: Kafka's murmur2 of the
key, the partition aiokafka's default partitioner picks, in half its time), and the
publish deadline is kept by one ``Deadlines`` queue for every request instead of an
``asyncio.timeout`` each (a loop timer armed and cancelled per request: about 4% of a
report's CPU time under load).
"""

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from pantau.intake.config import Config
from pantau.intake.core.errors import PublishUnavailable
from pantau.intake.metrics import PUBLISH_SECONDS
from pantau.shared.events import ReportSubmitted
from pantau.shared.kafka import dead_producer_error, ensure_topics, make_broker
from pantau.shared.tracing import record_headers_for

log = logging.getLogger(__name__)

MAX_RECONNECT_DELAY_SECONDS = 10.0
PING_TIMEOUT_SECONDS = 1.5
CLIENT_ID = "pantau-intake"
# Bigger per-partition batches than aiokafka's 16 KiB (about 13 reports) let a
# 500-report batch go out in one round trip per partition instead of several, since
# the idempotent producer keeps only one batch per partition in flight. No linger_ms:
# whatever accumulates while a batch is in flight goes out together anyway.
MAX_BATCH_BYTES = 256 * 1024
_ACKNOWLEDGED = PUBLISH_SECONDS.labels("acknowledged")
_GAVE_UP = PUBLISH_SECONDS.labels("unavailable")


def build_broker(config: Config) -> KafkaBroker:
    """The FastStream broker describing the submitted topic for the AsyncAPI document."""
    broker = make_broker(config, client_id=CLIENT_ID)
    broker.publisher(
        config.topics.submitted,
        title="report.submitted",
        description="A report intake accepted; key = report id; identity encrypted.",
        schema=ReportSubmitted,
    )
    return broker


def build_producer(config: Config) -> AIOKafkaProducer:
    """The producer intake publishes with: every write acknowledged by all in-sync
    replicas, retries never duplicate (the settings of ``pantau.shared.kafka.make_broker``)."""
    return AIOKafkaProducer(
        bootstrap_servers=config.kafka_bootstrap,
        client_id=CLIENT_ID,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10_000,
        max_batch_size=MAX_BATCH_BYTES,
    )


_MURMUR_M = 0x5BD1E995
_MURMUR_SEED = 0x9747B28C
_U32 = 0xFFFFFFFF
_WORDS = {n: struct.Struct(f"<{n}I") for n in range(1, 33)}


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` (the Java client's ``Utils.murmur2``), the same
    value as ``aiokafka.partitioner.murmur2``: its 4-byte words unpacked at once."""
    length = len(data)
    h = (_MURMUR_SEED ^ length) & _U32
    words = length >> 2
    if words:
        unpack = _WORDS.get(words) or struct.Struct(f"<{words}I")
        for k in unpack.unpack_from(data):
            k = (k * _MURMUR_M) & _U32
            k = ((k ^ (k >> 24)) * _MURMUR_M) & _U32
            h = ((h * _MURMUR_M) & _U32) ^ k
    tail = length & 3
    if tail:
        end = length & ~3
        if tail == 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _MURMUR_M) & _U32
    h = ((h ^ (h >> 13)) * _MURMUR_M) & _U32
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``key`` among ``partitions`` (numbered 0..n-1), as aiokafka's and
    the Java client's default partitioners choose it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Deadline:
    """One publish's deadline: while its records are being appended (``sending``) the
    deadline cancels the publishing task; after that it fails the pending deliveries."""

    __slots__ = ("at", "cancelling", "deliveries", "expired", "finished", "sending", "task")

    def __init__(self, at: float, deliveries: list["asyncio.Future[object]"]) -> None:
        self.at = at
        self.task: asyncio.Task[object] | None = asyncio.current_task()
        self.cancelling = self.task.cancelling() if self.task is not None else 0
        self.deliveries: list[asyncio.Future[object]] | None = deliveries
        self.sending = True
        self.expired = False
        self.finished = False

    def expire(self) -> None:
        if self.finished:
            return
        self.expired = True
        if self.sending:
            if self.task is not None:
                self.task.cancel()
            return
        for delivery in self.deliveries or ():
            if not delivery.done():
                delivery.set_exception(TimeoutError("no acknowledgement before the deadline"))

    def timed_out(self) -> bool:
        """After a ``CancelledError``: True if it was this deadline's (then absorbed, like
        ``asyncio.timeout`` does), False if someone else cancelled the task."""
        if not self.expired or self.task is None:
            return False
        return self.task.uncancel() <= self.cancelling

    def finish(self) -> None:
        self.finished = True
        self.task = None
        self.deliveries = None


class Deadlines:
    """The deadlines of all publishes in one queue (every one gets the same timeout, so
    appending keeps it in order) with at most one loop timer armed."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._queue: deque[Deadline] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def start(self, deliveries: list["asyncio.Future[object]"]) -> Deadline:
        """A deadline ``timeout`` seconds from now for the current task's publish."""
        loop = asyncio.get_running_loop()
        deadline = Deadline(loop.time() + self._timeout, deliveries)
        self._queue.append(deadline)
        if self._timer is None:
            self._timer = loop.call_at(deadline.at, self._expire)
        return deadline

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        queue = self._queue
        while queue and queue[0].at <= now:
            queue.popleft().expire()
        self._timer = loop.call_at(queue[0].at, self._expire) if queue else None


def message_headers(event: ReportSubmitted, traceparent: str | None) -> list[tuple[str, bytes]]:
    """The Kafka headers of ``event``: its type and the current trace context (the one
    place intake builds them)."""
    return record_headers_for(event, traceparent=traceparent)


class KafkaReportPublisher:
    """Implements ``ReportPublisherPort`` on an ``AIOKafkaProducer``.

    The HTTP app must start and answer 503 even while Kafka is unreachable, so the
    connection is (re)tried in the background rather than failing start-up.
    """

    def __init__(self, *, config: Config) -> None:
        self._config = config
        self._bootstrap = config.kafka_bootstrap
        self._topics = config.topics
        self._topic = config.topics.submitted
        self._timeout = config.publish_timeout_seconds
        self._deadlines = Deadlines(self._timeout)
        self._producer: AIOKafkaProducer | None = None
        self._connected = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        # Stops of renewed producers, kept referenced until done.
        self._retired: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        """Whether the producer is up (it reconnects by itself after that)."""
        return self._connected.is_set()

    @property
    def in_flight(self) -> int:
        """Publishes handed to the producer and not yet acknowledged or given up."""
        return self._in_flight

    async def start(self, *, wait: float) -> None:
        """Start connecting; return once connected or after ``wait`` seconds, whichever first."""
        self._connector = asyncio.create_task(self._connect_until_up(), name="intake-kafka")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), wait)
        if not self.connected:
            log.warning("Kafka not reachable yet at %s; answering 503 meanwhile", self._bootstrap)

    async def _connect_until_up(self) -> None:
        delay = 0.25
        while True:
            producer = build_producer(self._config)
            try:
                await producer.start()
                await ensure_topics(self._bootstrap, self._topics.all_with_partitions())
            except Exception as exc:
                log.warning("Kafka connection failed, retrying in %.1fs: %r", delay, exc)
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY_SECONDS)
            else:
                self._producer = producer
                self._connected.set()
                log.info("connected to Kafka at %s", self._bootstrap)
                return

    async def publish(self, events: Sequence[ReportSubmitted], *, traceparent: str | None) -> None:
        """Publish every event keyed by its report id; all acknowledged within the deadline,
        or ``PublishUnavailable``. An event whose wait timed out may still reach Kafka later;
        that is harmless because its report id is deterministic and consumers are idempotent.
        """
        producer = self._producer
        if producer is None or not self.connected or self._closing:
            raise PublishUnavailable("not connected to Kafka")
        if self._renew_if_dead(producer):
            raise PublishUnavailable("the Kafka producer stopped; reconnecting")
        started = time.perf_counter()
        self._in_flight += 1
        self._idle.clear()
        deliveries: list[asyncio.Future[object]] = []
        # Every event of one request has the same type and trace context.
        headers = message_headers(events[0], traceparent) if events else []
        topic = self._topic
        deadline = self._deadlines.start(deliveries)
        try:
            try:
                # Append every record first (send returns once it is in a batch), then
                # wait for all acknowledgements together.
                partitions = len(producer.client.cluster.partitions_for_topic(topic) or ())
                for event in events:
                    key = event.subject.encode()
                    deliveries.append(
                        await producer.send(
                            topic,
                            event.to_bytes(),
                            key=key,
                            partition=partition_for(key, partitions) if partitions else None,
                            headers=headers,
                        )
                    )
                deadline.sending = False
                # One after the other, not ``gather``: the futures of a record batch
                # resolve together, so most are done by the time they are awaited, and
                # gather's per-future callbacks cost more than that (500-report batches).
                for delivery in deliveries:
                    await delivery
            except asyncio.CancelledError as exc:
                if not deadline.timed_out():
                    raise
                raise TimeoutError("Kafka did not take the records before the deadline") from exc
            finally:
                deadline.finish()
        except (TimeoutError, KafkaError) as exc:
            for delivery in deliveries:
                # Nobody waits for these any more; keep their late errors out of the log.
                delivery.add_done_callback(_consume_exception)
            _GAVE_UP.observe(time.perf_counter() - started)
            self._renew_if_dead(producer)
            raise PublishUnavailable(f"Kafka did not acknowledge: {exc!r}") from exc
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        _ACKNOWLEDGED.observe(time.perf_counter() - started)

    def _renew_if_dead(self, producer: AIOKafkaProducer) -> bool:
        """If ``producer`` stopped for good (``dead_producer_error``: after a broker restart
        aiokafka's idempotent producer may never send again), drop it and connect a new
        one in the background; True when it did. Requests get 503 meanwhile."""
        error = dead_producer_error(producer)
        if error is None or producer is not self._producer or self._closing:
            return False
        log.warning("Kafka producer stopped for good (%r); reconnecting", error)
        self._producer = None
        self._connected.clear()
        retiring = asyncio.create_task(_stop_quietly(producer))
        self._retired.add(retiring)
        retiring.add_done_callback(self._retired.discard)
        self._connector = asyncio.create_task(self._connect_until_up(), name="intake-kafka")
        return True

    async def ping(self) -> bool:
        """Readiness: connected, the producer can still send, and the cluster answers a
        metadata request."""
        producer = self._producer
        if producer is None or not self.connected or self._renew_if_dead(producer):
            return False
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                await producer.client.fetch_all_metadata()
        except (TimeoutError, KafkaError):
            return False
        return True

    async def stop(self) -> None:
        """Refuse new publishes, let the ones in flight get their acknowledgement (each is
        bounded by the publish timeout), then flush and disconnect."""
        self._closing = True
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        # Stopping the producer first would abandon the pending futures.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self._timeout + 1)
        if self._producer is not None:
            await self._producer.stop()


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception):
        await producer.stop()


def _consume_exception(future: "asyncio.Future[object]") -> None:
    if not future.cancelled():
        future.exception()
