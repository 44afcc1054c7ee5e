"""``create_app(config)``: the intake FastAPI app, its broker and its routes, wired once."""

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from pantau.intake.adapters.api import ApiDeps, DirectRoute, reports_router
from pantau.intake.adapters.auth import cached_auth
from pantau.intake.adapters.body_limit import BodyLimitMiddleware
from pantau.intake.adapters.kafka import KafkaReportPublisher, build_broker
from pantau.intake.adapters.metrics_middleware import ReportMetricsMiddleware
from pantau.intake.adapters.ratelimit import RateLimit
from pantau.intake.adapters.sms import ReplayGuard, SmsIn, sms_router
from pantau.intake.config import Config
from pantau.intake.core.intake import Intake, ReportPublisherPort, ReportSealer
from pantau.intake.core.models import PublicReportIn, ReportBatchIn, ReportIn
from pantau.intake.core.rules import TimeWindow
from pantau.shared.auth import Role
from pantau.shared.envelope import utcnow
from pantau.shared.health import asyncapi_router, ops_router
from pantau.shared.http import ProblemDetails, bearer_auth, install_problem_handlers
from pantau.shared.identity import IdentityCipher
from pantau.shared.tracing import instrument_http

KIB = 1024
BODY_CAPS = {
    "/v1/reports": 64 * KIB,
    "/v1/reports:batch": 1024 * KIB,
    "/v1/public/reports": 16 * KIB,
    "/v1/inbound/sms": 8 * KIB,
}
CHANNELS = {
    "/v1/reports": "monitor",
    "/v1/reports:batch": "monitor",
    "/v1/public/reports": "public",
    "/v1/inbound/sms": "sms",
}


class PublisherLifecycle(ReportPublisherPort, Protocol):
    """The publisher port plus what the app's lifespan and readiness need."""

    async def start(self, *, wait: float) -> None:
        """Begin connecting; return when connected or after ``wait`` seconds."""
        ...

    async def stop(self) -> None:
        """Flush and disconnect."""
        ...

    async def ping(self) -> bool:
        """Whether the broker answers."""
        ...


def create_app(
    config: Config,
    *,
    clock: Callable[[], datetime] = utcnow,
    publisher: PublisherLifecycle | None = None,
) -> FastAPI:
    """The intake app. Its lifespan connects to Kafka (in the background if it is down).

    ``publisher`` replaces the Kafka publisher in unit tests.
    """
    broker = build_broker(config)
    publisher = publisher or KafkaReportPublisher(config=config)
    intake = Intake(
        sealer=ReportSealer(cipher=IdentityCipher(config.identity_keys.get_secret_value())),
        publisher=publisher,
        window=TimeWindow(
            max_future=timedelta(minutes=config.max_future_minutes),
            max_age=timedelta(hours=config.max_report_age_hours),
        ),
        clock=clock,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await publisher.start(wait=config.broker_startup_wait_seconds)
        try:
            yield
        finally:
            await publisher.stop()

    app = FastAPI(
        title="Pantau intake",
        version="1.0.0",
        summary="Terima laporan insiden pemilu / receive election-incident reports.",
        description=(
            "Reports from monitor apps, offline batches, the public form and an SMS "
            "gateway. A 202 means Kafka holds the report. Errors are RFC 9457 "
            "`application/problem+json` with field paths."
        ),
        lifespan=lifespan,
        # FastAPI's native telemetry stays off: ``instrument_http`` below makes the spans
        # (and with OpenTelemetry's instrumentation present it would only defer to it).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)
    monitor = cached_auth(
        bearer_auth(
            secret=lambda: config.auth_secret.get_secret_value(),
            issuer=config.token_issuer,
            roles=[Role.MONITOR],
        )
    )
    deps = ApiDeps(
        intake=intake,
        monitor=monitor,
        client_limit=RateLimit(name="client", spec=config.client_rate_limit),
        public_limit=RateLimit(name="ip_address", spec=config.public_rate_limit),
        retry_after=config.retry_after_seconds,
    )
    app.include_router(reports_router(deps))
    app.include_router(
        sms_router(
            intake=intake,
            secret=config.sms_webhook_secret,
            guard=ReplayGuard(window_seconds=config.sms_max_clock_skew_seconds),
            retry_after=config.retry_after_seconds,
        )
    )
    app.include_router(ops_router({"kafka": publisher.ping}))

    if config.bench_noop_endpoint:
        _add_noop_endpoint(app)

    app.include_router(asyncapi_router(broker, title="Pantau intake events", version="1.0.0"))

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimitMiddleware, caps=BODY_CAPS, default=64 * KIB)
    app.add_middleware(
        ReportMetricsMiddleware, channels=CHANNELS, item_counted=frozenset({"/v1/reports:batch"})
    )
    app.state.publisher = publisher
    app.state.intake = intake
    instrument_http(app, lean_when_unrecorded=True)
    return app


def _add_noop_endpoint(app: FastAPI) -> None:
    """The benchmark's baseline: same server, middleware, route class and JSON body as
    ``POST /v1/reports``, no work."""

    async def noop(request: Request) -> Response:
        await request.body()
        return Response(b'{"report_id":"noop"}', status_code=202, media_type="application/json")

    app.router.add_api_route(
        "/v1/_bench/noop",
        noop,
        methods=["POST"],
        status_code=202,
        include_in_schema=False,
        route_class_override=DirectRoute,
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the models only referenced by hand (batch body, problems)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ReportIn, PublicReportIn, ReportBatchIn, ProblemDetails, SmsIn):
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in generated.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components.setdefault(model.__name__, generated)
    app.openapi_schema = schema
    return schema
