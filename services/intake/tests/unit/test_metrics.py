"""Received/accepted/rejected counters by channel and reason, and the in-flight gauge."""

import asyncio
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY

from pantau.intake.config import Config
from pantau.intake.core.intake import SealedReport
from pantau.intake.main import create_app
from pantau.localstack.testing import wait_for

from ..conftest import auth, make_config, report_body, serve
from ..fakes import FakePublisher


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def config(unit_env: dict[str, str]) -> Config:
    return make_config(unit_env, public_rate_limit="1/minute")


async def test_counts_by_channel_and_reason(config: Config) -> None:
    publisher = FakePublisher()
    before = {
        "received": sample("pantau_intake_reports_received_total", channel="monitor"),
        "accepted": sample("pantau_intake_reports_accepted_total", channel="monitor"),
        "invalid": sample(
            "pantau_intake_reports_rejected_total", channel="monitor", reason="validation"
        ),
        "unauth": sample(
            "pantau_intake_reports_rejected_total", channel="monitor", reason="unauthenticated"
        ),
        "unavailable": sample(
            "pantau_intake_reports_rejected_total", channel="monitor", reason="unavailable"
        ),
        "public_limited": sample(
            "pantau_intake_reports_rejected_total", channel="public", reason="rate_limited"
        ),
    }
    async with serve(create_app(config, publisher=publisher)) as client:
        await client.post("/v1/reports", json=report_body(), headers=auth(config))
        await client.post("/v1/reports", json=report_body(tps=0), headers=auth(config))
        await client.post("/v1/reports", json=report_body())
        publisher.down = True
        await client.post("/v1/reports", json=report_body(), headers=auth(config))
        publisher.down = False
        await client.post("/v1/public/reports", json=report_body())
        await client.post("/v1/public/reports", json=report_body())
        batch = {"reports": [report_body(), report_body(), report_body(tps=0)]}
        await client.post("/v1/reports:batch", json=batch, headers=auth(config))
        publisher.down = True
        down_batch = {"reports": [report_body(), report_body()]}
        await client.post("/v1/reports:batch", json=down_batch, headers=auth(config))
        exposed = (await client.get("/metrics")).text

    def delta(key: str, name: str, **labels: str) -> float:
        return sample(name, **labels) - before[key]

    assert delta("received", "pantau_intake_reports_received_total", channel="monitor") == 4 + 3 + 2
    assert delta("accepted", "pantau_intake_reports_accepted_total", channel="monitor") == 1 + 2
    assert (
        delta(
            "invalid",
            "pantau_intake_reports_rejected_total",
            channel="monitor",
            reason="validation",
        )
        == 1 + 1
    )
    assert (
        delta(
            "unauth",
            "pantau_intake_reports_rejected_total",
            channel="monitor",
            reason="unauthenticated",
        )
        == 1
    )
    assert (
        delta(
            "unavailable",
            "pantau_intake_reports_rejected_total",
            channel="monitor",
            reason="unavailable",
        )
        == 1 + 2
    )
    assert (
        delta(
            "public_limited",
            "pantau_intake_reports_rejected_total",
            channel="public",
            reason="rate_limited",
        )
        == 1
    )
    assert "pantau_intake_requests_in_flight 0.0" in exposed


class HeldPublisher(FakePublisher):
    """Holds every publish until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.holding = 0

    async def publish(self, reports: Sequence[SealedReport], *, traceparent: str | None) -> None:
        self.holding += 1
        await self.release.wait()
        await super().publish(reports, traceparent=traceparent)


async def test_the_in_flight_gauge_counts_requests_being_handled(config: Config) -> None:
    publisher = HeldPublisher()
    before = sample("pantau_intake_requests_in_flight")
    async with serve(create_app(config, publisher=publisher)) as client:
        posts = [
            asyncio.create_task(
                client.post("/v1/reports", json=report_body(), headers=auth(config))
            )
            for _ in range(3)
        ]

        async def all_held() -> bool:
            return publisher.holding == 3

        await wait_for(all_held, timeout=5, interval=0.005)
        assert sample("pantau_intake_requests_in_flight") == before + 3
        assert (
            f"pantau_intake_requests_in_flight {before + 3}" in (await client.get("/metrics")).text
        )
        publisher.release.set()
        assert [r.status_code for r in await asyncio.gather(*posts)] == [202] * 3
    assert sample("pantau_intake_requests_in_flight") == before
