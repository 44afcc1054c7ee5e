"""OpenTelemetry tracing: W3C trace context from the HTTP request through every Kafka hop.

One place for every service:

- ``configure_tracing(service)`` installs the SDK tracer provider (``configure_logging``
  calls it). Spans are always created, so trace and span ids exist for the logs and the
  Kafka headers; they are *exported* only when ``PANTAU_TRACE_EXPORTER`` says so
  (``console``, or ``otlp`` with ``opentelemetry-exporter-otlp-proto-http`` installed and
  the standard ``OTEL_EXPORTER_OTLP_*`` variables). The default, ``none``, exports
  nothing and opens no connection.
- ``instrument_http(app)``: a server span per HTTP request (opentelemetry-instrumentation-
  fastapi), continuing the caller's ``traceparent``; also the HTTP request metrics. With
  ``lean_when_unrecorded=True`` and no exporter, a minimal middleware instead.
- ``kafka_headers_for(event)``: a message's headers, with the current trace context
  injected by OpenTelemetry's propagator. ``publish_event`` uses it inside a producer
  span; a publisher on a raw aiokafka producer uses ``record_headers_for(event)``.
- ``consume_span(...)``: the consumer span of one message, continuing the trace from its
  headers; ``MessageProcessor`` opens it around every handler.
- ``batch_tracing(service)``: a FastStream middleware (``make_broker`` installs it) that
  gives every record of a *batch* subscriber a ``<topic> receive`` span, child of that
  record's own trace, lasting as long as the batch handler (e.g. reporting's bulk write).
- ``TraceIdsFilter``: puts ``trace_id`` and ``span_id`` on every log record.
"""

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from pantau.shared import envelope as env

if TYPE_CHECKING:
    from fastapi import FastAPI

    from pantau.shared.envelope import Event

TRACER_NAME = "pantau"
EXPORTER_ENV = "PANTAU_TRACE_EXPORTER"
EXPORTERS = ("none", "console", "otlp")
# Operational endpoints are scraped every few seconds; a span each would drown the traces.
UNTRACED_PATHS = "healthz,readyz,metrics"

log = logging.getLogger(__name__)


def configure_tracing(service: str, *, exporter: str | None = None) -> TracerProvider | None:
    """Install the process's tracer provider once; ``exporter`` defaults to
    ``PANTAU_TRACE_EXPORTER`` (``none``). Returns None if a provider was already set
    (e.g. by a test or an OpenTelemetry auto-instrumentation agent)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return None
    choice = (exporter or os.environ.get(EXPORTER_ENV) or "none").strip().lower()
    if choice not in EXPORTERS:
        raise ValueError(f"{EXPORTER_ENV} must be one of {', '.join(EXPORTERS)}, not {choice!r}")
    span_exporter = _exporter(choice)
    # Without an exporter nothing would read a recorded span: spans are then created
    # unrecorded (cheap), which still gives every hop its own span id for the logs and
    # headers, and passes the trace on marked "not sampled".
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"pantau-{service}"}),
        sampler=ParentBased(ALWAYS_ON) if span_exporter is not None else ALWAYS_OFF,
    )
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    return provider


def _exporter(choice: str) -> SpanExporter | None:
    if choice == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    if choice == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError as exc:
            raise RuntimeError(
                f"{EXPORTER_ENV}=otlp needs opentelemetry-exporter-otlp-proto-http installed"
            ) from exc
        return OTLPSpanExporter()  # endpoint etc. from the OTEL_EXPORTER_OTLP_* variables
    return None


# Created once: getting a tracer from the SDK is costly. Before a provider is installed
# this is OpenTelemetry's proxy, which switches to the real tracer once one is.
_TRACER = trace.get_tracer(TRACER_NAME)


def tracer() -> trace.Tracer:
    return _TRACER


def instrument_http(app: "FastAPI", *, lean_when_unrecorded: bool = False) -> None:
    """A server span per request that continues the caller's W3C ``traceparent``, and
    request counts and latencies by route (``pantau_http_request*``).

    ``lean_when_unrecorded``: if no span can ever be recorded (``spans_unrecorded()``: no
    exporter configured), use ``UnrecordedServerSpanMiddleware`` instead of the
    OpenTelemetry instrumentation, whose per-request attributes and route lookups nobody
    would read. Trace and span ids (logs, Kafka headers) stay the same.
    """
    from pantau.shared.telemetry import HttpMetricsMiddleware

    app.add_middleware(HttpMetricsMiddleware)
    if lean_when_unrecorded and spans_unrecorded():
        app.add_middleware(UnrecordedServerSpanMiddleware)
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=UNTRACED_PATHS, exclude_spans=["receive", "send"]
    )


def spans_unrecorded(provider: trace.TracerProvider | None = None) -> bool:
    """Whether ``provider`` (default: the installed one) drops every span: the SDK
    provider ``configure_tracing`` installs when no exporter is configured."""
    provider = provider or trace.get_tracer_provider()
    return isinstance(provider, TracerProvider) and provider.sampler is ALWAYS_OFF


class _UnrecordedSpan:
    """A span nobody records, made current for the block: it only continues ``parent``'s
    trace (or starts one), so logs and published messages carry its ids. A plain class:
    cheaper per use than ``start_as_current_span`` and its context-manager layers."""

    __slots__ = ("_kind", "_name", "_parent", "_token", "_tracer", "span")

    def __init__(self, name: str, *, parent: Any, kind: SpanKind, tracer: trace.Tracer) -> None:
        self._name, self._parent, self._kind, self._tracer = name, parent, kind, tracer

    def __enter__(self) -> Span:
        self.span = self._tracer.start_span(self._name, context=self._parent, kind=self._kind)
        self._token = otel_context.attach(trace.set_span_in_context(self.span, self._parent))
        return self.span

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._token)
        self.span.end()


# The request headers OpenTelemetry's default propagators read (W3C trace context, baggage).
_PROPAGATED_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


class UnrecordedServerSpanMiddleware:
    """Pure ASGI: the server span of each request when spans are never recorded. It only
    continues the caller's trace context (or starts a trace) and makes the span current,
    so logs and published messages carry its ids; no attributes, no route lookup."""

    def __init__(self, app: Any, *, tracer: trace.Tracer | None = None) -> None:
        self.app = app
        self._tracer = tracer or _TRACER
        self._untraced = frozenset(f"/{path}" for path in UNTRACED_PATHS.split(","))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self._untraced:
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _PROPAGATED_HEADERS
        }
        parent = propagate.extract(carrier) if carrier else None
        with _UnrecordedSpan(
            scope["method"], parent=parent, kind=SpanKind.SERVER, tracer=self._tracer
        ):
            await self.app(scope, receive, send)


def kafka_headers_for(event: "Event", *, traceparent: str | None = None) -> dict[str, str]:
    """The headers of ``event``'s Kafka message: its type, content type and the current
    trace context (``traceparent``/``tracestate``). With no active span, ``traceparent``
    (a W3C header received from elsewhere) is passed on instead, if given."""
    headers = {env.HEADER_EVENT_TYPE: event.type, "content-type": "application/json"}
    if not trace.get_current_span().get_span_context().is_valid and traceparent:
        propagate.inject(headers, context=extract({env.HEADER_TRACEPARENT: traceparent}))
    else:
        propagate.inject(headers)
    return headers


def record_headers_for(
    event: "Event", *, traceparent: str | None = None
) -> list[tuple[str, bytes]]:
    """``kafka_headers_for`` in aiokafka's form, for a raw ``AIOKafkaProducer.send``."""
    return [(k, v.encode()) for k, v in kafka_headers_for(event, traceparent=traceparent).items()]


def extract(headers: Mapping[str, str]) -> otel_context.Context:
    """The trace context carried by ``headers`` (empty if none)."""
    return propagate.extract(headers)


@contextlib.contextmanager
def publish_span(topic: str, *, traceparent: str | None = None) -> Iterator[Span]:
    """The producer span of one publish, current while it runs. Child of the current
    span; with none, of ``traceparent`` if given; else a new trace."""
    parent = None
    if not trace.get_current_span().get_span_context().is_valid and traceparent:
        parent = extract({env.HEADER_TRACEPARENT: traceparent})
    with tracer().start_as_current_span(
        f"{topic} publish",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
        },
    ) as span:
        yield span


@contextlib.contextmanager
def consume_span(
    *, service: str, topic: str, headers: Mapping[str, str], raw: Any
) -> Iterator[Span]:
    """The consumer span of one message, continuing the trace in its headers."""
    if spans_unrecorded():
        # Nothing will read the span: no attributes (15 -> 9 µs per message, every
        # consumer).
        with _UnrecordedSpan(
            f"{topic} process", parent=extract(headers), kind=SpanKind.CONSUMER, tracer=tracer()
        ) as span:
            yield span
        return
    attributes = _message_attributes(service=service, topic=topic, raw=raw, operation="process")
    with tracer().start_as_current_span(
        f"{topic} process",
        context=extract(headers),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=True,
    ) as span:
        yield span


def _message_attributes(*, service: str, topic: str, raw: Any, operation: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": operation,
        "messaging.destination.name": topic,
        "pantau.service": service,
    }
    partition, offset = getattr(raw, "partition", None), getattr(raw, "offset", None)
    if isinstance(partition, int):
        attributes["messaging.destination.partition.id"] = str(partition)
    if isinstance(offset, int):
        attributes["messaging.kafka.offset"] = offset
    return attributes


def record_trace_headers(record: Any) -> dict[str, str]:
    """An aiokafka record's headers as text (undecodable bytes replaced)."""
    return {k: v.decode(errors="replace") for k, v in (getattr(record, "headers", None) or ())}


@contextlib.contextmanager
def receive_spans(*, service: str, records: Sequence[Any]) -> Iterator[list[Span]]:
    """One ``<topic> receive`` span per record, each continuing that record's trace and
    lasting while the block runs (the batch's shared work); failed if the block raises."""
    spans = [
        tracer().start_span(
            f"{record.topic} receive",
            context=extract(record_trace_headers(record)),
            kind=SpanKind.CONSUMER,
            attributes=_message_attributes(
                service=service, topic=record.topic, raw=record, operation="receive"
            ),
        )
        for record in records
    ]
    try:
        yield spans
    except BaseException as exc:
        for span in spans:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        for span in spans:
            span.end()


class BatchTracingMiddleware(BaseMiddleware):  # type: ignore[type-arg]
    """``receive_spans`` around a batch subscriber's handler; single messages pass through
    (``MessageProcessor`` gives those their span)."""

    def __init__(self, msg: Any, /, *, context: Any, service: str) -> None:
        super().__init__(msg, context=context)
        self._service = service

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        raw = getattr(msg, "raw_message", None)
        if not isinstance(raw, tuple):
            return await call_next(msg)
        with receive_spans(service=self._service, records=raw):
            return await call_next(msg)


def batch_tracing(service: str) -> Callable[..., BatchTracingMiddleware]:
    """The FastStream middleware factory of ``BatchTracingMiddleware`` for ``service``."""

    def factory(msg: Any, /, *, context: Any) -> BatchTracingMiddleware:
        return BatchTracingMiddleware(msg, context=context, service=service)

    return factory


def mark_failed(span: Span, exc: BaseException, *, description: str) -> None:
    """Record that the span's work failed for good (sent to a DLQ, dead-lettered)."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, description))


def current_ids() -> tuple[str, str] | None:
    """The current trace and span ids as W3C hex, or None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)


class TraceIdsFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` to records logged inside a span."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_ids()
        if ids is not None:
            record.trace_id, record.span_id = ids
        return True
