"""SMS parsing, reply texts and the signed webhook (fake publisher)."""

import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from pantau.intake.adapters.sms import ReplayGuard, sign
from pantau.intake.config import Config
from pantau.intake.core.sms import ParsedSms, SmsProblem, parse_sms, reply_problem
from pantau.intake.main import create_app
from pantau.shared.envelope import utcnow
from pantau.shared.events import Channel
from pantau.shared.http import Problem

from ..conftest import make_config, serve
from ..fakes import FakePublisher


class TestParse:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "LAPOR 32.01.01.1002 5 Banjir merendam TPS",
                ParsedSms("32.01.01.1002", 5, "Banjir merendam TPS"),
            ),
            (
                "  lapor   3201011002   005   banjir  besar \n sekali ",
                ParsedSms("3201011002", 5, "banjir  besar \n sekali"),
            ),
            (
                "Lapor#32.01#TPS 12#Surat suara kurang",
                ParsedSms("32.01", 12, "Surat suara kurang"),
            ),
            ("LAPOR 32.01. tps05 ada amplop", ParsedSms("32.01", 5, "ada amplop")),
            ("LAPOR 32.01 Kotak suara hilang", ParsedSms("32.01", None, "Kotak suara hilang")),
        ],
    )
    def test_tolerant_forms(self, text: str, expected: ParsedSms) -> None:
        assert parse_sms(text) == expected

    @pytest.mark.parametrize("text", ["halo", "LAPOR", "LAPOR banjir di desa", "INFO 32 5 x"])
    def test_not_the_format(self, text: str) -> None:
        assert parse_sms(text) is None

    def test_replies_are_indonesian_by_default_and_english_on_request(self) -> None:
        parsed = ParsedSms("99.99", 5, "teks")
        assert "Kode wilayah 99.99 tidak ditemukan" in reply_problem(
            SmsProblem.REGION, parsed=parsed
        )
        assert "Region code 99.99 not found" in reply_problem(
            SmsProblem.REGION, parsed=parsed, lang="en"
        )
        assert "LAPOR <kode wilayah> <nomor TPS> <isi laporan>" in reply_problem(SmsProblem.FORMAT)


class TestReplayGuard:
    def test_stale_and_future_timestamps_refused(self) -> None:
        guard = ReplayGuard(window_seconds=300, clock=lambda: 10_000.0)
        guard.check_fresh("9800")
        for stale in ("9600", "10400", "abc"):
            with pytest.raises(Problem) as info:
                guard.check_fresh(stale)
            assert info.value.status == 401

    def test_second_sighting_is_a_replay_unless_forgotten(self) -> None:
        guard = ReplayGuard(window_seconds=300, clock=lambda: 10_000.0)
        guard.remember("sha256=aa")
        with pytest.raises(Problem) as info:
            guard.remember("sha256=aa")
        assert info.value.status == 409
        guard.forget("sha256=aa")
        guard.remember("sha256=aa")


@pytest.fixture
def config(unit_env: dict[str, str]) -> Config:
    return make_config(unit_env)


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
async def client(config: Config, publisher: FakePublisher) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(config, publisher=publisher)) as client:
        yield client


def signed(config: Config, body: bytes, *, at: float | None = None) -> dict[str, str]:
    assert config.sms_webhook_secret is not None
    timestamp = str(int(at if at is not None else time.time()))
    return {
        "X-Pantau-Timestamp": timestamp,
        "X-Pantau-Signature": sign(
            secret=config.sms_webhook_secret.get_secret_value(), timestamp=timestamp, body=body
        ),
    }


def sms(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "sender": "+6281234567890",
        "text": text,
        "received_at": (utcnow() - timedelta(seconds=3)).isoformat(),
        **extra,
    }


async def send_json(client: httpx.AsyncClient, config: Config, payload: Any) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await client.post(
        "/v1/inbound/sms",
        content=body,
        headers={**signed(config, body), "content-type": "application/json"},
    )


class TestWebhook:
    async def test_valid_sms_becomes_a_report_with_sealed_sender(
        self, client, config, publisher
    ) -> None:
        response = await send_json(client, config, sms("LAPOR 3201011002 5 Banjir merendam TPS"))
        assert response.status_code == 202, response.text
        reply = response.json()
        assert reply["accepted"] is True
        assert reply["reply"].startswith("Terima kasih") and reply["report_id"] in reply["reply"]
        [event] = publisher.events
        assert event.data.channel == Channel.SMS
        assert event.data.region.village == "32.01.01.1002" and event.data.tps == 5
        assert b"6281234567890" not in event.to_bytes()

    async def test_form_encoded_works_and_message_id_makes_it_idempotent(
        self, client, config, publisher
    ) -> None:
        form = sms("lapor 32.01.01.1002 7 Ada pembagian amplop", message_id="gw-123")
        ids = []
        for _ in range(2):
            body = urlencode(form).encode()
            response = await client.post(
                "/v1/inbound/sms",
                content=body,
                headers={
                    **signed(config, body, at=time.time() - len(ids)),
                    "content-type": "application/x-www-form-urlencoded",
                },
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["report_id"])
        assert ids[0] == ids[1]

    @pytest.mark.parametrize(
        ("text", "fragment"),
        [
            ("halo apa kabar", "Format SMS tidak dikenali"),
            ("LAPOR 99.99 5 Banjir merendam TPS", "Kode wilayah 99.99 tidak ditemukan"),
            ("LAPOR 32.01 0 Banjir merendam TPS", "Nomor TPS 0 tidak valid"),
            ("LAPOR 32.01 5 banjir", "terlalu pendek"),
        ],
    )
    async def test_bad_message_gets_a_reply_on_how_to_fix_it(
        self, client, config, publisher, text, fragment
    ) -> None:
        response = await send_json(client, config, sms(text))
        assert response.status_code == 200
        assert response.json()["accepted"] is False
        assert fragment in response.json()["reply"]
        assert publisher.events == []

    async def test_replay_refused(self, client, config, publisher) -> None:
        body = json.dumps(sms("LAPOR 32.01 5 Banjir merendam TPS")).encode()
        headers = {**signed(config, body), "content-type": "application/json"}
        first = await client.post("/v1/inbound/sms", content=body, headers=headers)
        replay = await client.post("/v1/inbound/sms", content=body, headers=headers)
        assert first.status_code == 202
        assert replay.status_code == 409
        assert replay.headers["content-type"] == "application/problem+json"
        assert len(publisher.events) == 1

    async def test_bad_or_missing_or_stale_signature_is_401(self, client, config) -> None:
        body = json.dumps(sms("LAPOR 32.01 5 Banjir merendam TPS")).encode()
        tampered = {**signed(config, body), "content-type": "application/json"}
        missing = await client.post("/v1/inbound/sms", content=body)
        wrong = await client.post("/v1/inbound/sms", content=body + b" ", headers=tampered)
        stale_headers = {**signed(config, body, at=time.time() - 3600)}
        stale = await client.post("/v1/inbound/sms", content=body, headers=stale_headers)
        assert [r.status_code for r in (missing, wrong, stale)] == [401, 401, 401]

    async def test_retry_after_outage_is_not_a_replay(self, client, config, publisher) -> None:
        body = json.dumps(sms("LAPOR 32.01 5 Banjir merendam TPS")).encode()
        headers = {**signed(config, body), "content-type": "application/json"}
        publisher.down = True
        assert (
            await client.post("/v1/inbound/sms", content=body, headers=headers)
        ).status_code == 503
        publisher.down = False
        assert (
            await client.post("/v1/inbound/sms", content=body, headers=headers)
        ).status_code == 202

    async def test_invalid_payload_is_422(self, client, config) -> None:
        response = await send_json(client, config, {"sender": "+62812", "text": "x"})
        assert response.status_code == 422
        assert "received_at" in {e["field"] for e in response.json()["errors"]}


async def test_unconfigured_webhook_refuses_everything(unit_env: dict[str, str]) -> None:
    env = {k: v for k, v in unit_env.items() if k != "PANTAU_SMS_WEBHOOK_SECRET"}
    config = make_config(env)
    async with serve(create_app(config, publisher=FakePublisher())) as client:
        response = await client.post("/v1/inbound/sms", json=sms("LAPOR 32.01 5 Banjir di TPS"))
    assert response.status_code == 401
