"""The classifier's FastAPI app: metrics/health/AsyncAPI; its lifespan runs the consumer."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pantau.classifier.adapters.consumer import ClassifiedProducer, register_consumer
from pantau.classifier.config import SERVICE, Config
from pantau.classifier.core import Ruleset, load_rules
from pantau.shared.health import asyncapi_router, ops_router
from pantau.shared.kafka import ensure_topics, make_broker
from pantau.shared.tracing import instrument_http

GC_THRESHOLDS = (20_000, 50, 100)
"""Cyclic GC thresholds while the service runs (CPython's defaults: 700, 10, 10)."""


def create_app(config: Config | None = None, *, rules: Ruleset | None = None) -> FastAPI:
    """The classifier app; ``config`` defaults to the ``PANTAU_*`` environment.

    The rules load here, before anything starts: a bad rules file stops start-up with
    the file and line at fault (``RulesError``).
    """
    config = config or Config()  # type: ignore[call-arg]
    ruleset = rules or load_rules(config.classifier_rules_file)
    # The broker consumes and dead-letters; classified events go out through their own
    # producer (``adapters.consumer.ClassifiedProducer``), pipelined per batch.
    broker = make_broker(config, client_id=SERVICE)
    producer = ClassifiedProducer(config, client_id=SERVICE)
    register_consumer(
        broker=broker,
        producer=producer,
        settings=config,
        service=SERVICE,
        rules=lambda: ruleset,
        max_records=config.classifier_batch_max_records,
        batch_timeout_ms=config.classifier_batch_timeout_ms,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The compiled rules are large and live for the whole process: keep the cyclic
        # garbage collector from re-scanning them on every full collection.
        gc.freeze()
        # Each report allocates a few hundred short-lived, acyclic objects (freed by
        # reference counting) while the token caches grow: with the default thresholds
        # the collector ran ~1,000 times per 20,000 reports, rescanning those caches, for
        # about 5 % of the CPU (measured with gc.callbacks; see README).
        previous_thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        await ensure_topics(config.kafka_bootstrap, config.topics.all_with_partitions())
        await producer.start()
        try:
            await broker.start()
            try:
                yield
            finally:
                await broker.stop()  # the consumer first: its last batch still publishes
        finally:
            await producer.stop()
            gc.set_threshold(*previous_thresholds)

    app = FastAPI(
        title="Pantau classifier",
        version="0.1.0",
        description=f"Classifies submitted reports (rules {ruleset.version}).",
        lifespan=lifespan,
    )
    app.state.rules_version = ruleset.version

    async def broker_ready() -> bool:
        return await broker.ping(timeout=2.0)

    app.include_router(ops_router({"kafka": broker_ready}))
    app.include_router(asyncapi_router(broker, title="Pantau classifier", version="0.1.0"))

    instrument_http(app)
    return app
