"""Pipeline health while Kafka is unreachable: a 503 problem the dashboard can show."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pantau.localstack.testing import free_port
from pantau.reporting.adapters.stats_api import operations_router
from pantau.reporting.config import Config
from pantau.shared.auth import Role
from pantau.shared.http import install_problem_handlers

pytestmark = pytest.mark.integration


async def test_pipeline_health_answers_503_problem_when_kafka_is_down(
    config: Config, token: Any
) -> None:
    nothing_listens = config.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    app = FastAPI()
    install_problem_handlers(app)
    # /v1/pipeline reads only Kafka; the store is never touched.
    app.include_router(operations_router(config=nothing_listens, store=None))  # type: ignore[arg-type]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as http:
        answer = await http.get(
            "/v1/pipeline", headers={"Authorization": f"Bearer {token(Role.OPERATOR)}"}
        )

    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["title"] == "Kafka is unreachable"
