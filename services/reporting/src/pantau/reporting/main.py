"""The reporting application: FastAPI query API + FastStream consumer, wired in one lifespan."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pantau.reporting.adapters.api import (
    export_router,
    identity_router,
    reports_router,
    triage_router,
)
from pantau.reporting.adapters.consumer import register_consumer
from pantau.reporting.adapters.dashboard import mount_dashboard
from pantau.reporting.adapters.listing import MemoryListing
from pantau.reporting.adapters.recent import RecentDocuments
from pantau.reporting.adapters.stats_api import operations_router, stats_router
from pantau.reporting.adapters.store import ReportStore
from pantau.reporting.config import DATABASE_BASE_NAME, SERVICE, Config
from pantau.shared.health import asyncapi_router, ops_router
from pantau.shared.http import install_problem_handlers
from pantau.shared.identity import IdentityCipher
from pantau.shared.kafka import ensure_topics, make_broker
from pantau.shared.mongo import database_name, make_mongo_client, ping
from pantau.shared.tracing import instrument_http

log = logging.getLogger(__name__)


async def _sweep_forever(store: ReportStore, interval: float) -> None:
    # No transactions: a periodic sweep forgets aggregate op ids that a crash of the
    # pending-ops path (MongoDB, or a store written before the journal) left behind.
    while True:
        await asyncio.sleep(interval)
        try:
            forgotten = await store.sweep_applied_ops()
            if forgotten:
                log.info("forgot %d applied aggregate op id(s)", forgotten)
        except Exception:
            log.exception("aggregate sweep failed; retrying next interval")


async def _wants_memory_listing(config: Config, store: ReportStore) -> bool:
    """``memory`` always; ``auto`` only on FerretDB (no usable indexes, see the README)."""
    if config.reporting_listing_index == "auto":
        return not await store.conditional_writes()
    return config.reporting_listing_index == "memory"


def create_app(config: Config) -> FastAPI:
    """The reporting service; its lifespan starts the store, topics and consumer."""
    mongo = make_mongo_client(config, maxPoolSize=config.mongo_max_pool_size)
    store = ReportStore(
        client=mongo,
        database=database_name(config, DATABASE_BASE_NAME),
        recent=RecentDocuments(max_bytes=round(config.reporting_write_cache_mb * 2**20)),
    )
    broker = make_broker(config, client_id=SERVICE)
    register_consumer(broker, config=config, store=store)
    listing = (
        None
        if config.reporting_listing_index == "store"
        else MemoryListing(store=store, batch_size=config.listing_load_batch)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.ensure_indexes()
        await ensure_topics(config.kafka_bootstrap, config.topics.all_with_partitions())
        if listing is not None and await _wants_memory_listing(config, store):
            listing.start()  # before the consumer: it sees every write from here on
        await broker.start()
        sweeper = asyncio.create_task(_sweep_forever(store, config.sweep_interval_seconds))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if listing is not None:
                await listing.stop()
            await broker.stop()
            await mongo.close()

    app = FastAPI(
        title="Pantau reporting",
        version="0.1.0",
        description="Read models of election-incident reports: query API and dashboard.",
        lifespan=lifespan,
    )
    app.state.config, app.state.store, app.state.broker = config, store, broker
    app.state.listing = listing
    install_problem_handlers(app)

    async def broker_ready() -> bool:
        return bool(await broker.ping(timeout=2.0))

    async def mongo_ready() -> bool:
        return await ping(mongo)

    app.include_router(ops_router({"kafka": broker_ready, "mongo": mongo_ready}))
    cipher = IdentityCipher(config.identity_keys.get_secret_value())
    # Fixed paths (exports) before the `/{report_id}` pattern that would shadow them.
    app.include_router(export_router(config=config, store=store))
    app.include_router(reports_router(config=config, store=store, listing=listing))
    app.include_router(triage_router(config=config, store=store, broker=broker, listing=listing))
    app.include_router(identity_router(config=config, store=store, cipher=cipher))
    app.include_router(stats_router(config=config, store=store, listing=listing))
    app.include_router(operations_router(config=config, store=store))
    mount_dashboard(app, config=config)

    app.include_router(asyncapi_router(broker, title="Pantau reporting", version="0.1.0"))

    instrument_http(app)
    return app
