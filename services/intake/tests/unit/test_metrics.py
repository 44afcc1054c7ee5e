"""Received/accepted/rejected counters by channel and reason, and the in-flight gauge."""

import pytest
from prometheus_client import REGISTRY

from pantau.intake.config import Config
from pantau.intake.main import create_app

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
