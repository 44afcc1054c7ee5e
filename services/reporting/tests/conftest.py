"""Shared fixtures: the configuration, a running reporting server, a publisher, tokens."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from uuid import uuid4

import httpx
import pytest
import uvicorn

from pantau.localstack.testing import free_port, wait_for
from pantau.reporting.config import DATABASE_BASE_NAME, Config, get_config
from pantau.reporting.main import create_app
from pantau.shared.auth import Role, issue_token
from pantau.shared.envelope import Event
from pantau.shared.events import AlertEvent, ReportClassified, ReportStatusChanged
from pantau.shared.kafka import make_broker, publish_event
from pantau.shared.mongo import database_name, make_mongo_client
from pantau.shared.regions import regency_key


@pytest.fixture(scope="session")
def config(pantau_env: dict[str, str]) -> Config:
    """This run's configuration: real servers, own topics, groups and database."""
    env = pantau_env
    return get_config(
        kafka_bootstrap=env["PANTAU_KAFKA_BOOTSTRAP"],
        mongo_url=env["PANTAU_MONGO_URL"],
        topic_prefix=env["PANTAU_TOPIC_PREFIX"],
        consumer_group_prefix=env["PANTAU_CONSUMER_GROUP_PREFIX"],
        mongo_db_suffix=env["PANTAU_MONGO_DB_SUFFIX"],
        auth_secret=env["PANTAU_AUTH_SECRET"],
        identity_keys=env["PANTAU_IDENTITY_KEYS"],
        http_port=free_port(),
        max_attempts=2,
        retry_backoff_seconds=0.05,
        batch_timeout_ms=20,
    )


TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def token(config: Config) -> TokenFactory:
    """``token(role, region=None)`` → a bearer token signed for this run."""

    def make(role: Role, *, region: str | None = None) -> str:
        return issue_token(
            secret=config.auth_secret.get_secret_value(),
            issuer=config.token_issuer,
            role=role,
            region=region,
        )

    return make


def auth(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class RunningService:
    base_url: str
    app: object


@contextlib.asynccontextmanager
async def running_service(config: Config) -> AsyncIterator[RunningService]:
    """The reporting service served by uvicorn on ``config.http_port``, lifespan included;
    its database is dropped afterwards."""
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=config.http_port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # surface a start-up failure
        return server.started

    await wait_for(started, timeout=60)
    try:
        yield RunningService(base_url=f"http://127.0.0.1:{config.http_port}", app=app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
        cleanup = make_mongo_client(config)
        await cleanup.drop_database(database_name(config, DATABASE_BASE_NAME))
        await cleanup.close()


def isolated(config: Config, name: str) -> Config:
    """``config`` with its own topics, consumer group, database and port."""
    return config.model_copy(
        update={
            "topic_prefix": f"{config.topic_prefix}{name}.",
            "consumer_group_prefix": f"{config.consumer_group_prefix}{name}-",
            "mongo_db_suffix": f"{config.mongo_db_suffix}_{name}",
            "http_port": free_port(),
        }
    )


@pytest.fixture(scope="session")
async def service(config: Config) -> AsyncIterator[RunningService]:
    """The reporting service shared by this run's tests."""
    async with running_service(config) as running:
        yield running


@pytest.fixture(scope="session")
async def http(service: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        yield client


class Publisher:
    """Publishes events to this run's topics with the keys producers use."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self.broker = make_broker(config, client_id="reporting-test-publisher")

    async def publish(self, *events: Event) -> None:
        topics = self._config.topics
        for event in events:
            if isinstance(event, ReportClassified):
                topic, key = topics.classified, regency_key(event.data.region.code)
            elif isinstance(event, AlertEvent):
                topic, key = topics.alerts, event.data.report_ids[0]
            elif isinstance(event, ReportStatusChanged):
                topic, key = topics.status, event.subject
            else:
                topic, key = topics.submitted, event.subject
            await publish_event(self.broker, event, topic=topic, key=key)


@pytest.fixture(scope="session")
async def publisher(config: Config) -> AsyncIterator[Publisher]:
    pub = Publisher(config)
    await pub.broker.start()
    yield pub
    await pub.broker.stop()


@pytest.fixture
async def own_service(config: Config) -> AsyncIterator[tuple[RunningService, Publisher]]:
    """A reporting service with its own topics and database, for tests whose assertions
    depend on seeing only their own events (e.g. the dashboard's chart scales)."""
    own = isolated(config, uuid4().hex[:6])
    async with running_service(own) as running:
        pub = Publisher(own)
        await pub.broker.start()
        try:
            yield running, pub
        finally:
            await pub.broker.stop()


@pytest.fixture
def own_config(config: Config) -> Config:
    """A configuration with its own topics, consumer group, database and port."""
    return isolated(config, uuid4().hex[:6])


@pytest.fixture(scope="session")
def start_service() -> Callable[[Config], contextlib.AbstractAsyncContextManager[RunningService]]:
    """``running_service`` for tests that start (and restart) services themselves."""
    return running_service
