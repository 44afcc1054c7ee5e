"""Intake writes the W3C trace headers of its records itself when the propagators are the
default ones: the headers must be exactly what ``record_headers_for`` (OpenTelemetry's
propagators) writes, and anything unusual must go through it."""

import random

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pantau.intake.adapters.kafka import _default_propagation, message_headers
from pantau.shared.events import ReportSubmitted
from pantau.shared.tracing import record_headers_for

EVENT = ReportSubmitted.model_construct()
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _span_context(rng: random.Random, *, state: bool) -> SpanContext:
    return SpanContext(
        trace_id=rng.getrandbits(128) or 1,
        span_id=rng.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=TraceFlags(rng.choice([0, 1, 2, 3])),
        trace_state=TraceState([("vendor", f"v{rng.getrandbits(16)}")]) if state else None,
    )


def test_the_default_propagators_are_recognised() -> None:
    assert _default_propagation(propagate.get_global_textmap())
    assert not _default_propagation(CompositePropagator([TraceContextTextMapPropagator()]))


@pytest.mark.parametrize("state", [False, True], ids=["plain", "tracestate"])
def test_headers_under_a_span_equal_the_propagators(state: bool) -> None:
    rng = random.Random(7)
    for _ in range(200):
        span = NonRecordingSpan(_span_context(rng, state=state))
        with trace.use_span(span):
            assert message_headers(CALLER) == record_headers_for(EVENT, traceparent=CALLER)
            assert dict(message_headers(None))["traceparent"].decode().startswith("00-")


def test_baggage_and_no_span_go_through_the_propagators() -> None:
    rng = random.Random(8)
    span = NonRecordingSpan(_span_context(rng, state=False))
    token = otel_context.attach(baggage.set_baggage("tenant", "kpu"))
    try:
        with trace.use_span(span):
            headers = message_headers(None)
            assert headers == record_headers_for(EVENT)
            assert "baggage" in dict(headers)
    finally:
        otel_context.detach(token)
    # No current span: the caller's traceparent is passed on, as before.
    assert message_headers(CALLER) == record_headers_for(EVENT, traceparent=CALLER)
    assert dict(message_headers(CALLER))["traceparent"] == CALLER.encode()
