"""Kafka down → 503 fast; Kafka back → the same retries are accepted and nothing is lost.

Runs its own throwaway broker (the shared one must never be stopped).
"""

import time
from pathlib import Path

import httpx
import pytest

from pantau.intake.config import Config
from pantau.intake.main import create_app
from pantau.localstack.testing import wait_for
from pantau.shared.events import ReportSubmitted

from ..conftest import auth, make_config, report_body, serve
from .kafka_helpers import read_topic
from .throwaway_kafka import ThrowawayKafka, kafka_libs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(kafka_libs() is None, reason="no Java or Kafka jars for a private broker"),
]


async def _post_until_accepted(client: httpx.AsyncClient, config: Config, body: dict) -> str:
    """Retry like a client: same body, until 202 (a 503 on the way is fine)."""

    async def attempt() -> str | None:
        response = await client.post("/v1/reports", json=body, headers=auth(config))
        assert response.status_code in (202, 503), response.text
        return response.json()["report_id"] if response.status_code == 202 else None

    return await wait_for(attempt, timeout=90, interval=0.5)


async def _post_expecting_503(client: httpx.AsyncClient, config: Config, body: dict) -> None:
    started = time.monotonic()
    response = await client.post("/v1/reports", json=body, headers=auth(config))
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    assert elapsed < 2.0


@pytest.mark.timeout(300)
async def test_broker_down_then_back_loses_nothing(
    pantau_env: dict[str, str], tmp_path: Path
) -> None:
    libs = kafka_libs()
    assert libs is not None
    kafka = ThrowawayKafka(libs=libs, workdir=tmp_path)
    config = make_config(
        {**pantau_env, "PANTAU_KAFKA_BOOTSTRAP": kafka.bootstrap},
        broker_startup_wait_seconds=0.2,
    )
    app = create_app(config)
    accepted: list[str] = []
    try:
        async with serve(app) as client:
            # Intake starts before Kafka: it serves 503 and connects once Kafka is up.
            before = report_body()
            await _post_expecting_503(client, config, before)
            kafka.start()
            accepted.append(await _post_until_accepted(client, config, before))
            accepted.append(await _post_until_accepted(client, config, report_body()))

            kafka.stop()
            during = report_body()
            for _ in range(3):
                await _post_expecting_503(client, config, during)
            assert (await client.get("/readyz")).status_code == 503

            kafka.start()
            accepted.append(await _post_until_accepted(client, config, during))
            accepted.append(await _post_until_accepted(client, config, report_body()))
            assert (await client.get("/readyz")).status_code == 200

        async with read_topic(kafka.bootstrap, config.topics.submitted) as reader:

            async def all_there() -> bool:
                return all(reader.by_key(report_id) for report_id in accepted)

            await wait_for(all_there, timeout=30)
            on_topic = {
                ReportSubmitted.model_validate_json(r.value).subject for r in reader.records
            }
        assert set(accepted) <= on_topic
    finally:
        kafka.stop()
