"""The rules of `POST /v1/reports`, with a fake publisher: field paths in problem+json."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.shared.identity import IdentityCipher

from ..conftest import auth, make_config, report_body, serve
from ..fakes import FakePublisher

NOW = datetime(2029, 2, 14, 8, 0, tzinfo=UTC)


@pytest.fixture
def config(unit_env: dict[str, str]) -> Config:
    return make_config(unit_env, max_report_age_hours=48)


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
async def client(config: Config, publisher: FakePublisher) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(config, clock=lambda: NOW, publisher=publisher)) as client:
        yield client


def at(delta: timedelta) -> str:
    return (NOW + delta).isoformat()


async def post(client: httpx.AsyncClient, config: Config, body: Any) -> httpx.Response:
    return await client.post("/v1/reports", json=body, headers=auth(config))


def fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["type"].endswith("/validation")
    return {e["field"]: e["type"] for e in problem["errors"]}


async def test_valid_report_is_published(client, config, publisher) -> None:
    response = await post(client, config, report_body(occurred_at=at(-timedelta(hours=1))))
    assert response.status_code == 202
    [event] = publisher.events
    assert event.subject == response.json()["report_id"]
    assert event.data.received_at == NOW


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"region_code": "99.99"}, "region_code"),
        ({"region_code": "32-01"}, "region_code"),
        ({"tps": 0}, "tps"),
        ({"tps": 1000}, "tps"),
        ({"description": "   pendek    "}, "description"),
        ({"description": "x" * 5001}, "description"),
        ({"location": {"lat": 51.5, "lon": -0.12}}, "location"),
        ({"location": {"lat": -6.2}}, "location.lon"),
        ({"client_report_id": "not-a-uuid"}, "client_report_id"),
        ({"occurred_at": "2029-02-14T07:00:00"}, "occurred_at"),
        ({"reporter": {"phone": "call me"}}, "reporter.phone"),
        ({"reporter": {"nik": "123"}}, "reporter.nik"),
        ({"reporter": {"email": "not-an-email"}}, "reporter.email"),
        ({"reporter": {"name": "Siti", "age": 30}}, "reporter.age"),
        ({"surprise": True}, "surprise"),
        ({"category_hint": "gossip"}, "category_hint"),
        ({"attachments": [{"url": "http://x.id/a.jpg"}]}, "attachments.0.url"),
    ],
)
async def test_rule_violation_names_the_field(client, config, publisher, overrides, field) -> None:
    body = report_body(**{"occurred_at": at(-timedelta(minutes=1)), **overrides})
    assert field in fields(await post(client, config, body))
    assert publisher.events == []


@pytest.mark.parametrize(
    ("attachment", "field"),
    [
        ({"url": "http://files.example.id/a.jpg"}, "url"),
        ({"sha256": "xyz"}, "sha256"),
        ({"media_type": "application/x-msdownload"}, "media_type"),
        ({"size": 0}, "size"),
    ],
)
async def test_attachment_rules(client, config, attachment, field) -> None:
    good = {
        "url": "https://files.example.id/bukti/a.jpg",
        "sha256": "ab" * 32,
        "media_type": "image/jpeg",
        "size": 1000,
    }
    body = report_body(occurred_at=at(-timedelta(minutes=1)), attachments=[{**good, **attachment}])
    assert f"attachments.0.{field}" in fields(await post(client, config, body))


async def test_good_attachment_travels_in_the_event(client, config, publisher) -> None:
    attachment = {
        "url": "https://files.example.id/bukti/a.jpg",
        "sha256": "AB" * 32,
        "media_type": "video/mp4",
        "size": 1000,
    }
    body = report_body(occurred_at=at(-timedelta(minutes=1)), attachments=[attachment])
    assert (await post(client, config, body)).status_code == 202
    assert publisher.events[0].data.attachments[0].media_type == "video/mp4"


async def test_occurred_at_window(client, config) -> None:
    future = report_body(occurred_at=at(timedelta(minutes=11)))
    assert fields(await post(client, config, future)) == {"occurred_at": "occurred_at_in_future"}
    too_old = report_body(occurred_at=at(-timedelta(hours=49)))
    assert fields(await post(client, config, too_old)) == {"occurred_at": "occurred_at_too_old"}
    skewed = report_body(occurred_at=at(timedelta(minutes=9)))
    assert (await post(client, config, skewed)).status_code == 202


async def test_several_errors_are_all_reported(client, config) -> None:
    body = report_body(tps=0, region_code="00", description="pendek", extra_field=1)
    assert set(fields(await post(client, config, body))) == {
        "tps",
        "region_code",
        "description",
        "extra_field",
    }


async def test_undotted_village_code_resolves_to_its_ancestors(client, config, publisher) -> None:
    body = report_body(occurred_at=at(-timedelta(minutes=1)), region_code=" 3201011002 ")
    assert (await post(client, config, body)).status_code == 202
    region = publisher.events[0].data.region
    assert (region.province, region.regency, region.district, region.village) == (
        "32",
        "32.01",
        "32.01.01",
        "32.01.01.1002",
    )


async def test_text_is_normalised_and_cleaned(client, config, publisher) -> None:
    body = report_body(
        occurred_at=at(-timedelta(minutes=1)),
        description="  Kotak suara di TPS 05 rusak\x00 dan basah.  ",
        title=" Kotak\tsuara   rusak ",
    )
    assert (await post(client, config, body)).status_code == 202
    data = publisher.events[0].data
    assert data.description == "Kotak suara di TPS 05 rusak dan basah."
    assert data.title == "Kotak suara rusak"


async def test_identity_is_sealed_field_by_field(client, config, publisher) -> None:
    reporter = {
        "name": "Siti Rahmawati",
        "phone": "0812-3456-7890",
        "email": "siti@example.id",
        "nik": "3201010101010001",
    }
    body = report_body(occurred_at=at(-timedelta(minutes=1)), reporter=reporter)
    assert (await post(client, config, body)).status_code == 202
    event = publisher.events[0]
    raw = event.to_bytes()
    assert not any(value.encode() in raw for value in ("Siti", "3456", "siti@", "3201010101"))
    cipher = IdentityCipher(config.identity_keys.get_secret_value())
    sealed = event.data.reporter
    assert sealed is not None and sealed.phone is not None and sealed.nik is not None
    assert cipher.open(sealed.phone, report_id=event.subject, field="phone") == "081234567890"
    assert cipher.open(sealed.nik, report_id=event.subject, field="nik") == "3201010101010001"


async def test_body_over_64_kib_is_413(client, config) -> None:
    body = report_body(title="x" * 70_000)
    response = await post(client, config, body)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_malformed_json_is_422_problem(client, config) -> None:
    response = await client.post(
        "/v1/reports",
        content=b"{not json",
        headers={**auth(config), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_outage_is_503_with_retry_after(client, config, publisher) -> None:
    publisher.down = True
    response = await post(client, config, report_body(occurred_at=at(-timedelta(minutes=1))))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(config.retry_after_seconds)


async def test_traceparent_is_passed_on(client, config, publisher) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await client.post(
        "/v1/reports",
        json=report_body(occurred_at=at(-timedelta(minutes=1))),
        headers={**auth(config), "traceparent": parent},
    )
    assert publisher.traceparents == [parent]
