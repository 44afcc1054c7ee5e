"""Fixtures of the notifier's tests: configs, a running notifier, topic readers."""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from pymongo import AsyncMongoClient

from pantau.localstack.testing import free_port, wait_for
from pantau.notifier.config import DATABASE, Config
from pantau.notifier.inject import Overrides
from pantau.notifier.main import create_app
from pantau.shared.auth import Role, issue_token
from pantau.shared.events import ReportClassified
from pantau.shared.kafka import ensure_topics, make_broker, publish_event
from pantau.shared.mongo import database_name
from pantau.shared.regions import regency_key


def make_config(env: dict[str, str], **overrides: Any) -> Config:
    """A ``Config`` from ``env`` only (not the process environment), plus overrides."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return Config(_env_file=None, **overrides)  # type: ignore[call-arg]
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def notifier_config(pantau_env: dict[str, str], smtp_sink: Any) -> Callable[..., Config]:
    """Configs on the real servers, each with its own topics, group and database."""

    def build(**overrides: Any) -> Config:
        own = uuid4().hex[:8]
        values: dict[str, Any] = {
            "topic_prefix": f"{pantau_env['PANTAU_TOPIC_PREFIX']}{own}.",
            "consumer_group_prefix": f"{pantau_env['PANTAU_CONSUMER_GROUP_PREFIX']}{own}-",
            "mongo_db_suffix": f"{pantau_env['PANTAU_MONGO_DB_SUFFIX']}_{own}",
            "smtp_host": smtp_sink.host,
            "smtp_port": smtp_sink.port,
            "http_port": free_port(),
            "retry_backoff_seconds": 0.05,
            "notifier_retry_initial_seconds": 0.05,
            "notifier_retry_max_seconds": 0.5,
            "notifier_sweep_interval_seconds": 0.1,
            "notifier_escalation_check_seconds": 0.2,
        }
        values.update(overrides)
        return make_config(pantau_env, **values)

    return build


@dataclass
class RunningNotifier:
    config: Config
    base_url: str
    http: httpx.AsyncClient
    mongo: AsyncMongoClient[Any]
    alerts: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)

    @property
    def db(self) -> Any:
        return self.mongo[database_name(self.config, DATABASE)]

    def token(self, role: Role = Role.OPERATOR, **claims: Any) -> dict[str, str]:
        bearer = issue_token(
            secret=self.config.auth_secret.get_secret_value(),
            issuer=self.config.token_issuer,
            role=role,
            **claims,
        )
        return {"Authorization": f"Bearer {bearer}"}

    async def publish(self, event: ReportClassified) -> None:
        """Publish a classified report as the classifier does (keyed by regency)."""
        await self.publish_to(
            event, topic=self.config.topics.classified, key=regency_key(event.data.region.code)
        )

    async def publish_to(self, event: Any, *, topic: str, key: str) -> None:
        broker = make_broker(self.config, client_id="test-producer")
        await broker.start()
        try:
            await publish_event(broker, event, topic=topic, key=key)
        finally:
            await broker.stop()


@contextlib.asynccontextmanager
async def run_notifier(
    config: Config, *, overrides: Overrides | None = None
) -> AsyncIterator[RunningNotifier]:
    """The notifier app under uvicorn on a free port, plus a reader of its alerts topic."""
    await ensure_topics(config.kafka_bootstrap, config.topics.all_with_partitions())
    app = create_app(config, overrides=overrides)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=config.http_port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    consumer = AIOKafkaConsumer(
        config.topics.alerts,
        bootstrap_servers=config.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    mongo: AsyncMongoClient[Any] = AsyncMongoClient(config.mongo_url, tz_aware=True)
    running = RunningNotifier(
        config=config,
        base_url=f"http://127.0.0.1:{config.http_port}",
        http=httpx.AsyncClient(base_url=f"http://127.0.0.1:{config.http_port}", timeout=10),
        mongo=mongo,
    )

    async def read_alerts() -> None:
        async for record in consumer:
            running.alerts.append(record)

    reading = asyncio.create_task(read_alerts())
    try:
        await wait_for(lambda: _started(server, serving), timeout=30)
        yield running
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=30)
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        await consumer.stop()
        await running.http.aclose()
        await mongo.close()


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> bool:
    if serving.done():
        serving.result()  # surface the start-up error
        raise AssertionError("the notifier stopped during start-up")
    return server.started


@pytest.fixture
def notifier_runner() -> Callable[..., Any]:
    """``async with notifier_runner(config) as running: ...``"""
    return run_notifier


@dataclass
class LocalReceiver:
    """A real local HTTP server: a webhook endpoint that verifies signatures and rejects
    replays, and a stand-in for the Telegram Bot API's ``sendMessage``."""

    base_url: str
    webhook_secret: str
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    telegram: list[dict[str, Any]] = field(default_factory=list)
    apprise: list[dict[str, Any]] = field(default_factory=list)
    telegram_throttle_first: int = 0  # answer this many sendMessage calls with 429 first
    telegram_calls: int = 0


def _receiver_app(receiver: LocalReceiver) -> Any:
    import json as _json
    import time as _time

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from pantau.notifier.core.signing import verify_webhook

    seen: set[tuple[str, str]] = set()

    async def webhook(request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-pantau-timestamp", "0")
        signature = request.headers.get("x-pantau-signature", "")
        if not verify_webhook(
            secret=receiver.webhook_secret,
            timestamp=int(timestamp),
            body=body,
            signature=signature,
            now=int(_time.time()),
        ):
            receiver.rejected.append("bad signature")
            return Response(status_code=401)
        if (timestamp, signature) in seen:  # replay protection: each signature once
            receiver.rejected.append("replay")
            return Response(status_code=409)
        seen.add((timestamp, signature))
        receiver.webhooks.append({"path": request.url.path, **_json.loads(body)})
        return Response(status_code=204)

    async def send_message(request: Request) -> Response:
        receiver.telegram_calls += 1
        if receiver.telegram_calls <= receiver.telegram_throttle_first:
            return JSONResponse(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
                status_code=429,
            )
        payload = await request.json()
        receiver.telegram.append({"token": request.path_params["token"], **payload})
        return JSONResponse(
            {"ok": True, "result": {"message_id": len(receiver.telegram), "text": payload["text"]}}
        )

    async def apprise_json(request: Request) -> Response:
        receiver.apprise.append({"path": request.url.path, **(await request.json())})
        return Response(status_code=200)

    return Starlette(
        routes=[
            Route("/apprise/{name}", apprise_json, methods=["POST"]),
            Route("/hooks/{name}", webhook, methods=["POST"]),
            Route("/bot{token}/sendMessage", send_message, methods=["POST"]),
        ]
    )


@pytest.fixture
async def local_receiver() -> AsyncIterator[LocalReceiver]:
    port = free_port()
    receiver = LocalReceiver(base_url=f"http://127.0.0.1:{port}", webhook_secret=uuid4().hex)
    server = uvicorn.Server(
        uvicorn.Config(_receiver_app(receiver), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    await wait_for(lambda: _started(server, serving), timeout=15)
    yield receiver
    server.should_exit = True
    await asyncio.wait_for(serving, timeout=15)


@pytest.fixture
async def scratch_db(pantau_env: dict[str, str]) -> AsyncIterator[Any]:
    """A database of this test alone on the real store, for a store adapter on its own."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(pantau_env["PANTAU_MONGO_URL"], tz_aware=True)
    name = f"pantau_notifier{pantau_env['PANTAU_MONGO_DB_SUFFIX']}_{uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()
