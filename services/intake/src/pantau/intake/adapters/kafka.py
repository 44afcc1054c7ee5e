"""The Kafka side of intake: connect (and keep trying), publish with a deadline, ping.

Publishing goes straight to an ``AIOKafkaProducer`` (acks=all, idempotent) through a
group commit (``GroupCommit``): the records of concurrent requests are appended to one
shared record batch per partition, each batch is sent once, and every request waiting
on it wakes when Kafka acknowledged it. Going through FastStream's ``broker.publish``
cost a middleware chain and a command object per message, and aiokafka's ``send`` a
coroutine, a delivery future and an accumulator round per record; the FastStream broker
remains for the AsyncAPI document only.

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
from opentelemetry import baggage, propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pantau.intake.adapters.group_commit import GroupCommit
from pantau.intake.config import Config
from pantau.intake.core.errors import PublishUnavailable
from pantau.intake.core.intake import SealedReport
from pantau.intake.metrics import PUBLISH_SECONDS
from pantau.shared.events import ReportSubmitted
from pantau.shared.kafka import dead_producer_error, ensure_topics, make_broker
from pantau.shared.tracing import kafka_headers_for, record_headers_for

log = logging.getLogger(__name__)

MAX_RECONNECT_DELAY_SECONDS = 10.0
# How late a publish deadline may fire (one timer serves all deadlines within it; the
# 503 still comes well within 2 s of the request with the default 1.5 s timeout).
DEADLINE_SLACK_SECONDS = 0.01
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


class Deadlines:
    """The deadlines of all publishes in one queue (every one gets the same timeout, so
    appending keeps it in order) with at most one loop timer armed, at most ``slack``
    seconds late, so that one timer serves every deadline falling within it. When one
    passes, the publish's waits still pending fail with ``TimeoutError`` (the batches they
    joined go on); a finished publish's are all done already, so it needs no removal."""

    def __init__(self, timeout: float, *, slack: float = DEADLINE_SLACK_SECONDS) -> None:
        self._timeout = timeout
        self._slack = slack
        self._queue: deque[tuple[float, list[asyncio.Future[None]]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, waiters: list["asyncio.Future[None]"]) -> None:
        """A deadline ``timeout`` seconds from now for ``waiters``."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        at = loop.time() + self._timeout
        self._queue.append((at, waiters))
        if self._timer is None:
            self._timer = loop.call_at(at + self._slack, self._expire)

    def _expire(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        queue = self._queue
        while queue and queue[0][0] <= now:
            for waiter in queue.popleft()[1]:
                if not waiter.done():
                    waiter.set_exception(TimeoutError("no acknowledgement before the deadline"))
        self._timer = loop.call_at(queue[0][0] + self._slack, self._expire) if queue else None


# Headers depend on the event's type only (and the trace context): a model instance
# without data stands for every submitted event.
_SUBMITTED_TYPE = ReportSubmitted.model_construct()
_TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
_FIXED_HEADERS = [
    (k, v.encode())
    for k, v in kafka_headers_for(_SUBMITTED_TYPE).items()
    if k not in _TRACE_HEADERS
]


def _default_propagation(textmap: object) -> bool:
    """Whether ``textmap`` is OpenTelemetry's default (W3C trace context, then baggage)."""
    fields = getattr(textmap, "_propagators", None)
    return isinstance(textmap, CompositePropagator) and [type(p) for p in fields or ()] == [
        TraceContextTextMapPropagator,
        W3CBaggagePropagator,
    ]


_propagation_checked: dict[int, bool] = {}


def message_headers(traceparent: str | None) -> list[tuple[str, bytes]]:
    """The Kafka headers of a submitted event: its type and the current trace context
    (the one place intake builds them).

    With the default propagators, a current span and no baggage (the usual request),
    the W3C ``traceparent``/``tracestate`` are written here as the trace-context
    propagator writes them, in a third of the time ``propagate.inject`` takes through
    its layers; anything else goes through ``record_headers_for``.
    """
    span_context = get_current_span().get_span_context()
    if span_context.is_valid:
        textmap = propagate.get_global_textmap()
        default = _propagation_checked.get(id(textmap))
        if default is None:
            default = _propagation_checked[id(textmap)] = _default_propagation(textmap)
        if default and not baggage.get_all():
            headers = [
                *_FIXED_HEADERS,
                (
                    "traceparent",
                    f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
                    f"-{span_context.trace_flags:02x}".encode(),
                ),
            ]
            if span_context.trace_state:
                headers.append(("tracestate", span_context.trace_state.to_header().encode()))
            return headers
    return record_headers_for(_SUBMITTED_TYPE, traceparent=traceparent)


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
        self._commit: GroupCommit | None = None
        # The topic's partition count, forgotten at every metadata update.
        self._partition_count: int | None = None
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
                self._attach(producer)
                self._connected.set()
                log.info("connected to Kafka at %s", self._bootstrap)
                return

    async def publish(self, reports: Sequence[SealedReport], *, traceparent: str | None) -> None:
        """Publish every report keyed by its report id; all acknowledged within the
        deadline, or ``PublishUnavailable``. A report whose wait timed out may still reach
        Kafka later; that is harmless because its report id is deterministic and
        consumers are idempotent.
        """
        producer = self._producer
        commit = self._commit
        if producer is None or commit is None or not self.connected or self._closing:
            raise PublishUnavailable("not connected to Kafka")
        if self._renew_if_dead(producer):
            raise PublishUnavailable("the Kafka producer stopped; reconnecting")
        started = time.perf_counter()
        self._in_flight += 1
        self._idle.clear()
        waiters: list[asyncio.Future[None]] = []
        try:
            try:
                count = self._partition_count
                if count is None:
                    count = await self._count_partitions(producer)
                records = []
                for report in reports:
                    key = report.report_id.encode()
                    records.append((partition_for(key, count), key, report.value))
                # Every record of one request has the same type and trace context.
                waiters = commit.add(records, message_headers(traceparent))
                self._deadlines.start(waiters)
                # One after the other, not ``gather``: most are done together.
                for waiter in waiters:
                    await waiter
            except asyncio.CancelledError:
                _consume_exceptions(waiters)
                raise
        except (TimeoutError, KafkaError) as exc:
            _consume_exceptions(waiters)
            _GAVE_UP.observe(time.perf_counter() - started)
            self._renew_if_dead(producer)
            raise PublishUnavailable(f"Kafka did not acknowledge: {exc!r}") from exc
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        _ACKNOWLEDGED.observe(time.perf_counter() - started)

    def _attach(self, producer: AIOKafkaProducer) -> None:
        """Publish through ``producer`` from now on (new lanes, partitions re-read)."""
        self._commit = GroupCommit(producer, self._topic)
        self._partition_count = None
        producer.client.cluster.add_listener(self._metadata_updated)

    def _metadata_updated(self, _cluster: object) -> None:
        self._partition_count = None

    async def _count_partitions(self, producer: AIOKafkaProducer) -> int:
        """The topic's partition count from the producer's metadata (fetched if need be),
        kept until the next metadata update: ``partitions_for_topic`` builds a set per
        call."""
        partitions = producer.client.cluster.partitions_for_topic(self._topic)
        if not partitions:  # metadata not fetched yet (right after connecting)
            async with asyncio.timeout(self._timeout):
                partitions = await producer.partitions_for(self._topic)
        count = len(partitions)
        if producer is self._producer:
            self._partition_count = count
        return count

    def _renew_if_dead(self, producer: AIOKafkaProducer) -> bool:
        """If ``producer`` stopped for good (``dead_producer_error``: after a broker restart
        aiokafka's idempotent producer may never send again), drop it and connect a new
        one in the background; True when it did. Requests get 503 meanwhile."""
        error = dead_producer_error(producer)
        if error is None or producer is not self._producer or self._closing:
            return False
        log.warning("Kafka producer stopped for good (%r); reconnecting", error)
        if self._commit is not None:
            self._commit.fail(KafkaError(f"the producer stopped: {error!r}"))
        self._producer = None
        self._commit = None
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


def _consume_exceptions(waiters: list["asyncio.Future[None]"]) -> None:
    """Nobody waits for these any more; keep their late errors out of the log."""
    for waiter in waiters:
        if waiter.done():
            if not waiter.cancelled():
                waiter.exception()
        else:
            waiter.add_done_callback(_consume_exception)


def _consume_exception(future: "asyncio.Future[None]") -> None:
    if not future.cancelled():
        future.exception()
