"""One trace id from the intake HTTP request through every Kafka hop, on the real broker:
the submitted and classified messages' headers, the notifier's alert (its send and its
alert event) and reporting's read-model writes. The four apps run in this process, so
one in-memory exporter sees every service's spans."""

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from opentelemetry.trace import SpanKind

from pantau.classifier.config import Config as ClassifierConfig
from pantau.classifier.main import create_app as classifier_app
from pantau.intake.config import Config as IntakeConfig
from pantau.intake.main import create_app as intake_app
from pantau.localstack.testing import wait_for
from pantau.notifier.config import Config as NotifierConfig
from pantau.notifier.main import create_app as notifier_app
from pantau.reporting.config import Config as ReportingConfig
from pantau.reporting.main import create_app as reporting_app
from pantau.shared import testing
from pantau.shared.auth import Role, issue_token
from pantau.shared.envelope import utcnow

pytestmark = pytest.mark.integration

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
C = TypeVar("C")

_EXPORTER = testing.span_recorder()


def _config(cls: Callable[..., C], env: dict[str, str]) -> C:
    """A service's ``Config`` from ``env`` alone, not this process's environment."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return cls(_env_file=None)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.asynccontextmanager
async def _running(apps: list[FastAPI]) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield


def _trace_of(headers: list[tuple[str, bytes]] | None) -> str | None:
    for key, value in headers or ():
        if key == "traceparent":
            return value.decode().split("-")[1]
    return None


async def _headers_by_topic(
    bootstrap: str, topics: list[str], report_id: str
) -> dict[str, list[str | None]]:
    """The trace id in the headers of every message about ``report_id``, per topic."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        found: dict[str, list[str | None]] = {t: [] for t in topics}
        for records in batches.values():
            for record in records:
                if json.loads(record.value)["subject"] == report_id:
                    found[record.topic].append(_trace_of(record.headers))
        return found
    finally:
        await consumer.stop()


async def test_one_trace_spans_the_request_every_hop_the_alert_and_the_read_model(
    pantau_env: dict[str, str], smtp_sink: Any
) -> None:
    own = uuid.uuid4().hex[:8]
    env = {
        **pantau_env,
        "PANTAU_TOPIC_PREFIX": f"{pantau_env['PANTAU_TOPIC_PREFIX']}trace{own}.",
        "PANTAU_CONSUMER_GROUP_PREFIX": f"{pantau_env['PANTAU_CONSUMER_GROUP_PREFIX']}tr{own}-",
        "PANTAU_MONGO_DB_SUFFIX": f"{pantau_env['PANTAU_MONGO_DB_SUFFIX']}_tr{own}",
        "PANTAU_SMTP_HOST": smtp_sink.host,
        "PANTAU_SMTP_PORT": str(smtp_sink.port),
        "PANTAU_ALERT_EMAIL_TO": "posko@pantau.local",
    }
    intake_config = _config(IntakeConfig, env)
    intake = intake_app(intake_config)
    apps = [
        reporting_app(_config(ReportingConfig, env)),
        notifier_app(_config(NotifierConfig, env)),
        classifier_app(_config(ClassifierConfig, env)),
        intake,
    ]
    token = issue_token(
        secret=env["PANTAU_AUTH_SECRET"], issuer="pantau", role=Role.MONITOR, subject="tr"
    )
    _EXPORTER.clear()
    async with _running(apps):
        transport = httpx.ASGITransport(app=intake)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
            posted = await http.post(
                "/v1/reports",
                json={
                    "client_report_id": str(uuid.uuid4()),
                    "occurred_at": (utcnow() - timedelta(minutes=1)).isoformat(),
                    "region_code": "3201011001",
                    "tps": 3,
                    "description": "Banjir merendam TPS 03, pemungutan suara ditunda.",
                    "anonymous": True,
                },
                headers={"Authorization": f"Bearer {token}", "traceparent": TRACEPARENT},
            )
        assert posted.status_code == 202, posted.text
        report_id = posted.json()["report_id"]
        topics = intake_config.topics

        def reporting_wrote(topic: str) -> Callable[[], Any]:
            # Reporting writes in batches: each record gets a `receive` span for the
            # batch's write (a record retried alone gets a `process` span).
            names = {f"{topic} receive", f"{topic} process"}

            async def probe() -> list[Any]:
                return [
                    s
                    for s in _EXPORTER.get_finished_spans()
                    if s.name in names
                    and s.attributes.get("pantau.service") == "reporting"
                    and f"{s.context.trace_id:032x}" == TRACE
                ]

            return probe

        for topic in (topics.submitted, topics.classified, topics.alerts):
            try:
                await wait_for(reporting_wrote(topic), timeout=20, interval=0.1)
            except AssertionError as exc:
                seen = sorted(
                    (str(s.attributes.get("pantau.service")), s.name)
                    for s in _EXPORTER.get_finished_spans()
                    if f"{s.context.trace_id:032x}" == TRACE
                )
                raise AssertionError(f"no reporting span on {topic}; spans: {seen}") from exc

    spans = [s for s in _EXPORTER.get_finished_spans() if f"{s.context.trace_id:032x}" == TRACE]
    names = {s.name for s in spans}
    [server] = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.name == "POST /v1/reports"
    consumers = {
        (s.attributes["pantau.service"], s.name) for s in spans if s.kind == SpanKind.CONSUMER
    }
    assert {
        ("classifier", f"{topics.submitted} process"),
        ("notifier", f"{topics.classified} process"),
    } <= consumers
    assert "alert send email" in names
    assert f"{topics.alerts} publish" in names

    headers = await _headers_by_topic(
        env["PANTAU_KAFKA_BOOTSTRAP"],
        [topics.submitted, topics.classified, topics.alerts],
        report_id,
    )
    assert headers[topics.submitted] == [TRACE]
    assert headers[topics.classified] == [TRACE]
    assert headers[topics.alerts] and set(headers[topics.alerts]) == {TRACE}
