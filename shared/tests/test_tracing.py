"""W3C trace context through HTTP, publish_event and MessageProcessor, recorded by an
in-memory span exporter (no Kafka needed)."""

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY
from pythonjsonlogger.json import JsonFormatter

from pantau.shared import testing
from pantau.shared.kafka import MessageProcessor, PermanentError, publish_event
from pantau.shared.settings import KafkaSettings
from pantau.shared.tracing import (
    TraceIdsFilter,
    UnrecordedServerSpanMiddleware,
    batch_tracing,
    configure_tracing,
    instrument_http,
    kafka_headers_for,
    record_headers_for,
    spans_unrecorded,
    tracer,
)

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"

_EXPORTER = testing.span_recorder()


@pytest.fixture
def spans() -> Iterator[Any]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@dataclass
class RawRecord:
    topic: str = "pantau.reports.submitted"
    partition: int = 2
    offset: int = 7
    key: bytes = b"rpt_1"


@dataclass
class FakeMessage:
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"traceparent": TRACEPARENT})
    raw_message: RawRecord = field(default_factory=RawRecord)


@dataclass
class RecordingBroker:
    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, body: bytes, **kwargs: Any) -> None:
        self.published.append({"body": body, **kwargs})


def _ids(traceparent: str) -> tuple[str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled (0x02: random trace id)
    return trace_id, span_id


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(TraceIdsFilter())
    logger = logging.getLogger("pantau.test.tracing")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)


async def test_a_consumed_message_continues_its_trace_into_what_the_handler_publishes(
    spans: Any, json_logs: io.StringIO
) -> None:
    broker = RecordingBroker()
    processor = MessageProcessor(
        broker=broker,  # type: ignore[arg-type]
        settings=KafkaSettings(),
        service="classifier",
    )
    event = testing.submitted()

    async def handler(body: bytes, headers: Any) -> None:
        logging.getLogger("pantau.test.tracing").info("classifying")
        await publish_event(
            broker,  # type: ignore[arg-type]
            event,
            topic="pantau.reports.classified",
            key="32.01",
        )

    await processor.process(FakeMessage(), handler)  # type: ignore[arg-type]

    [published] = broker.published
    trace_id, span_id = _ids(published["headers"]["traceparent"])
    assert trace_id == TRACE
    finished = {s.name: s for s in spans.get_finished_spans()}
    consume = finished["pantau.reports.submitted process"]
    produce = finished["pantau.reports.classified publish"]
    assert consume.kind == SpanKind.CONSUMER and produce.kind == SpanKind.PRODUCER
    assert f"{consume.context.trace_id:032x}" == TRACE
    assert f"{consume.parent.span_id:016x}" == PARENT  # continues the producer's span
    assert produce.parent.span_id == consume.context.span_id
    assert span_id == f"{produce.context.span_id:016x}"  # the next hop continues here
    assert consume.attributes["messaging.kafka.offset"] == 7
    assert consume.attributes["pantau.service"] == "classifier"
    [line] = [json.loads(x) for x in json_logs.getvalue().splitlines()]
    assert line["message"] == "classifying"
    assert line["trace_id"] == TRACE
    assert line["span_id"] == f"{consume.context.span_id:016x}"


async def test_a_dead_lettered_message_marks_its_span_failed_and_keeps_the_trace(
    spans: Any,
) -> None:
    broker = RecordingBroker()
    processor = MessageProcessor(
        broker=broker,  # type: ignore[arg-type]
        settings=KafkaSettings(),
        service="reporting",
    )

    async def handler(body: bytes, headers: Any) -> None:
        raise PermanentError("never")

    await processor.process(FakeMessage(), handler)  # type: ignore[arg-type]

    [dead] = broker.published
    assert dead["topic"] == "pantau.reports.submitted.dlq"
    assert _ids(dead["headers"]["traceparent"])[0] == TRACE
    [consume] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert consume.status.status_code == StatusCode.ERROR
    assert consume.events[0].name == "exception"


async def test_publish_outside_any_span_continues_a_given_traceparent_or_starts_a_trace(
    spans: Any,
) -> None:
    broker = RecordingBroker()
    event = testing.submitted()
    await publish_event(broker, event, topic="t", key="k", traceparent=TRACEPARENT)  # type: ignore[arg-type]
    await publish_event(broker, event, topic="t", key="k")  # type: ignore[arg-type]

    continued, fresh = (_ids(p["headers"]["traceparent"]) for p in broker.published)
    assert continued[0] == TRACE and continued[1] != PARENT
    assert fresh[0] != TRACE
    assert broker.published[0]["headers"]["pantau-event-type"] == event.type


def test_headers_for_a_raw_producer_carry_the_current_span(spans: Any) -> None:
    event = testing.submitted()
    with tracer().start_as_current_span("request") as span:
        headers = dict(record_headers_for(event))
        as_dict = kafka_headers_for(event)
    expected = (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")
    assert _ids(headers["traceparent"].decode()) == expected
    assert _ids(as_dict["traceparent"]) == expected
    assert headers["content-type"] == b"application/json"


async def test_an_http_request_continues_the_callers_trace(spans: Any) -> None:
    app = FastAPI()
    seen: dict[str, str] = {}

    @app.post("/v1/things")
    async def create() -> dict[str, str]:
        seen.update(kafka_headers_for(testing.submitted()))
        return {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {}

    @app.get("/v1/things/{thing_id}")
    async def read(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    instrument_http(app)
    counted = {"method": "POST", "route": "/v1/things", "status": "200"}
    before = REGISTRY.get_sample_value("pantau_http_requests_total", counted) or 0.0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/v1/things", headers={"traceparent": TRACEPARENT})).is_success
        assert (await client.get("/healthz")).is_success
        assert (await client.get("/v1/things/t1")).is_success
        assert (await client.get("/nowhere")).status_code == 404

    [server] = [
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.SERVER and s.name.startswith("POST")
    ]
    assert server.name == "POST /v1/things"
    assert f"{server.parent.span_id:016x}" == PARENT
    assert _ids(seen["traceparent"]) == (TRACE, f"{server.context.span_id:016x}")
    # Request metrics by route template, never the raw path; health checks not counted.
    assert REGISTRY.get_sample_value("pantau_http_requests_total", counted) == before + 1
    by_template = {"method": "GET", "route": "/v1/things/{thing_id}", "status": "200"}
    assert REGISTRY.get_sample_value("pantau_http_requests_total", by_template)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert REGISTRY.get_sample_value("pantau_http_requests_total", unmatched)
    assert not REGISTRY.get_sample_value(
        "pantau_http_requests_total", {"method": "GET", "route": "/healthz", "status": "200"}
    )


async def test_without_an_exporter_the_lean_server_span_still_continues_the_trace() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    unrecorded = TracerProvider(sampler=ALWAYS_OFF)  # what configure_tracing installs for "none"
    assert spans_unrecorded(unrecorded)
    assert not spans_unrecorded()  # this module's recording provider
    seen: list[dict[str, str]] = []
    # FastAPI's own (native) telemetry off: the middleware alone makes the spans here.
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.post("/v1/things")
    async def create() -> dict[str, str]:
        seen.append(kafka_headers_for(testing.submitted()))
        return {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        seen.append(kafka_headers_for(testing.submitted()))
        return {}

    app.add_middleware(UnrecordedServerSpanMiddleware, tracer=unrecorded.get_tracer("test"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/v1/things", headers={"traceparent": TRACEPARENT})).is_success
        assert (await client.post("/v1/things")).is_success
        assert (await client.get("/healthz")).is_success

    continued, started, health = seen
    version, trace_id, span_id, flags = continued["traceparent"].split("-")
    # The caller's trace, a span of our own, marked not sampled (nothing records it).
    assert (version, trace_id, flags) == ("00", TRACE, "00")
    assert span_id not in (PARENT, "0" * 16)
    _, new_trace, new_span, _ = started["traceparent"].split("-")
    assert new_trace not in (TRACE, "0" * 32) and new_span != "0" * 16
    assert "traceparent" not in health  # health checks get no span, as before


def test_configure_tracing_rejects_an_unknown_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pantau.shared.tracing.trace.get_tracer_provider", lambda: None)
    with pytest.raises(ValueError, match="PANTAU_TRACE_EXPORTER"):
        configure_tracing("intake", exporter="jaeger")


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    headers: list[tuple[str, bytes]]


async def test_each_record_of_a_batch_gets_a_receive_span_in_its_own_trace(spans: Any) -> None:
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    batch = (
        Record("pantau.alerts", 0, 5, [("traceparent", TRACEPARENT.encode())]),
        Record("pantau.alerts", 1, 9, [("traceparent", other.encode())]),
    )

    @dataclass
    class BatchMessage:
        raw_message: tuple[Record, ...]

    calls: list[Any] = []

    async def write(msg: Any) -> str:
        calls.append(msg)
        return "written"

    middleware = batch_tracing("reporting")(None, context=None)
    assert await middleware.consume_scope(write, BatchMessage(batch)) == "written"

    received = sorted(
        spans.get_finished_spans(), key=lambda s: s.attributes["messaging.kafka.offset"]
    )
    assert [s.name for s in received] == ["pantau.alerts receive"] * 2
    assert [f"{s.context.trace_id:032x}" for s in received] == [TRACE, "1" * 32]
    assert {s.attributes["pantau.service"] for s in received} == {"reporting"}
    assert len(calls) == 1

    async def fail(msg: Any) -> None:
        raise RuntimeError("store down")

    spans.clear()
    with pytest.raises(RuntimeError):
        await middleware.consume_scope(fail, BatchMessage(batch[:1]))
    [failed] = spans.get_finished_spans()
    assert failed.status.status_code == StatusCode.ERROR


async def test_a_single_message_passes_the_batch_middleware_untouched(spans: Any) -> None:
    async def handler(msg: Any) -> str:
        return "ok"

    middleware = batch_tracing("notifier")(None, context=None)
    assert await middleware.consume_scope(handler, FakeMessage()) == "ok"
    assert spans.get_finished_spans() == ()


_SERVICE_PROCESS = f"""
import logging
from pantau.shared.telemetry import configure_logging
from pantau.shared.tracing import consume_span, kafka_headers_for, tracer
from pantau.shared import testing
configure_logging("probe")
with consume_span(service="probe", topic="t", headers={{"traceparent": "{TRACEPARENT}"}}, raw=None):
    logging.getLogger("pantau.probe").info("handling")
    print(kafka_headers_for(testing.submitted())["traceparent"], flush=True)
logging.getLogger("pantau.probe").info("idle")
tracer().start_span("flush-check").end()
"""


@pytest.mark.parametrize("exporter", ["none", "console"])
def test_a_service_process_logs_trace_ids_and_exports_only_when_asked(exporter: str) -> None:
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _SERVICE_PROCESS],
        env={**os.environ, "PANTAU_TRACE_EXPORTER": exporter},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    trace_id, span_id = done.stdout.strip().split("-")[1:3]
    assert trace_id == TRACE and span_id != PARENT
    logs = [json.loads(x) for x in done.stderr.splitlines() if x.startswith('{"time"')]
    handling, idle = logs
    assert (handling["trace_id"], handling["span_id"]) == (TRACE, span_id)
    assert "trace_id" not in idle
    exported = '"name": "t process"' in done.stderr
    assert exported == (exporter == "console")
