"""The notifier's FastAPI app: its lifespan runs the Kafka consumer and the sweep."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from pantau.notifier.adapters.inbound.actions import ack_router, routes_router, silences_router
from pantau.notifier.adapters.inbound.api import alerts_router, default_auth
from pantau.notifier.adapters.inbound.consumer import (
    register_consumer,
    register_status_consumer,
)
from pantau.notifier.config import SERVICE, Config
from pantau.notifier.core.models import ReportFacts
from pantau.notifier.inject import Components, Overrides, build_components
from pantau.shared.auth import Role
from pantau.shared.events import ReportStatus, ReportStatusChanged
from pantau.shared.health import asyncapi_router, ops_router
from pantau.shared.http import bearer_auth, install_problem_handlers
from pantau.shared.kafka import ensure_topics, make_broker
from pantau.shared.mongo import make_mongo_client, ping
from pantau.shared.tracing import instrument_http

log = logging.getLogger(__name__)
# Each step of shutdown gets at most this long, so the whole stays within the 30 s an
# orchestrator usually grants between SIGTERM and SIGKILL.
SHUTDOWN_STEP_SECONDS = 10.0


class _Late:
    """Components exist only once the lifespan runs; routes reach them through this."""

    def __init__(self) -> None:
        self.components: Components | None = None

    def get(self) -> Components:
        if self.components is None:
            raise RuntimeError("the notifier is not started")
        return self.components


class _LateLedger:
    def __init__(self, late: _Late) -> None:
        self._late = late

    async def query(self, **kwargs: Any) -> list[dict[str, Any]]:
        return await self._late.get().ledger.query(**kwargs)

    async def get_doc(self, alert_id: str) -> dict[str, Any] | None:
        return await self._late.get().ledger.get_doc(alert_id)

    async def acknowledgements(self, subject_ids: list[str]) -> dict[str, dict[str, Any]]:
        return await self._late.get().escalations.acknowledgements(subject_ids)


async def _sweep_forever(components: Components) -> None:
    """Due retries, closed groups and passed deadlines, on a timer. The deadlines live
    in MongoDB, not in timers, so a restart loses none of them."""
    interval = components.config.notifier_sweep_interval_seconds
    while True:
        try:
            await components.sweep_once()
        except Exception:
            log.exception("sweep failed; trying again next round")
        await asyncio.sleep(interval)


async def _backfill(components: Components) -> None:
    """The one-off backfills, in the background: at a large ledger they take minutes,
    and readiness must not wait for them. A failure is retried at the next start."""
    try:
        await components.backfill()
    except Exception:
        log.exception("backfill failed; it runs again at the next start")


def create_app(config: Config | None = None, *, overrides: Overrides | None = None) -> FastAPI:
    """The notifier app; ``config`` defaults to the ``PANTAU_*`` environment."""
    config = config or Config()  # type: ignore[call-arg]
    overrides = overrides or Overrides()
    broker = make_broker(config, client_id=SERVICE)
    mongo = make_mongo_client(config)
    late = _Late()

    async def handle(report: ReportFacts) -> None:
        components = late.get()
        components.alerted.remember(report.report_id, report.received_at)
        await components.notifier.handle_report(report)

    async def handle_status(event: ReportStatusChanged) -> None:
        if event.data.status == ReportStatus.NEW:
            return
        components = late.get()
        await components.notifier.acknowledge_report(
            event.data.report_id, by=f"status:{event.data.changed_by}"
        )

    register_consumer(broker=broker, settings=config, service=SERVICE, handle=handle)
    register_status_consumer(broker=broker, settings=config, service=SERVICE, handle=handle_status)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        components = build_components(
            config=config, mongo=mongo, broker=broker, overrides=overrides
        )
        await components.ensure_indexes()
        await components.refresh_silences()
        await components.store_directory()
        await ensure_topics(config.kafka_bootstrap, config.topics.all_with_partitions())
        late.components = components
        app.state.components = components
        await broker.start()
        sweeper = asyncio.create_task(_sweep_forever(components), name="notifier-sweep")
        backfill = asyncio.create_task(_backfill(components), name="notifier-backfill")
        try:
            yield
        finally:
            for task in (sweeper, backfill):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, SHUTDOWN_STEP_SECONDS)
            # Bounded: a broker busy moving partition leaders can hold the consumer's
            # leave-and-commit for long. Offsets not committed are redelivered on the
            # next start, and the ledger makes a redelivery send nothing twice.
            try:
                await asyncio.wait_for(broker.stop(), SHUTDOWN_STEP_SECONDS)
            except TimeoutError:
                log.warning("Kafka did not stop within %s s; going on", SHUTDOWN_STEP_SECONDS)
            await components.close()
            await mongo.close()

    app = FastAPI(
        title="Pantau notifier",
        version="0.1.0",
        description="Routes classified reports to recipients; the delivery ledger.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)

    async def broker_ready() -> bool:
        return await broker.ping(timeout=2.0)

    async def mongo_ready() -> bool:
        return await ping(mongo)

    app.include_router(ops_router({"kafka": broker_ready, "mongo": mongo_ready}))
    auth = default_auth(
        secret=lambda: config.auth_secret.get_secret_value(), issuer=config.token_issuer
    )
    app.include_router(alerts_router(ledger=_LateLedger(late), auth=auth))
    operator_auth = bearer_auth(
        secret=lambda: config.auth_secret.get_secret_value(),
        issuer=config.token_issuer,
        roles=(Role.OPERATOR, Role.ADMIN),
    )
    app.include_router(ack_router(components=late.get, auth=auth))
    app.include_router(silences_router(components=late.get, operator_auth=operator_auth))
    app.include_router(routes_router(components=late.get, operator_auth=operator_auth))
    app.include_router(asyncapi_router(broker, title="Pantau notifier", version="0.1.0"))

    instrument_http(app)
    return app
