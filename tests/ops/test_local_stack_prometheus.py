"""The local stack with Prometheus: the launcher starts the four services and Debian's
Prometheus (on free ports, in a var dir of its own, on the session's Kafka and store),
reports go through intake, and Prometheus finds the series an operator relies on."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pantau.localstack.config import DEFAULT_SERVICES, ServiceSpec, StackConfig, default_cache_dir
from pantau.localstack.errors import StackError
from pantau.localstack.launcher import Launcher
from pantau.localstack.testing import free_port, wait_for
from pantau.shared.auth import Role, issue_token
from pantau.shared.envelope import utcnow

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
FLOOD = "Banjir setinggi pinggang merendam TPS {tps:02d}, pemungutan suara ditunda."


@pytest.fixture(scope="module")
def stack(
    pantau_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Launcher]:
    launcher = Launcher(
        StackConfig.default(
            repo_root=REPO_ROOT,
            var_dir=tmp_path_factory.mktemp("ops-stack") / "var",
            cache_dir=default_cache_dir(),
            external_kafka=pantau_env["PANTAU_KAFKA_BOOTSTRAP"],
            external_mongo=pantau_env["PANTAU_MONGO_URL"],
            smtp_port=free_port(),
            prometheus_port=free_port(),
            prometheus_scrape_interval="1s",
            services=tuple(
                ServiceSpec(name=s.name, module=s.module, port=free_port())
                for s in DEFAULT_SERVICES
            ),
            extra_env={
                **pantau_env,
                # Own topics, groups and databases, apart from the run's other tests.
                "PANTAU_TOPIC_PREFIX": f"{pantau_env['PANTAU_TOPIC_PREFIX']}ops.",
                "PANTAU_CONSUMER_GROUP_PREFIX": f"{pantau_env['PANTAU_CONSUMER_GROUP_PREFIX']}ops-",
                "PANTAU_MONGO_DB_SUFFIX": f"{pantau_env['PANTAU_MONGO_DB_SUFFIX']}_ops",
                "PANTAU_ALERT_EMAIL_TO": "posko@pantau.local",
            },
        )
    )
    if launcher.prometheus_binary() is None:
        pytest.skip("Prometheus is not installed (apt-get install prometheus)")
    try:
        launcher.up()
    except StackError as exc:
        launcher.down()
        pytest.fail(exc.render(), pytrace=False)
    try:
        yield launcher
    finally:
        launcher.down()


def _url(stack: Launcher, service: str) -> str:
    port = next(spec.port for spec in stack.config.services if spec.name == service)
    return f"http://{stack.config.host}:{port}"


async def _query(http: httpx.AsyncClient, prometheus: str, promql: str) -> list[dict[str, Any]]:
    got = await http.get(f"{prometheus}/api/v1/query", params={"query": promql})
    got.raise_for_status()
    return got.json()["data"]["result"]


async def test_prometheus_scrapes_every_service_and_finds_the_key_series(
    stack: Launcher, pantau_env: dict[str, str]
) -> None:
    statuses = {row.name: row.state for row in stack.status()}
    assert statuses["prometheus"] == "healthy"
    token = issue_token(
        secret=pantau_env["PANTAU_AUTH_SECRET"],
        issuer="pantau",
        role=Role.MONITOR,
        subject="monitor-ops",
    )
    prometheus = stack.config.prometheus_url
    async with httpx.AsyncClient(timeout=10) as http:
        for tps in range(1, 6):
            posted = await http.post(
                f"{_url(stack, 'intake')}/v1/reports",
                json={
                    "client_report_id": str(uuid.uuid4()),
                    "occurred_at": (utcnow() - timedelta(minutes=2)).isoformat(),
                    "region_code": "3201011001",
                    "tps": tps,
                    "description": FLOOD.format(tps=tps),
                    "anonymous": True,
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert posted.status_code == 202, posted.text

        async def all_up() -> list[dict[str, Any]] | None:
            result = await _query(http, prometheus, 'up{job=~"pantau-.+"} == 1')
            return result if len(result) == 4 else None

        assert {r["metric"]["job"] for r in await wait_for(all_up, timeout=20)} == {
            "pantau-intake",
            "pantau-classifier",
            "pantau-notifier",
            "pantau-reporting",
        }

        async def value(promql: str) -> float | None:
            result = await _query(http, prometheus, promql)
            return float(result[0]["value"][1]) if result else None

        async def positive(promql: str) -> float:
            async def probe() -> float | None:
                found = await value(promql)
                return found if found and found > 0 else None

            return await wait_for(probe, timeout=30, interval=0.5)

        assert await positive("sum(pantau_intake_reports_accepted_total)") == 5
        assert (
            await positive(
                'sum(pantau_messages_processed_total{service="classifier", outcome="ok"})'
            )
            >= 5
        )
        for stage in ("classified", "alerted", "read_model_classified"):
            assert await positive(f'sum(pantau_end_to_end_seconds_count{{stage="{stage}"}})') >= 1
        # FastStream's own middleware metrics, and every consumer's lag per partition.
        assert await positive('sum(faststream_received_messages_total{app_name="classifier"})')
        lag = await wait_for(
            lambda: _query(http, prometheus, 'pantau_consumer_lag{topic=~".*submitted"}'),
            timeout=15,
            interval=0.5,
        )
        assert {r["metric"]["service"] for r in lag} >= {"classifier"}
        assert all(r["metric"]["partition"].isdigit() for r in lag)
        # Process CPU and memory of every service.
        memory = await _query(http, prometheus, 'process_resident_memory_bytes{job=~"pantau-.+"}')
        assert len(memory) == 4
        assert all(10e6 < float(r["value"][1]) < 2e9 for r in memory)
        # The alert rules are loaded.
        rules = (await http.get(f"{prometheus}/api/v1/rules")).json()["data"]["groups"]
        assert any(rule["name"] == "PantauServiceDown" for g in rules for rule in g["rules"])
