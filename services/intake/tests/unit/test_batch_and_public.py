"""The batch endpoint and the public endpoint, with a fake publisher."""

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.shared.auth import Role
from pantau.shared.events import Channel

from ..conftest import auth, make_config, report_body, serve
from ..fakes import FakePublisher


@pytest.fixture
def config(unit_env: dict[str, str]) -> Config:
    return make_config(unit_env, public_rate_limit="3/minute", client_rate_limit="5/minute")


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
async def client(config: Config, publisher: FakePublisher) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(config, publisher=publisher)) as client:
        yield client


class TestBatch:
    async def test_good_items_accepted_bad_ones_rejected_with_paths(
        self, client, config, publisher
    ) -> None:
        good = [report_body() for _ in range(3)]
        bad_region = report_body(region_code="99")
        bad_tps = report_body(tps=0)
        duplicate = dict(good[0])
        body = {"reports": [good[0], bad_region, good[1], bad_tps, duplicate, good[2], "junk"]}
        response = await client.post("/v1/reports:batch", json=body, headers=auth(config))
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["accepted"], result["duplicates"], result["rejected"]) == (3, 1, 3)
        statuses = [r["status"] for r in result["results"]]
        assert statuses == [
            "accepted",
            "rejected",
            "accepted",
            "rejected",
            "duplicate",
            "accepted",
            "rejected",
        ]
        assert result["results"][1]["errors"][0]["field"] == "reports.1.region_code"
        assert result["results"][3]["errors"][0]["field"] == "reports.3.tps"
        assert result["results"][4]["report_id"] == result["results"][0]["report_id"]
        published = {e.data.client_report_id for e in publisher.events}
        assert published == {g["client_report_id"] for g in good}

    async def test_same_ids_as_the_single_endpoint(self, client, config) -> None:
        body = report_body()
        headers = auth(config, subject="app-sync")
        single = await client.post("/v1/reports", json=body, headers=headers)
        batch = await client.post("/v1/reports:batch", json={"reports": [body]}, headers=headers)
        assert batch.json()["results"][0]["report_id"] == single.json()["report_id"]

    async def test_an_item_outside_the_time_window_keeps_its_client_report_id(
        self, client, config, publisher
    ) -> None:
        # Every item parses (the one-pass path); one is then too old for the window.
        old = report_body(occurred_at="2000-01-01T00:00:00+07:00")
        body = {"reports": [report_body(), old]}
        response = await client.post("/v1/reports:batch", json=body, headers=auth(config))
        assert response.status_code == 200, response.text
        accepted, rejected = response.json()["results"]
        assert accepted["status"] == "accepted" and accepted["errors"] is None
        assert rejected == {
            "index": 1,
            "client_report_id": old["client_report_id"],
            "status": "rejected",
            "report_id": None,
            "errors": [
                {
                    "field": "reports.1.occurred_at",
                    "message": f"is older than the accepted window of "
                    f"{config.max_report_age_hours} hours",
                    "type": "occurred_at_too_old",
                }
            ],
        }
        assert len(publisher.events) == 1

    async def test_more_than_500_items_is_422(self, client, config) -> None:
        body = {"reports": [{"x": i} for i in range(501)]}
        response = await client.post("/v1/reports:batch", json=body, headers=auth(config))
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "reports"

    async def test_unknown_top_level_field_and_bad_json(self, client, config) -> None:
        extra = await client.post(
            "/v1/reports:batch", json={"reports": [report_body()], "x": 1}, headers=auth(config)
        )
        assert {e["field"] for e in extra.json()["errors"]} == {"x"}
        broken = await client.post(
            "/v1/reports:batch",
            content=b"[1,2",
            headers={**auth(config), "content-type": "application/json"},
        )
        assert broken.status_code == 422

    async def test_body_over_1_mib_is_413(self, client, config) -> None:
        body = {"reports": [report_body(description="x" * 4000) for _ in range(300)]}
        response = await client.post("/v1/reports:batch", json=body, headers=auth(config))
        assert response.status_code == 413

    async def test_outage_fails_the_whole_batch_with_503(self, client, config, publisher) -> None:
        publisher.down = True
        response = await client.post(
            "/v1/reports:batch", json={"reports": [report_body()]}, headers=auth(config)
        )
        assert response.status_code == 503 and "Retry-After" in response.headers

    async def test_needs_a_monitor_token(self, client, config) -> None:
        body = {"reports": [report_body()]}
        assert (await client.post("/v1/reports:batch", json=body)).status_code == 401
        liaison = auth(config, role=Role.LIAISON)
        assert (
            await client.post("/v1/reports:batch", json=body, headers=liaison)
        ).status_code == 403


class TestClientRateLimit:
    async def test_429_with_retry_after_per_client(self, client, config) -> None:
        headers = auth(config, subject="busy-app")
        codes = [
            (await client.post("/v1/reports", json=report_body(), headers=headers)).status_code
            for _ in range(6)
        ]
        assert codes == [202] * 5 + [429]
        limited = await client.post("/v1/reports", json=report_body(), headers=headers)
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        other = await client.post("/v1/reports", json=report_body(), headers=auth(config))
        assert other.status_code == 202


class TestPublic:
    async def test_no_account_needed_and_channel_is_public(self, client, publisher) -> None:
        body = report_body(reporter=None)
        response = await client.post("/v1/public/reports", json=body)
        assert response.status_code == 202
        assert publisher.events[0].data.channel == Channel.PUBLIC
        assert publisher.events[0].data.client_id == "public"

    async def test_per_ip_limit(self, config, publisher) -> None:
        app = create_app(config, publisher=publisher)
        async with (
            serve(app, client_ip="10.0.0.1") as first,
            serve(app, client_ip="10.0.0.2") as second,
        ):
            codes = [
                (await first.post("/v1/public/reports", json=report_body())).status_code
                for _ in range(4)
            ]
            other_ip = await second.post("/v1/public/reports", json=report_body())
        assert codes == [202, 202, 202, 429]
        assert other_ip.status_code == 202

    async def test_stricter_limits(self, client) -> None:
        long_text = await client.post(
            "/v1/public/reports", json=report_body(description="x" * 2001)
        )
        assert long_text.status_code == 422
        assert long_text.json()["errors"][0]["field"] == "description"
        big = await client.post("/v1/public/reports", json=report_body(title="x" * 17_000))
        assert big.status_code == 413

    async def test_identity_optional_and_sealed(self, client, publisher) -> None:
        body = report_body(client_report_id=str(uuid4()), reporter={"phone": "081234567890"})
        assert (await client.post("/v1/public/reports", json=body)).status_code == 202
        assert b"081234567890" not in publisher.events[0].to_bytes()
