"""Batch, public and SMS channels against the real broker."""

import json
import time

import pytest

from pantau.intake.adapters.sms import sign
from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.localstack.testing import wait_for
from pantau.shared.envelope import utcnow
from pantau.shared.events import Channel, ReportSubmitted
from pantau.shared.identity import IdentityCipher

from ..conftest import auth, make_config, report_body, serve
from .kafka_helpers import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def config(pantau_env: dict[str, str]) -> Config:
    return make_config(
        {**pantau_env, "PANTAU_SMS_WEBHOOK_SECRET": "sms-secret-for-integration-tests"},
        client_rate_limit="1000/minute",
    )


async def test_batch_with_good_and_bad_items_publishes_exactly_the_good_ones(
    config: Config,
) -> None:
    good = [report_body() for _ in range(4)]
    bad = [report_body(region_code="99.99"), report_body(description="pendek"), {"x": 1}]
    items = [good[0], bad[0], good[1], bad[1], good[2], bad[2], good[3]]
    async with serve(create_app(config)) as client:
        response = await client.post(
            "/v1/reports:batch", json={"reports": items}, headers=auth(config, subject="sync-app")
        )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (4, 3)
    accepted_ids = {r["report_id"] for r in result["results"] if r["status"] == "accepted"}
    rejected_crids = {b["client_report_id"] for b in bad[:2]}

    async with read_topic(config.kafka_bootstrap, config.topics.submitted) as reader:

        async def all_accepted_there() -> bool:
            return all(reader.by_key(report_id) for report_id in accepted_ids)

        await wait_for(all_accepted_there, timeout=20)
        from_this_client = [
            ReportSubmitted.model_validate_json(r.value)
            for r in reader.records
            if b'"client_id":"sync-app"' in r.value
        ]
    assert {e.subject for e in from_this_client} == accepted_ids
    assert not rejected_crids & {e.data.client_report_id for e in from_this_client}


async def test_public_report_is_on_the_topic_as_public(config: Config) -> None:
    async with serve(create_app(config)) as client:
        response = await client.post("/v1/public/reports", json=report_body(reporter=None))
    assert response.status_code == 202, response.text
    report_id = response.json()["report_id"]
    async with read_topic(config.kafka_bootstrap, config.topics.submitted) as reader:

        async def found() -> list:
            return reader.by_key(report_id)

        [record] = await wait_for(found, timeout=20)
    assert ReportSubmitted.model_validate_json(record.value).data.channel == Channel.PUBLIC


async def test_signed_sms_becomes_a_report_and_a_replay_is_refused(config: Config) -> None:
    assert config.sms_webhook_secret is not None
    payload = {
        "sender": "+6281298765432",
        "text": "LAPOR 3201011002 TPS 05 Ada pembagian amplop di dekat TPS",
        "received_at": utcnow().isoformat(),
        "message_id": f"gw-{time.time_ns()}",
    }
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "X-Pantau-Timestamp": timestamp,
        "X-Pantau-Signature": sign(
            secret=config.sms_webhook_secret.get_secret_value(), timestamp=timestamp, body=body
        ),
    }
    async with serve(create_app(config)) as client:
        first = await client.post("/v1/inbound/sms", content=body, headers=headers)
        replay = await client.post("/v1/inbound/sms", content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert replay.status_code == 409
    report_id = first.json()["report_id"]
    assert f"Nomor laporan: {report_id}" in first.json()["reply"]

    async with read_topic(config.kafka_bootstrap, config.topics.submitted) as reader:

        async def found() -> list:
            return reader.by_key(report_id)

        records = await wait_for(found, timeout=20)
    assert len(records) == 1  # the replay published nothing
    assert b"6281298765432" not in records[0].value
    event = ReportSubmitted.model_validate_json(records[0].value)
    assert event.data.channel == Channel.SMS and event.data.tps == 5
    assert event.data.reporter is not None and event.data.reporter.phone is not None
    cipher = IdentityCipher(config.identity_keys.get_secret_value())
    assert (
        cipher.open(event.data.reporter.phone, report_id=report_id, field="phone")
        == "+6281298765432"
    )
