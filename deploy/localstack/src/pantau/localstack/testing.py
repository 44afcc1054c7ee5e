"""pytest plugin: session-scoped real Kafka and MongoDB-wire server, isolated per run.

Where the servers come from, in order of preference:
1. ``PANTAU_KAFKA_BOOTSTRAP`` and ``PANTAU_MONGO_URL`` when both are set;
2. testcontainers (official ``apache/kafka`` and ``mongo`` images) when a Docker engine
   answers (``PANTAU_TESTS_DOCKER=0`` skips this);
3. the local launcher: its infrastructure is reused when already up and healthy (e.g.
   after ``make up``), else started, and then stopped at the end of the session only
   if this session started it.
"""

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pantau.localstack.smtp_sink import SmtpSink, start_sink

if TYPE_CHECKING:
    from pantau.localstack.config import StackConfig

T = TypeVar("T")


KAFKA_IMAGE = "apache/kafka:4.1.1"
MONGO_IMAGE = "mongo:7.0"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    mongo_url: str
    source: str = "env"  # env | testcontainers | launcher


_HANDED_OUT_PORTS: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 that this process has not handed out before: the OS
    may offer a just-closed port again, and two parts of one stack would then collide."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT_PORTS:
            _HANDED_OUT_PORTS.add(port)
            return port


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def _infra_from_env() -> Infra | None:
    kafka, mongo = os.environ.get("PANTAU_KAFKA_BOOTSTRAP"), os.environ.get("PANTAU_MONGO_URL")
    if kafka and mongo:
        return Infra(kafka_bootstrap=kafka, mongo_url=mongo)
    return None


def docker_engine_reachable() -> bool:
    """True when a Docker engine answers a ping (a docker CLI or client alone is not enough)."""
    if os.environ.get("PANTAU_TESTS_DOCKER", "1") == "0":
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, permission denied, engine down: all mean "no Docker"
        return False


def apache_kafka_env(*, host: str, port: int) -> dict[str, str]:
    """Environment of the official ``apache/kafka`` image for a single KRaft node whose
    client listener is published on ``host:port`` (same port inside and outside, so the
    advertised address is known before the container starts)."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://:{port},CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{host}:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_NUM_PARTITIONS": "1",
    }


def _wait_blocking(probe: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become healthy within {timeout:.0f} s")
        time.sleep(0.2)


@contextmanager
def _containers() -> Iterator[Infra]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.mongodb import MongoDbContainer

    from pantau.localstack.health import kafka_healthy, mongo_healthy

    host = os.environ.get("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    port = free_port()
    kafka = DockerContainer(KAFKA_IMAGE).with_bind_ports(port, port)
    for key, value in apache_kafka_env(host=host, port=port).items():
        kafka = kafka.with_env(key, value)
    with kafka, MongoDbContainer(MONGO_IMAGE) as mongo:
        found = Infra(
            kafka_bootstrap=f"{host}:{port}",
            mongo_url=mongo.get_connection_url(),
            source="testcontainers",
        )
        _wait_blocking(lambda: kafka_healthy(found.kafka_bootstrap), timeout=120, what="Kafka")
        _wait_blocking(lambda: mongo_healthy(found.mongo_url), timeout=60, what="MongoDB")
        yield found


@contextmanager
def launched_infra(config: "StackConfig | None" = None) -> Iterator[Infra]:
    """Kafka and the store from the local launcher (``config`` defaults to this checkout's
    stack): reused when healthy, else started, and stopped again on exit unless another
    test session still holds a lease on it."""
    from pantau.localstack.config import FAST_START_JVM_OPTIONS, StackConfig
    from pantau.localstack.errors import StackError
    from pantau.localstack.launcher import Launcher

    # A broker started here lives only for the session: favour start-up time.
    launcher = Launcher(config or StackConfig.default(kafka_jvm_options=FAST_START_JVM_OPTIONS))
    try:
        with launcher.locked():
            # Idempotent: parts already up and healthy (`make up`) are reused, not restarted.
            launcher.up(include_services=False)
            # Under the same lock, so a session finishing now cannot stop it under us.
            lease = launcher.take_lease()
    except StackError as exc:
        pytest.fail(f"could not start the local infrastructure:\n{exc.render()}", pytrace=False)
    started = list(launcher.started)
    try:
        yield Infra(
            kafka_bootstrap=launcher.config.kafka_bootstrap,
            mongo_url=launcher.config.mongo_url,
            source="launcher",
        )
    finally:
        with launcher.locked():
            # Stop what this session started, unless another session still uses it
            # (pytest-xdist workers, a second terminal); then the stack stays up.
            if launcher.release_lease(lease) == 0 and started:
                launcher.stop(started)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """The real Kafka broker and MongoDB-wire server of this test session."""
    found = _infra_from_env()
    if found is not None:
        yield found
        return
    source = _containers() if docker_engine_reachable() else launched_infra()
    with source as started:
        yield started


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def pantau_env(infra: Infra, run_id: str) -> Iterator[dict[str, str]]:
    """Environment for a service under test: real servers, this run's own topics,
    consumer groups and databases, and throwaway secrets. At the end of the session
    every topic and database named after this run is deleted, so repeated runs against
    a long-lived local stack do not pile up thousands of partitions in the broker."""
    from pantau.shared.identity import generate_key

    yield {
        "PANTAU_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "PANTAU_MONGO_URL": infra.mongo_url,
        "PANTAU_TOPIC_PREFIX": f"test-{run_id}.",
        "PANTAU_CONSUMER_GROUP_PREFIX": f"test-{run_id}-",
        "PANTAU_MONGO_DB_SUFFIX": f"_test_{run_id}",
        "PANTAU_AUTH_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "PANTAU_IDENTITY_KEYS": f"test:{generate_key()}",
        "PANTAU_ENV_FILE": "/nonexistent",
    }
    asyncio.run(_delete_run_artifacts(infra, run_id))


async def _delete_run_artifacts(infra: Infra, run_id: str) -> None:
    """Best effort: a failure here must not turn a green run red."""
    from aiokafka.admin import AIOKafkaAdminClient
    from pymongo import AsyncMongoClient

    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
        await admin.start()
        try:
            ours = [t for t in await admin.list_topics() if run_id in t]
            for start in range(0, len(ours), 100):
                await admin.delete_topics(ours[start : start + 100])
        finally:
            await admin.close()
    except Exception as exc:
        print(f"pantau: could not delete this run's topics: {exc!r}")
    try:
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            infra.mongo_url, serverSelectionTimeoutMS=3000
        )
        try:
            for name in await client.list_database_names():
                if run_id in name:
                    await client.drop_database(name)
        finally:
            await client.close()
    except Exception as exc:
        print(f"pantau: could not drop this run's databases: {exc!r}")


@pytest.fixture(scope="session")
def smtp_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    sink = start_sink(Path(tmp_path_factory.mktemp("mail")), port=free_port())
    yield sink
    sink.stop()
