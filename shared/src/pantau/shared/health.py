"""``/healthz``, ``/readyz``, ``/metrics`` and ``/asyncapi.json`` for every service's HTTP app."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pantau.shared.telemetry import refresh_consumer_lag

ReadinessCheck = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_SECONDS = 2.0


def ops_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    """Liveness (the process answers), readiness (every dependency answers) and metrics."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is running")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: every dependency answers")
    async def readyz() -> JSONResponse:
        results = {}
        for name, check in checks.items():
            try:
                results[name] = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
            except Exception:
                results[name] = False
        ready = all(results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        await refresh_consumer_lag()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def asyncapi_router(broker: KafkaBroker, *, title: str, version: str) -> APIRouter:
    """The AsyncAPI document of the service's topics, generated from its FastStream broker."""
    router = APIRouter(tags=["operations"])
    spec = AsyncAPI(broker, title=title, version=version)

    @router.get(
        "/asyncapi.json", summary="AsyncAPI document of the events", include_in_schema=False
    )
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(spec.to_specification().to_jsonable())

    return router
