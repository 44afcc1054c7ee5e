"""Intake over HTTP against the real broker: publish, encryption, idempotency, auth, outage."""

import json
import time

import httpx
import pytest

from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.localstack.testing import free_port, wait_for
from pantau.shared.auth import Role
from pantau.shared.events import ReportSubmitted
from pantau.shared.identity import IdentityCipher

from ..conftest import auth, make_config, report_body, serve
from .kafka_helpers import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def config(pantau_env: dict[str, str]) -> Config:
    return make_config(pantau_env, client_rate_limit="1000/minute")


async def test_accepted_report_is_on_the_topic_with_sealed_identity(config: Config) -> None:
    body = report_body(reporter={"name": "Siti Rahmawati", "phone": "+6281234567890"})
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with serve(create_app(config)) as client:
        response = await client.post(
            "/v1/reports",
            json=body,
            headers={**auth(config, subject="app-bogor-1"), "traceparent": traceparent},
        )
        assert response.status_code == 202, response.text
        report_id = response.json()["report_id"]
        assert report_id.startswith("rpt_")

    async with read_topic(config.kafka_bootstrap, config.topics.submitted) as reader:

        async def published() -> list:
            return reader.by_key(report_id)

        [record] = await wait_for(published, timeout=20)

    assert b"Siti" not in record.value and b"6281234567890" not in record.value
    event = ReportSubmitted.model_validate_json(record.value)
    assert event.subject == report_id
    assert event.data.client_id == "app-bogor-1"
    assert event.data.region.village == "32.01.01.1002"
    assert event.data.region.regency == "32.01"
    assert event.data.reporter is not None and event.data.reporter.email is None
    cipher = IdentityCipher(config.identity_keys.get_secret_value())
    assert event.data.reporter.name is not None and event.data.reporter.phone is not None
    assert cipher.open(event.data.reporter.name, report_id=report_id, field="name") == (
        "Siti Rahmawati"
    )
    assert cipher.open(event.data.reporter.phone, report_id=report_id, field="phone") == (
        "+6281234567890"
    )
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert headers["pantau-event-type"] == "report.submitted.v1"


async def test_retry_with_same_client_report_id_gives_same_report_id(config: Config) -> None:
    body = report_body()
    headers = auth(config, subject="app-retry")
    async with serve(create_app(config)) as client:
        first = await client.post("/v1/reports", json=body, headers=headers)
        second = await client.post("/v1/reports", json=body, headers=headers)
        other_client = await client.post(
            "/v1/reports", json=body, headers=auth(config, subject="another-app")
        )
    assert first.status_code == second.status_code == 202
    assert first.json()["report_id"] == second.json()["report_id"]
    assert other_client.json()["report_id"] != first.json()["report_id"]


async def test_anonymous_report_carries_no_identity(config: Config) -> None:
    body = report_body(anonymous=True, reporter={"name": "Budi Santoso", "nik": "3201010101010001"})
    async with serve(create_app(config)) as client:
        response = await client.post("/v1/reports", json=body, headers=auth(config))
    report_id = response.json()["report_id"]
    async with read_topic(config.kafka_bootstrap, config.topics.submitted) as reader:

        async def published() -> list:
            return reader.by_key(report_id)

        [record] = await wait_for(published, timeout=20)
    payload = json.loads(record.value)
    assert payload["data"]["reporter"] is None
    assert payload["data"]["anonymous"] is True
    assert b"Budi" not in record.value and b"3201010101010001" not in record.value


async def test_401_without_token_and_403_for_liaison(config: Config) -> None:
    async with serve(create_app(config)) as client:
        anonymous = await client.post("/v1/reports", json=report_body())
        liaison = await client.post(
            "/v1/reports", json=report_body(), headers=auth(config, role=Role.LIAISON)
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert liaison.status_code == 403
    assert liaison.json()["status"] == 403


async def test_unreachable_broker_answers_503_with_retry_after_fast(
    pantau_env: dict[str, str],
) -> None:
    config = make_config(
        {**pantau_env, "PANTAU_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"},
        broker_startup_wait_seconds=0.5,
    )
    async with serve(create_app(config)) as client:
        started = time.monotonic()
        response = await client.post("/v1/reports", json=report_body(), headers=auth(config))
        elapsed = time.monotonic() - started
        ready = await client.get("/readyz")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["content-type"] == "application/problem+json"
    assert elapsed < 2.0
    assert ready.status_code == 503


async def test_ops_endpoints(config: Config) -> None:
    acknowledged = 'pantau_intake_publish_seconds_count{outcome="acknowledged"}'
    async with serve(create_app(config)) as client:
        before = _sample(await client.get("/metrics"), acknowledged)
        await client.post("/v1/reports", json=report_body(), headers=auth(config))
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")
        asyncapi = await client.get("/asyncapi.json")
        docs = await client.get("/docs")
    assert ready.status_code == 200 and ready.json()["checks"] == {"kafka": True}
    assert _sample(metrics, acknowledged) == before + 1
    assert config.topics.submitted in json.dumps(asyncapi.json())
    assert docs.status_code == 200


def _sample(metrics: httpx.Response, line_start: str) -> float:
    for line in metrics.text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return 0.0
